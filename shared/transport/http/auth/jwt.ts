// OAuth access tokens (JWT) from an external authorization server, verified with jose: signature
// against the issuer's JWKS (a URL or a file), issuer, audience = the instance's URL (RFC 8707),
// expiry, and the subject naming the client. `alg: none` and unlisted algorithms never verify.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { ClientDef } from '../../../manifest/clients.js';

export interface JwtClient {
  client: string;
  jwt: NonNullable<ClientDef['jwt']>;
  revoked: boolean;
  keys: JWTVerifyGetKey;
}

export type JwtVerdict = { ok: true; client: JwtClient } | { ok: false; why: string; client?: string };

export const looksLikeJwt = (token: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);

export function jwtClient(
  client: string,
  jwt: NonNullable<ClientDef['jwt']>,
  revoked: boolean,
  base: string,
): JwtClient {
  const keys = /^https?:\/\//.test(jwt.jwks)
    ? createRemoteJWKSet(new URL(jwt.jwks), { timeoutDuration: 5000, cooldownDuration: 30_000 })
    : createLocalJWKSet(JSON.parse(readFileSync(jwt.jwks.startsWith('/') ? jwt.jwks : `${base}/${jwt.jwks}`, 'utf8')));
  return { client, jwt, revoked, keys };
}

export async function verifyJwt(token: string, clients: JwtClient[], audience: string): Promise<JwtVerdict> {
  let claims: { iss?: string; sub?: string; client_id?: unknown };
  try {
    claims = decodeJwt(token);
  } catch {
    return { ok: false, why: 'the token is not a well-formed JWT' };
  }
  const who = typeof claims.client_id === 'string' ? claims.client_id : claims.sub;
  const c = clients.find((x) => x.jwt.issuer === claims.iss && x.jwt.subject === who);
  if (!c)
    return {
      ok: false,
      why: `no client in clients.yaml is issuer ${JSON.stringify(claims.iss ?? null)} with subject ${JSON.stringify(who ?? null)}`,
    };
  try {
    await jwtVerify(token, c.keys, {
      issuer: c.jwt.issuer,
      audience,
      algorithms: c.jwt.algorithms,
      requiredClaims: ['exp'],
      clockTolerance: 5,
    });
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { ok: false, client: c.client, why: `${err.code ?? 'ERR_JWT_INVALID'}: ${err.message}` };
  }
  return { ok: true, client: c };
}
