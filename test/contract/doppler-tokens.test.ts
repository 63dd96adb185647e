// Doppler service tokens in the sandbox: created by a broker (a service account that may manage
// tokens) through the real @dopplerhq/node-sdk, scoped to one config, read or read/write, with an
// expiry; listed; revoked. Bodies are checked against Doppler's own OpenAPI document, trimmed into
// test/fixtures/specs/doppler-tokens.json.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { DopplerSDK } from '@dopplerhq/node-sdk';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';

const SPEC = JSON.parse(readFileSync(new URL('../fixtures/specs/doppler-tokens.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(SPEC, 'dp');

let sb: DopplerSandbox;
let broker: string;

async function call(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, sb.url), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.headers.get('content-type')).toContain('application/json');
  return { status: res.status, json: await res.json() };
}

/** A 200 answer, checked against the documented one. */
async function conforms(method: string, path: string, token: string, body?: unknown): Promise<any> {
  const r = await call(method, path, token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const pathname = new URL(path, sb.url).pathname;
  const v = ajv.getSchema(
    `dp#/paths/${pathname.replace(/\//g, '~1')}/${method.toLowerCase()}/responses/200/content/application~1json/schema`,
  );
  expect(v).toBeDefined();
  expect(v!(r.json), JSON.stringify(v!.errors?.slice(0, 3))).toBe(true);
  return r.json;
}

const sdk = (t: string) => {
  const s = new DopplerSDK({ accessToken: t });
  s.setBaseUrl(sb.url);
  return s;
};

beforeAll(async () => {
  sb = await startDopplerSandbox();
  broker = sb.issueBroker('blogbot');
});
afterAll(() => sb.close());

describe('service tokens', () => {
  it('creates a read token for one config with an expiry; it reads that config and nothing else', async () => {
    const expire = Math.floor(Date.now() / 1000) + 600;
    const made = await sdk(broker).serviceTokens.create({
      project: 'blogbot',
      config: 'prd',
      name: 'fleet doppler.prod test',
      expire_at: String(expire),
      access: 'read',
    });
    const t = (made as unknown as { token: { key: string; slug: string; access: string; expires_at: string } }).token;
    expect(t.access).toBe('read');
    expect(Date.parse(t.expires_at)).toBe(expire * 1000);
    expect((await sdk(t.key).secrets.names('blogbot', 'prd')).names).toContain('DATABASE_URL');
    await expect(sdk(t.key).secrets.names('blogbot', 'stg')).rejects.toMatchObject({ statusCode: 403 });
    await expect(
      sdk(t.key).secrets.update({ project: 'blogbot', config: 'prd', secrets: { X: '1' } } as never),
    ).rejects.toMatchObject({ statusCode: 403 });
    // a service token cannot make more tokens
    expect(
      (await call('POST', '/v3/configs/config/tokens', t.key, { project: 'blogbot', config: 'prd', name: 'x' })).status,
    ).toBe(403);
    const listed = await conforms('GET', '/v3/configs/config/tokens?project=blogbot&config=prd', broker);
    expect(listed.tokens.map((x: { slug: string }) => x.slug)).toContain(t.slug);
    expect(JSON.stringify(listed)).not.toContain(t.key);
    // revoked by slug (a DELETE with a JSON body and its length): gone at once
    expect(
      await conforms('DELETE', '/v3/configs/config/tokens/token', broker, {
        project: 'blogbot',
        config: 'prd',
        slug: t.slug,
      }),
    ).toEqual({ success: true });
    expect((await call('GET', '/v3/me', t.key)).status).toBe(401);
    expect(
      (
        await call('DELETE', '/v3/configs/config/tokens/token', broker, {
          project: 'blogbot',
          config: 'prd',
          slug: t.slug,
        })
      ).status,
    ).toBe(404);
  });

  it('answers create as documented; read/write tokens write; an expired token stops working', async () => {
    const body = {
      project: 'blogbot',
      config: 'dev',
      name: 'fleet doppler.dev rw',
      access: 'read/write',
      expire_at: String(Math.floor(Date.now() / 1000) + 2),
    };
    const made = await conforms('POST', '/v3/configs/config/tokens', broker, body);
    const key = made.token.key as string;
    await sdk(key).secrets.update({ project: 'blogbot', config: 'dev', secrets: { AGENT_NOTE: 'hi' } } as never);
    expect(sb.secretsOf('blogbot', 'dev').get('AGENT_NOTE')).toBe('hi');
    await expect
      .poll(async () => (await call('GET', '/v3/me', key)).status, { timeout: 10_000, interval: 200 })
      .toBe(401);
  });

  it('refuses what Doppler refuses', async () => {
    const bad: [unknown, number, RegExp][] = [
      [{ project: 'blogbot', config: 'prd', name: 'x', access: 'admin' }, 400, /read, read\/write/],
      [{ project: 'blogbot', config: 'prd', name: 'x', expire_at: '1000' }, 400, /future/],
      [{ project: 'blogbot', config: 'nope', name: 'x' }, 404, /config/],
      [{ project: 'other', config: 'prd', name: 'x' }, 404, /project/],
      [{ project: 'blogbot', config: 'prd' }, 400, /Name/],
    ];
    for (const [body, status, msg] of bad) {
      const r = await call('POST', '/v3/configs/config/tokens', broker, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.messages.join(' ')).toMatch(msg);
    }
    const reader = sb.issueAccount('blogbot', false);
    expect(
      (await call('POST', '/v3/configs/config/tokens', reader, { project: 'blogbot', config: 'prd', name: 'x' }))
        .status,
    ).toBe(403);
  });
});
