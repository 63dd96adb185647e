// `fleet serve --http` end to end: the real CLI with sandbox upstreams, the SDK's own Streamable
// HTTP client as two different clients, and every way a request is refused before a tool runs —
// each refusal on the instance's audit trail.
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { tokenHash, mintToken } from '../../shared/transport/http/auth/bearer.js';
import { auditRecords, text } from '../helpers.js';
import { connect, httpScopes, mintedToken, serveHttp, type HttpServed } from '../http-helpers.js';

const ISSUER = 'https://auth.test.example/';
const tokens = { staging: mintToken(), revoked: mintToken(), other: mintToken(), flood: mintToken() };
let publishToken: string;
let key: CryptoKey;
let strangerKey: CryptoKey;
let s: HttpServed;
let sb: SlackSandbox;
let scopes: string;

const clientsYaml = (jwks: string) => `clients:
  publish:
    owner: content-platform <content@example.com>
    purpose: The bot's publish step posts drafts in the editorial channel.
    instances: [slack.prod]
    token: env:UNUSED_UNTIL_MINTED
  moderation:
    owner: content-platform <content@example.com>
    purpose: The bot's moderation workflow, with tokens from the authorization server.
    instances: [slack.prod]
    jwt: { issuer: '${ISSUER}', jwks: ${jwks}, subject: moderation, algorithms: [ES256] }
  staging:
    owner: content-platform <content@example.com>
    purpose: The staging bot, against the dev instance.
    instances: [slack.dev]
    token: sha256:${tokenHash(tokens.staging)}
  old-staging:
    owner: content-platform <content@example.com>
    purpose: The staging bot's former credential, revoked.
    instances: [slack.dev]
    token: sha256:${tokenHash(tokens.revoked)}
    revoked: 2026-11-30 rotated
  workers-dev:
    owner: platform <platform@example.com>
    purpose: Deploys preview workers; listed for Cloudflare only.
    instances: [cloudflare.dev]
    token: sha256:${tokenHash(tokens.other)}
  flood:
    owner: platform <platform@example.com>
    purpose: A routine with a tight request rate.
    instances: [slack.dev]
    token: sha256:${tokenHash(tokens.flood)}
    rate: 4/minute
`;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  strangerKey = (await generateKeyPair('ES256')).privateKey;
  scopes = httpScopes('');
  writeFileSync(
    join(scopes, 'jwks.json'),
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }),
  );
  writeFileSync(join(scopes, 'clients.yaml'), clientsYaml('jwks.json'));
  publishToken = await mintedToken(scopes, 'publish');
  sb = await startSlackSandbox();
  s = await serveHttp(
    [
      '--instance',
      'slack.dev',
      '--instance',
      'slack.prod',
      '--upstream',
      sb.url,
      '--scopes',
      scopes,
      '--max-body',
      '65536',
    ],
    {
      vars: {
        SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES),
        SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', PROD_SCOPES),
      },
    },
  );
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
  await sb.close();
  expect(s.stderr()).not.toMatch(/\[stdout!\]/);
  for (const t of [publishToken, ...Object.values(tokens)])
    expect(auditOf('slack.dev') + auditOf('slack.prod')).not.toContain(t);
});

const auditOf = (id: string) => JSON.stringify(auditRecords(join(s.auditDir, `${id}.jsonl`)));
const lastDenial = (id: string) =>
  auditRecords(join(s.auditDir, `${id}.jsonl`))
    .filter((r) => r.decision === 'deny')
    .at(-1);
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const listTools = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
/** slack.prod proves the actor by the Slack message that asked: the editor asks, the call names it */
const prodMeta = () => ({
  'fleet/actor': 'U0EDITOR1',
  'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0EDITOR1', 'please post the draft'),
  'fleet/reason': 'test',
});

describe('two clients over the SDK Streamable HTTP client', () => {
  it('serves each client its instance, with the client named in every audit record', async () => {
    const dev = await connect(`${s.url}/mcp/slack/dev`, tokens.staging);
    const prod = await connect(`${s.url}/mcp/slack/prod`, publishToken);
    expect((await dev.listTools()).tools.map((t) => t.name)).toContain('search_messages');
    expect((await prod.listTools()).tools.map((t) => t.name)).not.toContain('search_messages');
    const r1 = await dev.callTool({
      name: 'list_channels',
      arguments: {},
      _meta: { 'fleet/actor': 'dev@example.com' },
    });
    expect(r1.isError).toBeFalsy();
    const r2 = await prod.callTool({
      name: 'post_message',
      arguments: { channel: 'C0EDITORIAL', text: 'over http' },
      _meta: { ...prodMeta(), 'fleet/idempotency-key': 'http-1' },
    });
    expect(r2.isError, text(r2 as never)).toBeFalsy();
    expect(r2.structuredContent).toMatchObject({ status: 'completed' });
    const devRecs = auditRecords(join(s.auditDir, 'slack.dev.jsonl')).filter((r) => r.tool === 'list_channels');
    const prodRecs = auditRecords(join(s.auditDir, 'slack.prod.jsonl')).filter((r) => r.tool === 'post_message');
    expect(devRecs.map((r) => r.phase)).toEqual(['intent', 'outcome']);
    expect(devRecs.every((r) => r.client_id === 'staging' && r.client_via === 'http-bearer')).toBe(true);
    expect(prodRecs.every((r) => r.client_id === 'publish' && r.client_via === 'http-bearer')).toBe(true);
    // the same denials as over stdio
    const denied = await prod.callTool({
      name: 'post_message',
      arguments: { channel: 'C0RANDOM9', text: 'x' },
      _meta: prodMeta(),
    });
    expect(denied.isError).toBe(true);
    expect(text(denied as never)).toMatch(
      /denied: channel C0RANDOM9 is not in post_message\.channels of slack\.prod \(.*slack\.prod\.yaml:\d+\)/,
    );
    await dev.close();
    await prod.close();
  });

  it('answers health without a credential and without an upstream', async () => {
    const r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(200);
    // how many, never which: health answers anyone
    expect(await r.json()).toMatchObject({ ok: true, instances: 2 });
  });
});

describe('credentials: 401 with the challenge, 403 for another instance, each audited', () => {
  it.each([
    ['no credential', undefined, 401, /no credential/],
    ['a wrong token', 'fleet_wrongwrongwrongwrongwrongwrongwrongwrongwro', 401, /unknown bearer token/],
    ['a revoked token', tokens.revoked, 401, /client old-staging is revoked/],
    ['a valid token for another instance', tokens.other, 403, /client workers-dev is not listed for slack\.dev/],
  ])('%s', async (_what, token, status, why) => {
    await expect(connect(`${s.url}/mcp/slack/dev`, token)).rejects.toThrow();
    const r = await post('/mcp/slack/dev', listTools, token ? { authorization: `Bearer ${token}` } : {});
    expect(r.status).toBe(status);
    expect(JSON.stringify(await r.json())).toMatch(why);
    const challenge = r.headers.get('www-authenticate')!;
    expect(challenge).toContain(`resource_metadata="${s.url}/.well-known/oauth-protected-resource/mcp/slack/dev"`);
    if (token && status === 401) expect(challenge).toContain('error="invalid_token"');
    if (status === 403) expect(challenge).toContain('error="insufficient_scope"');
    const rec = lastDenial('slack.dev')!;
    expect(rec).toMatchObject({ rule: 'client', http: { status } });
    expect(rec.message).toMatch(why);
    if (token === tokens.revoked) expect(rec).toMatchObject({ client_id: 'old-staging', client_via: 'http-bearer' });
    if (token === tokens.other) expect(rec).toMatchObject({ client_id: 'workers-dev', client_via: 'http-bearer' });
  });

  it('serves RFC 9728 metadata naming the resource and its authorization servers', async () => {
    const r = await fetch(`${s.url}/.well-known/oauth-protected-resource/mcp/slack/prod`);
    expect(await r.json()).toMatchObject({
      resource: `${s.url}/mcp/slack/prod`,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
    });
  });
});

describe('JWT access tokens from an authorization server', () => {
  const aud = () => `${s.url}/mcp/slack/prod`;
  const jwt = (
    o: { key?: CryptoKey; kid?: string; iss?: string; aud?: string; exp?: number | string; sub?: string } = {},
  ) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'k1' })
      .setIssuer(o.iss ?? ISSUER)
      .setAudience(o.aud ?? aud())
      .setSubject(o.sub ?? 'moderation')
      .setIssuedAt()
      .setExpirationTime(o.exp ?? '5m')
      .sign(o.key ?? key);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  it('admits a valid token, as its client', async () => {
    const c = await connect(aud(), await jwt());
    const r = await c.callTool({ name: 'read_history', arguments: { channel: 'C0EDITORIAL' }, _meta: prodMeta() });
    expect(r.isError, text(r as never)).toBeFalsy();
    const rec = auditRecords(join(s.auditDir, 'slack.prod.jsonl'))
      .filter((x) => x.tool === 'read_history')
      .at(-1)!;
    expect(rec).toMatchObject({ client_id: 'moderation', client_via: 'http-jwt' });
    await c.close();
  });

  it.each([
    ['expired', () => jwt({ exp: Math.floor(Date.now() / 1000) - 120 }), /ERR_JWT_EXPIRED/],
    ['for another audience', () => jwt({ aud: `${s.url}/mcp/slack/dev` }), /ERR_JWT_CLAIM_VALIDATION_FAILED.*aud/],
    [
      'from another issuer',
      () => jwt({ iss: 'https://evil.example/' }),
      /no client in clients.yaml is issuer "https:\/\/evil\.example\/"/,
    ],
    ['signed by an unknown key', () => jwt({ key: strangerKey }), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
    ['signed by an unknown key id', () => jwt({ key: strangerKey, kid: 'k9' }), /ERR_JWKS_NO_MATCHING_KEY/],
    [
      'with alg none',
      async () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISSUER, sub: 'moderation', aud: aud(), exp: Math.floor(Date.now() / 1000) + 300 })}.`,
      /ERR_JOSE_ALG_NOT_ALLOWED|ERR_JWS_INVALID/,
    ],
  ])('refuses a token %s with 401, audited', async (_what, make, why) => {
    const r = await post('/mcp/slack/prod', listTools, { authorization: `Bearer ${await make()}` });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const rec = lastDenial('slack.prod')!;
    expect(rec).toMatchObject({ rule: 'client', http: { status: 401 } });
    expect(rec.message).toMatch(why);
  });
});

describe('hostile requests', () => {
  it('refuses an oversized body with 413, audited, and keeps serving', async () => {
    const r = await post(
      '/mcp/slack/dev',
      { ...listTools, params: { pad: 'x'.repeat(100_000) } },
      { authorization: `Bearer ${tokens.staging}` },
    );
    expect(r.status).toBe(413);
    expect(lastDenial('slack.dev')).toMatchObject({ rule: 'body', client_id: 'staging', http: { status: 413 } });
    expect((await post('/mcp/slack/dev', listTools, { authorization: `Bearer ${tokens.staging}` })).status).toBe(200);
  });

  it('refuses a hostile Origin and a foreign Host (DNS rebinding), audited', async () => {
    const r = await post('/mcp/slack/dev', listTools, {
      authorization: `Bearer ${tokens.staging}`,
      origin: 'https://evil.example',
    });
    expect(r.status).toBe(403);
    expect(lastDenial('slack.dev')).toMatchObject({ rule: 'origin', http: { status: 403 } });
    const { port } = new URL(s.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp/slack/dev',
          method: 'POST',
          headers: {
            host: `rebound.evil.example:${port}`,
            'content-type': 'application/json',
            authorization: `Bearer ${tokens.staging}`,
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(listTools));
    });
    expect(status).toBe(403);
  });

  it('refuses a flood beyond the client rate with 429 and Retry-After, without slowing others', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await post('/mcp/slack/dev', listTools, { authorization: `Bearer ${tokens.flood}` })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    const r = await post('/mcp/slack/dev', listTools, { authorization: `Bearer ${tokens.flood}` });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(lastDenial('slack.dev')).toMatchObject({ rule: 'client.rate', client_id: 'flood', http: { status: 429 } });
    expect((await post('/mcp/slack/dev', listTools, { authorization: `Bearer ${tokens.staging}` })).status).toBe(200);
  });

  it('answers GET and DELETE with 405 (stateless) and unknown paths with 404', async () => {
    expect(
      (await fetch(`${s.url}/mcp/slack/dev`, { headers: { authorization: `Bearer ${tokens.staging}` } })).status,
    ).toBe(405);
    expect((await fetch(`${s.url}/mcp/slack/nope`)).status).toBe(404);
  });
});
