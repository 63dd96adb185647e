// The real @dopplerhq/node-sdk (through servers/doppler/client.ts) against the Doppler sandbox
// over loopback: every tool's run and filter, the SDK quirks the client guards, and every
// sandbox answer checked against Doppler's official OpenAPI document.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { dopplerClient, openDoppler } from '../../servers/doppler/client.js';
import type { Doppler } from '../../servers/doppler/common.js';
import { doppler } from '../../servers/doppler/index.js';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { loadManifest } from '../../shared/manifest/load.js';
import type { Manifest } from '../../shared/base/manifest.js';
import { allows } from '../../shared/call/policy.js';
import type { ToolContext, ToolDef } from '../../shared/connector/tool.js';
import { SCOPES } from '../helpers.js';
import { shapeOutput } from '../../shared/call/output.js';

const SUBSET = JSON.parse(readFileSync(new URL('../fixtures/specs/doppler-subset.json', import.meta.url), 'utf8'));
const FULL = JSON.parse(readFileSync(new URL('../fixtures/specs/doppler-openapi.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(SUBSET, 'subset');
ajv.addSchema(FULL, 'full');

/** Fetches a sandbox path raw and checks the body against the operation's documented answer. */
async function conforms(method: string, path: string, token: string, status = '200', body?: unknown): Promise<unknown> {
  const url = new URL(path, sb.url);
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.headers.get('content-type')).toContain('application/json');
  expect(String(res.status)).toBe(status);
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  const spec = SUBSET.paths[url.pathname] ? 'subset' : 'full';
  const op = method.toLowerCase();
  const schema = `${spec}#/paths/${url.pathname.replace(/~/g, '~0').replace(/\//g, '~1')}/${op}/responses/${status}/content/application~1json/schema`;
  const validate = ajv.getSchema(schema);
  if (validate)
    expect(validate(json), `${method} ${url.pathname}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
  else expect(status, `${method} ${url.pathname} has no documented ${status} schema`).toBe('204');
  return json;
}

let sb: DopplerSandbox;
let token: string;
let client: Doppler;
let dev: Manifest;
let prod: Manifest;

const tool = (name: string): ToolDef<Doppler> => doppler.tools.find((t) => t.name === name)!;
function ctx(t: ToolDef<Doppler>, m: Manifest): ToolContext<Doppler> {
  return {
    client,
    grant: m.tools[t.name]!,
    identity: { home: 'blogbot' },
    manifest: m,
    signal: AbortSignal.timeout(5000),
    allows: (on, v) => allows(t, m, on, v),
  };
}
/** Runs a tool as the core does after policy: run, then the core's filter-then-limit and schema. */
async function call(name: string, args: Record<string, unknown>, m = dev) {
  const t = tool(name);
  const a = t.input.parse(args);
  const c = ctx(t, m);
  const out = await t.run(a, c);
  return shapeOutput(t, a, c, out) as Record<string, any>;
}

beforeAll(async () => {
  sb = await startDopplerSandbox();
  dev = loadManifest(join(SCOPES, 'doppler.dev.yaml'), CONNECTORS);
  prod = loadManifest(join(SCOPES, 'doppler.prod.yaml'), CONNECTORS);
  token = sb.issueAccount('blogbot', true);
  client = dopplerClient(token, sb.url, 3000);
});
afterAll(() => sb.close());
beforeEach(() => sb.emulator.clearFaults());

describe('Doppler sandbox against the official OpenAPI document', () => {
  it('answers every operation the tools use in the documented shape', async () => {
    await conforms('GET', '/v3/me', token);
    await conforms('GET', '/v3/workplace', token);
    await conforms('GET', '/v3/projects?page=1&per_page=20', token);
    await conforms('GET', '/v3/configs?project=blogbot', token);
    await conforms('GET', '/v3/configs/config/secrets?project=blogbot&config=dev', token);
    await conforms('GET', '/v3/configs/config/secrets/names?project=blogbot&config=dev', token);
    await conforms('GET', '/v3/configs/config/secret?project=blogbot&config=dev&name=API_BASE_URL', token);
    await conforms('POST', '/v3/configs/config/secrets', token, '200', {
      project: 'blogbot',
      config: 'dev_ci',
      secrets: { AGENT_SPEC: 'x' },
    });
    await conforms('DELETE', '/v3/configs/config/secret?project=blogbot&config=dev_ci&name=AGENT_SPEC', token, '204');
    const logs = (await conforms('GET', '/v3/configs/config/logs?project=blogbot&config=dev', token)) as {
      logs: { id: string }[];
    };
    await conforms('GET', `/v3/configs/config/logs/log?project=blogbot&config=dev&log=${logs.logs[0]!.id}`, token);
  });

  it("answers errors as JSON with Doppler's envelope, pagination past the end as an empty page", async () => {
    const res = await fetch(new URL('/v3/me', sb.url), { headers: { authorization: 'Bearer dp.sa.nope' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ messages: ['Invalid Auth token'], success: false });
    const past = (await conforms('GET', '/v3/configs?project=blogbot&page=9&per_page=20', token)) as {
      configs: unknown[];
    };
    expect(past.configs).toEqual([]);
  });
});

describe('every Doppler tool through the real SDK', () => {
  it('list_projects shows only the pinned project, though the token may see more', async () => {
    expect((await call('list_projects', {})).projects.map((p: { slug: string }) => p.slug)).toEqual(['blogbot']);
    // a token that sees two projects (a workplace-wide one): the sandbox's service accounts see one
    // each, so the two answers are put together, as Doppler would give them, before the core's filter
    const t = tool('list_projects');
    const c = ctx(t, dev);
    const both = [
      ...(await client.projects()),
      ...(await dopplerClient(sb.issueAccount('billing', false), sb.url, 3000).projects()),
    ];
    expect(both.map((p) => p.slug)).toEqual(['blogbot', 'billing']);
    expect(
      (shapeOutput(t, {}, c, { projects: both }) as { projects: { slug: string }[] }).projects.map((p) => p.slug),
    ).toEqual(['blogbot']);
  });

  it('list_configs keeps the granted configs', async () => {
    expect((await call('list_configs', {})).configs.map((c: { name: string }) => c.name)).toEqual(['dev', 'dev_ci']);
    expect((await call('list_configs', {}, prod)).configs.map((c: { name: string }) => c.name)).toEqual(['stg', 'prd']);
  });

  it('list_secret_names returns names, filtered by the secrets grant', async () => {
    const out = await call('list_secret_names', { config: 'dev' });
    expect(out.names).toContain('STRIPE_KEY');
    const narrow = {
      ...prod,
      tools: { ...prod.tools, list_secret_names: { configs: ['prd'], secrets: ['STRIPE_*'] } },
    } as Manifest;
    expect((await call('list_secret_names', { config: 'prd' }, narrow)).names).toEqual(['STRIPE_KEY']);
  });

  it('get_secret is masked (set, length, last change; no value, no hash) unless reveal is asked', async () => {
    const masked = await call('get_secret', { config: 'dev', name: 'FEATURE_FLAGS' });
    expect(masked).toEqual({
      config: 'dev',
      name: 'FEATURE_FLAGS',
      set: true,
      length: 'drafts,previews,scheduling'.length,
      changed_at: '2026-01-01T01:00:00.000Z',
    });
    const shown = await call('get_secret', { config: 'dev', name: 'FEATURE_FLAGS', reveal: true });
    expect(shown.value).toBe('drafts,previews,scheduling');
    expect(await call('get_secret', { config: 'dev', name: 'NO_SUCH_SECRET' })).toEqual({
      config: 'dev',
      name: 'NO_SUCH_SECRET',
      set: false,
      length: 0,
    });
  });

  it('compare_configs returns names only: one-sided, differing and equal', async () => {
    const out = await call('compare_configs', { from: 'stg', to: 'prd' }, prod);
    expect(out).toEqual({
      from: 'stg',
      to: 'prd',
      only_in_from: [],
      only_in_to: ['CDN_PURGE_KEY'],
      differ: ['API_BASE_URL', 'DATABASE_URL', 'FEATURE_FLAGS', 'STRIPE_KEY'],
      same: ['SLACK_BOT_TOKEN'],
    });
    expect(JSON.stringify(out)).not.toContain('sk_live');
    // the other way round: what only one side has is one-sided, not a difference
    expect(await call('compare_configs', { from: 'prd', to: 'stg' }, prod)).toMatchObject({
      only_in_from: ['CDN_PURGE_KEY'],
      only_in_to: [],
    });
  });

  it('set_secret writes once, config_activity shows it, delete_secret removes it', async () => {
    const before = sb.emulator.requests.length;
    expect(await call('set_secret', { config: 'dev', name: 'AGENT_NOTE', value: 'twelve chars' })).toEqual({
      config: 'dev',
      name: 'AGENT_NOTE',
      length: 12,
    });
    expect(sb.secretsOf('blogbot', 'dev').get('AGENT_NOTE')).toBe('twelve chars');
    expect(sb.emulator.requests.slice(before).map((r) => r.route)).toEqual(['secrets.update']);
    expect(sb.emulator.requests.at(-1)!.params).toEqual({ project: 'blogbot', config: 'dev', names: ['AGENT_NOTE'] });
    const activity = await call('config_activity', { config: 'dev', limit: 1 });
    expect(activity.entries).toHaveLength(1);
    expect(activity.entries[0].text).toMatch(/updated 1 secret/);
    expect(JSON.stringify(activity)).not.toContain('twelve chars');
    expect((await call('get_secret', { config: 'dev', name: 'AGENT_NOTE' })).changed_at).toBe(
      activity.entries[0].created_at,
    );
    expect(await call('delete_secret', { config: 'dev', name: 'AGENT_NOTE' })).toEqual({
      config: 'dev',
      name: 'AGENT_NOTE',
    });
    expect(sb.secretsOf('blogbot', 'dev').has('AGENT_NOTE')).toBe(false);
  });
});

describe('the client guards what the SDK leaves open', () => {
  it('never resends a write: a 500 on set or delete comes back after one request', async () => {
    sb.emulator.inject({ route: 'secrets.update', status: 500 });
    const before = sb.emulator.requests.length;
    await expect(client.set('blogbot', 'dev', 'AGENT_X', 'v')).rejects.toMatchObject({ code: 'upstream_error' });
    expect(sb.emulator.requests.length - before).toBe(1);
    sb.setSecret('blogbot', 'dev', 'AGENT_Y', 'v');
    sb.emulator.inject({ route: 'secrets.delete', status: 503 });
    const mark = sb.emulator.requests.length;
    await expect(client.delete('blogbot', 'dev', 'AGENT_Y')).rejects.toMatchObject({ code: 'upstream_error' });
    expect(sb.emulator.requests.slice(mark).map((r) => r.route)).toEqual(['secrets.delete']);
  });

  it('retries a read on 503 as the SDK does, and succeeds', async () => {
    sb.emulator.inject({ route: 'secrets.names', status: 503 });
    const before = sb.emulator.requests.length;
    expect(await client.names('blogbot', 'dev')).toContain('API_BASE_URL');
    expect(sb.emulator.requests.length - before).toBe(2);
  });

  it('times out a call the upstream never answers', async () => {
    const quick = dopplerClient(token, sb.url, 300);
    sb.emulator.inject({ route: 'secrets.get', hang: true, times: 3 });
    await expect(quick.secret('blogbot', 'dev', 'API_BASE_URL')).rejects.toMatchObject({
      code: 'timeout',
      message: 'Doppler did not answer within 0.3s',
    });
  });

  it('answers DELETE and closes the connection (the SDK sends a body with no length)', async () => {
    sb.setSecret('blogbot', 'dev', 'AGENT_Z', 'v');
    await client.delete('blogbot', 'dev', 'AGENT_Z');
    expect(
      sb.emulator.requests.filter((r) => r.route === 'secrets.delete' && r.params.name === 'AGENT_Z'),
    ).toHaveLength(1);
    expect(await client.names('blogbot', 'dev')).not.toContain('AGENT_Z');
  });

  it('turns HTTP errors into codes without the value it was sending', async () => {
    await expect(client.set('blogbot', 'dev', 'DOPPLER_X', 'the-value')).rejects.toMatchObject({ code: 'bad_request' });
    // an upstream that quotes the value back in its error: the value never reaches the message
    sb.emulator.inject({
      route: 'secrets.update',
      status: 400,
      body: JSON.stringify({ messages: ['Invalid value "s3cr3t-echo" for AGENT_V'], success: false }),
    });
    const echoed = await client.set('blogbot', 'dev', 'AGENT_V', 's3cr3t-echo').catch((e: Error) => e);
    expect(echoed).toMatchObject({ code: 'bad_request' });
    expect((echoed as Error).message).toContain('Invalid value "[value]" for AGENT_V');
    expect((echoed as Error).message).not.toContain('s3cr3t-echo');
    await expect(dopplerClient('dp.sa.bogus', sb.url, 3000).names('blogbot', 'dev')).rejects.toMatchObject({
      code: 'unauthorized',
    });
    const reader = dopplerClient(sb.issueServiceToken('blogbot', 'dev'), sb.url, 3000);
    await expect(reader.names('blogbot', 'prd')).rejects.toMatchObject({ code: 'forbidden' });
    await expect(reader.set('blogbot', 'dev', 'AGENT_W', 'x')).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('opens only when the token can see the pinned project', async () => {
    const opts = { manifest: dev, baseUrl: sb.url, timeoutMs: 3000, warn: () => {} };
    const up = await openDoppler({ ...opts, credential: token });
    expect(up.identity).toMatchObject({ home: 'blogbot', workplace: 'wp0blogsandbox', token_type: 'service_account' });
    const other = { ...dev, upstream: { project: 'billing' } } as Manifest;
    await expect(openDoppler({ ...opts, manifest: other, credential: token })).rejects.toThrow(
      /cannot see project billing/,
    );
    await expect(openDoppler({ ...opts, credential: 'dp.sa.bogus' })).rejects.toThrow(/identity check .* unauthorized/);
  });
});
