// Actor proof by a signed token (attribution proof: oidc), through the real CLI over stdio: a local
// issuer with its own keys (jose) signs short-lived tokens; the instance trusts its JWKS file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRecords, serve, SCOPES, tempDir, text, type Served } from '../helpers.js';

const ISSUER = 'https://id.fleet.test';
let trusted: CryptoKey;
let stranger: CryptoKey;
let s: Served;

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function token(
  o: {
    key?: CryptoKey;
    kid?: string;
    iss?: string;
    aud?: string;
    sub?: string;
    email?: string;
    iat?: number;
    exp?: number;
  } = {},
): Promise<string> {
  const iat = o.iat ?? now() - 5;
  const jwt = new SignJWT({ ...(o.email !== undefined ? { email: o.email } : {}) })
    .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'fleet-test-1' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? 'slack.dev')
    .setSubject(o.sub ?? 'user-123')
    .setIssuedAt(iat)
    .setExpirationTime(o.exp ?? iat + 300);
  return jwt.sign(o.key ?? trusted);
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  trusted = pair.privateKey;
  stranger = (await generateKeyPair('ES256')).privateKey;
  const dir = tempDir('fleet-oidc-');
  writeFileSync(
    join(dir, 'jwks.json'),
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'fleet-test-1', alg: 'ES256', use: 'sig' }] }),
  );
  for (const f of ['slack.dev.yaml', 'slack.prod.yaml', 'fleet.yaml']) {
    let t = readFileSync(join(SCOPES, f), 'utf8');
    if (f === 'slack.dev.yaml')
      t = t.replace(
        'attribution: optional',
        `attribution: { required: true, proof: oidc, issuer: ${ISSUER}, jwks: file:jwks.json, max_age: 10m }`,
      );
    writeFileSync(join(dir, f), t);
  }
  s = await serve({ connector: 'slack', env: 'dev', sandbox: true, scopes: dir });
});
afterAll(() => s.close());

const read = (meta: Record<string, unknown>) => s.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 }, meta);

describe('actor proof: oidc', () => {
  it('admits a valid token; the actor is its e-mail, canonical; the audit keeps the proof, never the token', async () => {
    const t = await token({ email: 'Alice@Example.com' });
    const r = await read({ 'fleet/actor-token': t });
    expect(r.isError, text(r)).toBeFalsy();
    const rec = auditRecords(s.auditFile)
      .filter((x) => x.phase === 'intent')
      .at(-1)!;
    expect(rec).toMatchObject({
      actor: 'alice@example.com',
      actor_via: 'token',
      actor_proof: { kind: 'oidc', verified: true, issuer: ISSUER, subject: 'user-123', audience: 'slack.dev' },
    });
    expect(readFileSync(s.auditFile, 'utf8')).not.toContain(t);
  });

  it('accepts a matching fleet/actor and refuses a different one', async () => {
    const t = await token({ email: 'alice@example.com' });
    expect((await read({ 'fleet/actor-token': t, 'fleet/actor': 'ALICE@example.com' })).isError).toBeFalsy();
    const r = await read({ 'fleet/actor-token': t, 'fleet/actor': 'bob@example.com' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('is not the actor the token proves');
  });

  it.each([
    ['expired', () => token({ email: 'a@example.com', iat: now() - 600, exp: now() - 300 }), /has expired/],
    ['for another audience', () => token({ email: 'a@example.com', aud: 'slack.prod' }), /"aud" claim/],
    ['from another issuer', () => token({ email: 'a@example.com', iss: 'https://evil.example' }), /"iss" claim/],
    [
      'signed by an unknown key',
      () => token({ email: 'a@example.com', key: stranger, kid: 'other' }),
      /key the issuer does not publish/,
    ],
    [
      'signed by an unknown key under a known kid',
      () => token({ email: 'a@example.com', key: stranger }),
      /signature does not verify/,
    ],
    [
      'unsigned (alg: none)',
      async () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISSUER, aud: 'slack.dev', sub: 'a@example.com', iat: now(), exp: now() + 60 })}.`,
      /not (a valid|signed with an accepted)/,
    ],
    [
      'too long-lived',
      () => token({ email: 'a@example.com', iat: now() - 5, exp: now() + 86_400 }),
      /lives \d+s, longer than 10m/,
    ],
    ['naming a look-alike', () => token({ email: 'a\u200b@example.com' }), /names no usable actor/],
  ])('refuses a token %s', async (_what, make, why) => {
    const r = await read({ 'fleet/actor-token': await make() });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^denied: (the actor token|the actor token is not valid)/);
    expect(text(r)).toMatch(why);
    expect(auditRecords(s.auditFile).at(-1)).toMatchObject({
      decision: 'deny',
      rule: 'attribution.proof',
      actor_proof: { kind: 'oidc', verified: false },
    });
  });

  it('refuses an actor without a token, and a call with neither', async () => {
    const r = await read({ 'fleet/actor': 'alice@example.com' });
    expect(text(r)).toMatch(/the actor alice@example\.com is not proven .*pass _meta "fleet\/actor-token"/);
    expect(text(await read({}))).toMatch(/requires attribution/);
  });
});

describe('the client principal', () => {
  const dir = () => {
    const d = tempDir('fleet-clients-');
    for (const f of ['slack.dev.yaml', 'slack.prod.yaml', 'fleet.yaml']) {
      let t = readFileSync(join(SCOPES, f), 'utf8');
      if (f === 'slack.dev.yaml')
        t = t.replace('attribution: optional', 'attribution: optional\nclients: [blogbot-publish]');
      writeFileSync(join(d, f), t);
    }
    return d;
  };

  it('is FLEET_CLIENT over stdio, on every record; an instance serves only the clients it lists', async () => {
    const scopes = dir();
    const ok = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      scopes,
      vars: { FLEET_CLIENT: 'blogbot-publish' },
    });
    expect((await ok.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 })).isError).toBeFalsy();
    expect(auditRecords(ok.auditFile).at(-1)).toMatchObject({
      client_id: 'blogbot-publish',
      client_via: 'stdio-env',
      client: { name: 'fleet-test' },
    });
    await ok.close();
    const other = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      scopes,
      vars: { FLEET_CLIENT: 'blogbot-moderate' },
    });
    const r = await other.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(
      /^denied: client blogbot-moderate may not call slack\.dev \(.*slack\.dev\.yaml:\d+\); it serves blogbot-publish/,
    );
    expect(auditRecords(other.auditFile).at(-1)).toMatchObject({
      decision: 'deny',
      rule: 'clients',
      client_id: 'blogbot-moderate',
    });
    await other.close();
  });

  it('a malformed FLEET_CLIENT stops the server at start', async () => {
    const { runCli } = await import('../helpers.js');
    const r = await runCli(['serve', 'slack', '--env', 'dev', '--sandbox'], {
      env: { FLEET_CLIENT: 'blogbot\u200b-publish', FLEET_AUDIT_DIR: tempDir() },
      keepStdin: true,
      timeoutMs: 15_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FLEET_CLIENT carries the invisible or bidi character U\+200B/);
  });
});
