// The real `cloudflare` SDK against the Cloudflare sandbox over loopback, for every operation the
// tools use. Wire bodies of operations in the 2024 spec are checked against it; R2 objects,
// Workflows and account tokens, missing there, follow the SDK's types.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Cloudflare from 'cloudflare';
import { Ajv } from 'ajv';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, IDS } from '../../servers/cloudflare/sandbox/seed.js';
import { cloudflare } from '../../servers/cloudflare/index.js';

const SPEC = JSON.parse(readFileSync(new URL('../fixtures/specs/cloudflare-subset.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(SPEC, 'cf');

const ALL = [
  'Workers Scripts Read',
  'Workers Scripts Write',
  'Workers KV Storage Read',
  'Workers KV Storage Write',
  'Workers R2 Storage Read',
  'Workers R2 Storage Write',
  'D1 Read',
  'D1 Write',
  'Zone Read',
  'DNS Read',
  'DNS Write',
  'Account API Tokens Read',
];
let sb: CloudflareSandbox;
let token: string;
let cf: Cloudflare;
const account_id = ACCOUNT;
const sdk = (t: string) =>
  new Cloudflare({
    apiToken: t,
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: sb.url,
    maxRetries: 0,
    timeout: 5000,
  });

/** The wire body of a GET, checked against the spec's 200 response for that path. */
async function conforms(
  path: string,
  specPath: string,
  method = 'get',
  init: RequestInit = {},
): Promise<Record<string, any>> {
  const res = await fetch(`${sb.url}${path}`, {
    ...init,
    method: method.toUpperCase(),
    headers: { authorization: `Bearer ${token}`, ...init.headers },
  });
  const body = await res.json();
  const ref = `cf#/paths/${specPath.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}/responses/200/content/application~1json/schema`;
  const validate = ajv.getSchema(ref);
  expect(validate, ref).toBeDefined();
  expect(validate!(body), `${path}: ${JSON.stringify(validate!.errors?.slice(0, 3))}`).toBe(true);
  return body;
}

beforeAll(async () => {
  sb = await startCloudflareSandbox();
  token = sb.issue(ACCOUNT, ALL);
  cf = sdk(token);
});
afterAll(() => sb.close());

describe('identity', () => {
  it('verifies an account token at its account and reads its policies', async () => {
    const v = await cf.accounts.tokens.verify({ account_id });
    expect(v.status).toBe('active');
    const t = await cf.accounts.tokens.get(v.id, { account_id });
    expect(t.policies?.[0]?.permission_groups.map((g) => g.name)).toEqual(ALL);
    await expect(cf.user.tokens.verify()).rejects.toMatchObject({ status: 401 });
    // an account token is not a user token: on the wire, a 401 in Cloudflare's error envelope
    const raw = await fetch(`${sb.url}/user/tokens/verify`, { headers: { authorization: `Bearer ${token}` } });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toMatchObject({
      success: false,
      result: null,
      errors: [{ code: expect.any(Number), message: expect.any(String) }],
    });
  });

  it('verifies a user token at /user/tokens and refuses unknown or unauthorised tokens with 4xx', async () => {
    const user = sb.issue(ACCOUNT, ['Zone Read', 'API Tokens Read'], { kind: 'user' });
    const v = await sdk(user).user.tokens.verify();
    expect(v.status).toBe('active');
    expect((await sdk(user).user.tokens.get(v.id)).policies?.[0]?.resources).toEqual({
      [`com.cloudflare.api.account.${ACCOUNT}`]: '*',
    });
    await expect(
      sdk('not-a-token')
        .workers.scripts.list({ account_id })
        .then((p) => p.result),
    ).rejects.toMatchObject({ status: 401 });
    const kvOnly = sdk(sb.issue(ACCOUNT, ['Workers KV Storage Read']));
    await expect(kvOnly.workers.scripts.list({ account_id })).rejects.toMatchObject({
      status: 403,
      errors: [{ code: 10000 }],
    });
    await expect(kvOnly.accounts.tokens.get('x', { account_id })).rejects.toMatchObject({ status: 403 });
  });
});

describe('Workers', () => {
  it('lists scripts, reads content and settings (secret values never leave)', async () => {
    const names = [];
    for await (const s of cf.workers.scripts.list({ account_id })) names.push(s.id);
    expect(names).toEqual(['blogbot-dev', 'blogbot', 'billing-worker']);
    await conforms(`/accounts/${ACCOUNT}/workers/scripts`, '/accounts/{account_id}/workers/scripts');
    const src = await (await cf.workers.scripts.content.get('blogbot-dev', { account_id })).text();
    expect(src).toContain('export default');
    const settings = await cf.workers.scripts.scriptAndVersionSettings.get('blogbot-dev', { account_id });
    expect(settings.bindings?.find((b) => b.name === 'SLACK_TOKEN')).toEqual({
      type: 'secret_text',
      name: 'SLACK_TOKEN',
    });
    await expect(cf.workers.scripts.content.get('nope', { account_id })).rejects.toMatchObject({
      status: 404,
      errors: [{ code: 10007 }],
    });
  });

  it("parses a deploy's multipart body back into the same script and bindings", async () => {
    const source = 'export default { async fetch() { return new Response("v2"); } };\n';
    const bindings = [
      { type: 'kv_namespace', name: 'CACHE', namespace_id: IDS.devKv },
      { type: 'plain_text', name: 'MODE', text: 'preview' },
    ];
    const metadata = { main_module: 'worker.js', compatibility_date: '2025-06-01', bindings };
    const res = await cf.workers.scripts.update(
      'blogbot-dev-pr7',
      {
        account_id,
        metadata: new File([JSON.stringify(metadata)], 'metadata.json', { type: 'application/json' }) as never,
        files: [new File([source], 'worker.js', { type: 'application/javascript+module' })],
      },
      { headers: { 'Content-Type': null } },
    );
    expect(res.id).toBe('blogbot-dev-pr7');
    const stored = sb.account(ACCOUNT).scripts.get('blogbot-dev-pr7')!;
    expect(stored.modules['worker.js']).toEqual({ type: 'application/javascript+module', content: source });
    expect(stored.bindings).toEqual(bindings);
    expect(stored.compatibility_date).toBe('2025-06-01');
    expect(await (await cf.workers.scripts.content.get('blogbot-dev-pr7', { account_id })).text()).toBe(source);
    await cf.workers.scripts.delete('blogbot-dev-pr7', { account_id });
    expect(sb.account(ACCOUNT).scripts.has('blogbot-dev-pr7')).toBe(false);
  });

  it('refuses the body SDK 7.3.0 builds by default (cloudflare-typescript#2799) and bindings to missing resources', async () => {
    const files = [new File(['export default {}'], 'worker.js', { type: 'application/javascript+module' })];
    await expect(
      cf.workers.scripts.update('blogbot-dev-bad', { account_id, metadata: { main_module: 'worker.js' }, files }),
    ).rejects.toMatchObject({ status: 400, errors: [{ code: 10021 }] });
    const meta = (m: object) => new File([JSON.stringify(m)], 'metadata.json', { type: 'application/json' }) as never;
    await expect(
      cf.workers.scripts.update(
        'blogbot-dev-bad',
        {
          account_id,
          metadata: meta({
            main_module: 'worker.js',
            bindings: [{ type: 'kv_namespace', name: 'X', namespace_id: 'f'.repeat(32) }],
          }),
          files,
        },
        { headers: { 'Content-Type': null } },
      ),
    ).rejects.toMatchObject({ status: 400, errors: [{ code: 10041 }] });
    await expect(
      cf.workers.scripts.update(
        'blogbot-dev-bad',
        { account_id, metadata: meta({ main_module: 'other.js' }), files },
        { headers: { 'Content-Type': null } },
      ),
    ).rejects.toMatchObject({ status: 400 });
    expect(sb.account(ACCOUNT).scripts.has('blogbot-dev-bad')).toBe(false);
  });
});

describe('KV', () => {
  it('pages namespaces until an empty page, and keys by cursor', async () => {
    const ids = [];
    for await (const n of cf.kv.namespaces.list({ account_id, per_page: 1 })) ids.push(n.id);
    expect(ids).toEqual([IDS.devKv, IDS.prodKv, IDS.sessionsKv]);
    const past = await conforms(
      `/accounts/${ACCOUNT}/storage/kv/namespaces?page=9&per_page=1`,
      '/accounts/{account_id}/storage/kv/namespaces',
    );
    expect(past.result).toEqual([]);
    for (let i = 0; i < 25; i++)
      await cf.kv.namespaces.values.update(`bulk/${String(i).padStart(2, '0')}`, {
        account_id,
        namespace_id: IDS.devKv,
        value: `v${i}`,
      });
    const keys = [];
    for await (const k of cf.kv.namespaces.keys.list(IDS.devKv, { account_id, prefix: 'bulk/', limit: 10 }))
      keys.push(k.name);
    expect(keys).toHaveLength(25);
    expect(sb.emulator.requests.filter((r) => r.route === 'kv.keys.list' && r.params.prefix === 'bulk/')).toHaveLength(
      3,
    );
    await conforms(
      `/accounts/${ACCOUNT}/storage/kv/namespaces/${IDS.devKv}/keys?limit=10`,
      '/accounts/{account_id}/storage/kv/namespaces/{namespace_id}/keys',
    );
  });

  it('writes (multipart value), reads and deletes a key whose name holds a slash', async () => {
    await cf.kv.namespaces.values.update('dir/k 1', {
      account_id,
      namespace_id: IDS.devKv,
      value: 'hello',
      expiration_ttl: 120,
    });
    expect(sb.account(ACCOUNT).kv.get(IDS.devKv)!.values.get('dir/k 1')!.value.toString()).toBe('hello');
    expect(sb.emulator.requests.at(-1)!.path).toContain('/values/dir%2Fk%201');
    expect(await (await cf.kv.namespaces.values.get('dir/k 1', { account_id, namespace_id: IDS.devKv })).text()).toBe(
      'hello',
    );
    await cf.kv.namespaces.values.delete('dir/k 1', { account_id, namespace_id: IDS.devKv });
    await expect(cf.kv.namespaces.values.get('dir/k 1', { account_id, namespace_id: IDS.devKv })).rejects.toMatchObject(
      { status: 404, errors: [{ code: 10009 }] },
    );
    await expect(
      cf.kv.namespaces.values.update('x', { account_id, namespace_id: IDS.devKv, value: 'v', expiration_ttl: 5 }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('R2', () => {
  it('lists buckets and objects by cursor; uploads, reads and deletes objects', async () => {
    const res = await cf.r2.buckets.list({ account_id });
    expect(res.buckets?.map((b) => b.name)).toEqual(['blogbot-backups', 'blogbot-dev-media', 'blogbot-media']);
    // Not checked against the 2024 spec: it has `result` as an array, while the API and the SDK
    // (BucketListResponse) have `result: { buckets: [...] }`.
    for (let i = 0; i < 5; i++)
      await cf.r2.buckets.objects.upload(
        `p/${i}.txt`,
        `body ${i}`,
        { account_id, bucket_name: 'blogbot-dev-media' },
        { headers: { 'Content-Type': 'text/plain' } },
      );
    const keys = [];
    for await (const o of cf.r2.buckets.objects.list('blogbot-dev-media', { account_id, prefix: 'p/', per_page: 2 }))
      keys.push(o.key);
    expect(keys).toEqual(['p/0.txt', 'p/1.txt', 'p/2.txt', 'p/3.txt', 'p/4.txt']);
    const obj = await cf.r2.buckets.objects.get('p/3.txt', { account_id, bucket_name: 'blogbot-dev-media' });
    expect(obj.headers.get('content-type')).toBe('text/plain');
    expect(await obj.text()).toBe('body 3');
    expect((await cf.r2.buckets.objects.delete('p/3.txt', { account_id, bucket_name: 'blogbot-dev-media' })).key).toBe(
      'p/3.txt',
    );
    await expect(
      cf.r2.buckets.objects.get('p/3.txt', { account_id, bucket_name: 'blogbot-dev-media' }),
    ).rejects.toMatchObject({ status: 404, errors: [{ code: 10007 }] });
    await expect(
      cf.r2.buckets.objects.list('no-such-bucket', { account_id }).then((p) => p.result),
    ).rejects.toMatchObject({ status: 404, errors: [{ code: 10006 }] });
  });
});

describe('D1', () => {
  it('lists databases and runs real SQLite', async () => {
    const dbs = [];
    for await (const d of cf.d1.database.list({ account_id })) dbs.push(d.name);
    expect(dbs).toEqual(['blogbot-dev-db', 'blogbot-db']);
    // Not checked against the 2024 spec: it has `result` as an object, while the SDK pages it as
    // an array (V4PagePaginationArray) and the API returns one.
    const page = await cf.d1.database.query(IDS.devDb, {
      account_id,
      sql: 'SELECT slug FROM posts WHERE status = ?',
      params: ['published'],
    });
    expect(page.result[0]!.results).toEqual([{ slug: 'hello-world' }]);
    const w = await cf.d1.database.query(IDS.devDb, { account_id, sql: "UPDATE posts SET title = 'x' WHERE id = 2" });
    expect(w.result[0]!.meta?.changes).toBe(1);
    // Not checked against the 2024 spec: its allOf asks `result` to be an object and an array at once.
    const raw = await fetch(`${sb.url}/accounts/${ACCOUNT}/d1/database/${IDS.devDb}/query`, {
      method: 'POST',
      body: JSON.stringify({ sql: 'SELECT 1 AS one' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    expect(await raw.json()).toMatchObject({
      success: true,
      errors: [],
      result: [{ results: [{ one: 1 }], success: true }],
    });
    await expect(
      cf.d1.database.query(IDS.devDb, { account_id, sql: 'SELEC nonsense' }).then((p) => p.result),
    ).rejects.toMatchObject({ status: 400, errors: [{ code: 7500 }] });
    await expect(
      cf.d1.database.query(IDS.devDb, { account_id, sql: "ATTACH 'x' AS y" }).then((p) => p.result),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('Workflows', () => {
  it('lists, creates and reads instances; a repeated instance ID is a 409', async () => {
    const created = await cf.workflows.instances.create('publish-post-dev', {
      account_id,
      instance_id: 'contract-1',
      params: { slug: 'x' } as never,
    });
    expect(created).toMatchObject({ id: 'contract-1', status: 'queued' });
    const got = await cf.workflows.instances.get('contract-1', { account_id, workflow_name: 'publish-post-dev' });
    expect(got.params).toEqual({ slug: 'x' });
    const ids = [];
    for await (const i of cf.workflows.instances.list('publish-post-dev', { account_id, per_page: 1 })) ids.push(i.id);
    expect(ids).toEqual(['contract-1', 'dev-run-1']);
    await expect(
      cf.workflows.instances.create('publish-post-dev', { account_id, instance_id: 'contract-1' }),
    ).rejects.toMatchObject({ status: 409 });
    await expect(
      cf.workflows.instances.get('nope', { account_id, workflow_name: 'publish-post-dev' }),
    ).rejects.toMatchObject({ status: 404 });
  });
});

describe('Zones and DNS', () => {
  it('lists zones of the account and pages records; creates, updates and deletes a record', async () => {
    const zones = [];
    for await (const z of cf.zones.list({ account: { id: ACCOUNT } })) zones.push(z.name);
    expect(zones).toEqual(['example-blog.com', 'example-blog.dev']);
    await conforms(`/zones?account.id=${ACCOUNT}`, '/zones');
    const z = await cf.zones.get({ zone_id: IDS.devZone });
    expect(z.account.id).toBe(ACCOUNT);
    await expect(cf.zones.get({ zone_id: IDS.otherZone })).rejects.toMatchObject({ status: 403 });
    const r = await cf.dns.records.create({
      zone_id: IDS.devZone,
      type: 'A',
      name: 'c.example-blog.dev',
      content: '192.0.2.9',
      ttl: 1,
    });
    await conforms(`/zones/${IDS.devZone}/dns_records`, '/zones/{zone_id}/dns_records');
    const found = [];
    for await (const x of cf.dns.records.list({
      zone_id: IDS.devZone,
      name: { exact: 'c.example-blog.dev' },
      per_page: 1,
    }))
      found.push(x.id);
    expect(found).toEqual([r.id]);
    const u = await cf.dns.records.update(r.id, {
      zone_id: IDS.devZone,
      type: 'A',
      name: 'c.example-blog.dev',
      content: '192.0.2.10',
      ttl: 1,
    });
    expect(u.content).toBe('192.0.2.10');
    await expect(
      cf.dns.records.create({
        zone_id: IDS.devZone,
        type: 'CNAME',
        name: 'c.example-blog.dev',
        content: 'example-blog.dev',
        ttl: 1,
      }),
    ).rejects.toMatchObject({ status: 400, errors: [{ code: 81053 }] });
    await expect(
      cf.dns.records.create({
        zone_id: IDS.devZone,
        type: 'A',
        name: 'x.example-blog.com',
        content: '192.0.2.1',
        ttl: 1,
      }),
    ).rejects.toMatchObject({ status: 400 });
    expect((await cf.dns.records.delete(r.id, { zone_id: IDS.devZone })).id).toBe(r.id);
  });
});

describe('faults', () => {
  it('answers 429 with Retry-After, 5xx with the error envelope, and malformed bodies', async () => {
    sb.emulator.inject({ route: 'kv.values.get', status: 429, retryAfter: 7 });
    const err = await cf.kv.namespaces.values
      .get('config/theme', { account_id, namespace_id: IDS.devKv })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Cloudflare.RateLimitError);
    expect(err.headers.get('retry-after')).toBe('7');
    expect(err.errors[0].code).toBe(971);
    sb.emulator.inject({ route: 'workers.scripts.list', status: 503 });
    await expect(cf.workers.scripts.list({ account_id }).then((p) => p.result)).rejects.toMatchObject({ status: 503 });
    // a 200 whose body is not JSON: the SDK's own parse error, which the connector names bad_response
    sb.emulator.inject({ route: 'zones.get', body: '{not json' });
    const bad = await cf.zones.get({ zone_id: IDS.devZone }).catch((e) => e);
    expect(bad).toBeInstanceOf(SyntaxError);
    expect(cloudflare.describeError(bad)).toMatchObject({ code: 'bad_response' });
  });
});
