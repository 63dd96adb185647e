// Proving the actor, as the manifest's `attribution:` asks, before anything else reaches the
// upstream. What each kind proves:
//   asserted       nothing: the client's word (dev); identifier hygiene still applies
//   oidc           fleet/actor-token is a short-lived JWT from the trusted issuer for this instance;
//                  the actor is its e-mail (or sub)
//   (others)       a connector's ActorProverKind (shared/connector/extensions.ts), opened for the
//                  instance by the composition root and handed in as `prover`
// A refusal tells the client that the proof failed and what a valid one looks like; the precise
// failure (whose message it was, ...) goes to the audit record only, so a refused call learns
// nothing about upstream data.
import { dirname, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Manifest } from '../base/manifest.js';
import { attributionRule } from '../manifest/attribution.js';
import type { OidcBlock } from '../base/manifest.js';
import { parseDuration } from '../base/duration.js';
import { META } from '../base/wire.js';
import type { ActorProver, Proven } from '../connector/extensions.js';
import type { ActorProof, Attribution } from './attribution.js';
import { actor as parseActor, BadIdentifier } from '../base/identity.js';

export type { Proven } from '../connector/extensions.js';

export interface ProofContext {
  manifest: Manifest;
  /** where the rule lives, for messages */
  line: string;
  /** the prover of the manifest's proof, when a connector contributes it */
  prover?: ActorProver;
  now?: number;
}

export async function checkActorProof(who: Attribution, ctx: ProofContext): Promise<Proven> {
  const rule = attributionRule(ctx.manifest.attribution);
  if (rule.proof === 'oidc') return proveToken(who, rule as OidcBlock, ctx);
  if (who.token)
    return fail(
      'asserted',
      'token-not-trusted',
      `denied: ${ctx.manifest.id} does not accept "${META.actorToken}" (${ctx.line}); it proves actors by ${rule.proof}`,
    );
  if (!who.actor) return { ok: true, proof: { kind: 'none', verified: false } };
  if (rule.proof === 'asserted') return { ok: true, proof: { kind: 'asserted', verified: false } };
  if (!ctx.prover)
    return fail(
      rule.proof,
      'no-prover',
      `refused: ${ctx.manifest.id} has no prover for ${rule.proof} (${ctx.line})`,
      {},
      'failed',
    );
  return ctx.prover.prove(
    {
      actor: who.actor,
      ...(who.actorKind ? { actorKind: who.actorKind } : {}),
      ...(who.thread ? { thread: who.thread } : {}),
    },
    rule,
    ctx.line,
    ctx.now,
  );
}

function fail(
  kind: ActorProof['kind'],
  failure: string,
  message: string,
  detail: Record<string, unknown> = {},
  status?: 'denied' | 'failed',
): Proven {
  return { ok: false, proof: { kind, verified: false, failure, ...detail }, message, status };
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
type KeySet = Parameters<typeof import('jose').jwtVerify>[1] & ((...a: any[]) => any);
const keySets = new WeakMap<Manifest, KeySet>();

async function keysFor(manifest: Manifest, jwks: string): Promise<{ jose: typeof import('jose'); keys: KeySet }> {
  const jose = await import('jose');
  let keys: KeySet | undefined = keySets.get(manifest);
  if (!keys) {
    if (jwks.startsWith('file:')) {
      const file = resolve(dirname(manifest.file), jwks.slice(5));
      keys = jose.createLocalJWKSet(JSON.parse(readFileSync(file, 'utf8')));
    } else {
      keys = jose.createRemoteJWKSet(new URL(jwks), { timeoutDuration: manifest.timeoutMs });
    }
    keySets.set(manifest, keys);
  }
  return { jose, keys };
}

const JOSE_WHY: Record<string, string> = {
  ERR_JWT_EXPIRED: 'the token has expired',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'a claim is not what this instance trusts',
  ERR_JWKS_NO_MATCHING_KEY: 'the token is signed by a key the issuer does not publish',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'the token names no single key of the issuer',
  ERR_JOSE_ALG_NOT_ALLOWED: 'the token is not signed with an accepted algorithm',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'the signature does not verify',
  ERR_JWS_INVALID: 'the token is not a valid signed JWT',
  ERR_JWT_INVALID: 'the token is not a valid JWT',
  ERR_JOSE_NOT_SUPPORTED: 'the token uses an unsupported algorithm or key',
};

async function proveToken(who: Attribution, rule: OidcBlock, ctx: ProofContext): Promise<Proven> {
  const { manifest } = ctx;
  const audience = rule.audience ?? manifest.id;
  const how = `pass _meta "${META.actorToken}": a JWT from ${rule.issuer} for audience ${audience}, living at most ${rule.max_age}`;
  if (!who.token) {
    if (!who.actor) return { ok: true, proof: { kind: 'none', verified: false } };
    return fail('oidc', 'no-token', `denied: the actor ${who.actor} is not proven (${ctx.line}): ${how}`);
  }
  const maxAge = Math.round((parseDuration(rule.max_age) ?? 900_000) / 1000);
  let payload: Record<string, unknown>;
  let kid: string | undefined;
  try {
    const { jose, keys } = await keysFor(manifest, rule.jwks);
    const r = await jose.jwtVerify(who.token, keys, {
      issuer: rule.issuer,
      audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'iat', 'sub'],
      maxTokenAge: maxAge,
      clockTolerance: 30,
      currentDate: ctx.now ? new Date(ctx.now) : undefined,
    });
    payload = r.payload as Record<string, unknown>;
    kid = r.protectedHeader.kid;
  } catch (e) {
    const err = e as { code?: string; claim?: string; message?: string };
    const why =
      err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && err.claim
        ? `its "${err.claim}" claim is not what this instance trusts`
        : (JOSE_WHY[err.code ?? ''] ?? 'the token could not be verified');
    return fail('oidc', err.code ?? 'invalid', `denied: the actor token is not valid (${ctx.line}): ${why}; ${how}`, {
      issuer: rule.issuer,
      ...(err.claim ? { claim: err.claim } : {}),
    });
  }
  const exp = Number(payload.exp);
  const iat = Number(payload.iat);
  if (exp - iat > maxAge)
    return fail(
      'oidc',
      'too-long-lived',
      `denied: the actor token lives ${exp - iat}s, longer than ${rule.max_age} (${ctx.line}); ${how}`,
      { issuer: rule.issuer },
    );
  let proven: { id: string; kind: string };
  try {
    const claim = typeof payload.email === 'string' && payload.email_verified !== false ? payload.email : payload.sub;
    proven = parseActor(claim, 'the token subject');
  } catch (e) {
    const why = e instanceof BadIdentifier ? e.message : String(e);
    return fail('oidc', 'bad-subject', `denied: the actor token names no usable actor (${ctx.line}): ${why}`, {
      issuer: rule.issuer,
    });
  }
  const detail = {
    issuer: rule.issuer,
    subject: String(payload.sub),
    audience,
    key: kid,
    expires: new Date(exp * 1000).toISOString(),
    checked_at: new Date(ctx.now ?? Date.now()).toISOString(),
  };
  if (who.actor && who.actor !== proven.id) {
    return fail(
      'oidc',
      'actor-mismatch',
      `denied: _meta "${META.actor}" ${who.actor} is not the actor the token proves (${ctx.line}); drop it or pass the token's own`,
      detail,
    );
  }
  who.actor = proven.id;
  who.actorKind = proven.kind;
  who.via = 'token';
  return { ok: true, proof: { kind: 'oidc', verified: true, ...detail } };
}
