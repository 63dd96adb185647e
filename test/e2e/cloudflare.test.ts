// The Cloudflare instances over stdio: the real CLI as a child process, the SDK Client, and the
// Cloudflare sandbox in this process, so every test can see exactly which requests reached the
// "upstream" (none, for a refused call) and inject faults.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, IDS, OTHER_ACCOUNT } from '../../servers/cloudflare/sandbox/seed.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import {
  askedInSlack,
  auditRecords,
  ROOT,
  runCli,
  serve,
  standingScopes,
  tempDir,
  text,
  type Served,
} from '../helpers.js';
import { manifestOf } from '../hardening/instances.js';

const DEV_PERMS = [
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
];
const PROD_PERMS = [
  'Workers Scripts Read',
  'Workers Scripts Write',
  'Workers KV Storage Read',
  'Workers R2 Storage Read',
  'D1 Read',
  'Zone Read',
  'DNS Read',
];
const SELF = 'Account API Tokens Read';

let sb: CloudflareSandbox;
/** where the editor asks: cloudflare.prod proves its actor by that message, read by the approvals identity */
let slack: SlackSandbox;
let dev: Served;
let prod: Served;
let standing: string | undefined;
beforeAll(async () => {
  sb = await startCloudflareSandbox();
  slack = await startSlackSandbox();
  [dev, prod] = await Promise.all([
    serve({
      connector: 'cloudflare',
      env: 'dev',
      upstream: sb.url,
      vars: { CLOUDFLARE_API_TOKEN_DEV: sb.issue(ACCOUNT, [...DEV_PERMS, SELF]) },
    }),
    // prod as shipped: its token minted from a broker that may only create and delete tokens
    serve({
      connector: 'cloudflare',
      env: 'prod',
      upstream: sb.url,
      vars: {
        CLOUDFLARE_BROKER_TOKEN_PROD: sb.issue(ACCOUNT, ['Account API Tokens Write'], { name: 'fleet broker' }),
        ...askedInSlack(slack),
      },
    }),
  ]);
  // Both have verified their tokens before any test counts requests.
  await Promise.all([dev.call('list_zones'), prod.call('list_zones')]);
});
afterAll(async () => {
  await Promise.all([dev?.close(), prod?.close()]);
  await Promise.all([sb.close(), slack?.close()]);
});

const sc = <T>(r: { structuredContent?: unknown }) => r.structuredContent as T;
const lastRecord = (s: Served) =>
  auditRecords(s.auditFile)
    .filter((r) => r.phase !== 'outcome')
    .at(-1)!;

/** Runs `call`, expects a refusal, and that nothing but `allowed` routes reached the sandbox meanwhile. */
async function refused(
  s: Served,
  name: string,
  args: Record<string, unknown>,
  rule: string | RegExp,
  allowed: string[] = [],
) {
  const before = sb.emulator.requests.length;
  const r = await s.call(name, args);
  expect(r.isError, `${name} ${JSON.stringify(args)}: ${text(r)}`).toBe(true);
  const rec = lastRecord(s);
  expect(rec).toMatchObject({ tool: name, phase: 'decision', decision: 'deny' });
  expect(rec.rule).toMatch(rule);
  const reached = sb.emulator.requests
    .slice(before)
    .map((q) => q.route)
    .filter((x) => !allowed.includes(x));
  expect(reached, `${name} ${JSON.stringify(args)} reached the upstream`).toEqual([]);
  return text(r);
}

/**
 * Runs `fleet serve ...` with stdin held open until it exits on its own (a start-up failure); prod
 * with a standing token, what the start-up checks of a token handed in by a person are for.
 */
function start(env: string, vars: Record<string, string>) {
  return runCli(
    [
      'serve',
      'cloudflare',
      '--env',
      env,
      '--upstream',
      sb.url,
      ...(env === 'prod' ? ['--scopes', (standing ??= standingScopes())] : []),
    ],
    { env: { FLEET_AUDIT_DIR: tempDir(), FLEET_ACTOR: 'x', ...vars }, keepStdin: true, timeoutMs: 15_000 },
  );
}

describe('cloudflare dev', () => {
  it('lists the granted tools with explicit annotations; prod has no deploy', async () => {
    const { tools } = await dev.client.listTools();
    // as many as the dev manifest grants (derived, not counted by hand)
    expect(tools.map((t) => t.name).sort()).toEqual(Object.keys(manifestOf('cloudflare', 'dev').tools).sort());
    for (const t of tools)
      expect(Object.keys(t.annotations ?? {}).sort()).toEqual([
        'destructiveHint',
        'idempotentHint',
        'openWorldHint',
        'readOnlyHint',
      ]);
    expect(tools.find((t) => t.name === 'delete_worker')!.annotations).toMatchObject({
      destructiveHint: true,
      readOnlyHint: false,
    });
    const names = (await prod.client.listTools()).tools.map((t) => t.name);
    expect(names).not.toContain('deploy_worker');
    expect(names).not.toContain('kv_put');
    expect(names).toContain('workflow_create_instance');
  });

  it('filters every list to granted resources', async () => {
    expect(sc<{ workers: { name: string }[] }>(await dev.call('list_workers')).workers.map((w) => w.name)).toEqual([
      'blogbot-dev',
    ]);
    expect(
      sc<{ namespaces: { id: string }[] }>(await dev.call('kv_list_namespaces')).namespaces.map((n) => n.id),
    ).toEqual([IDS.devKv]);
    expect(sc<{ buckets: { name: string }[] }>(await dev.call('r2_list_buckets')).buckets.map((b) => b.name)).toEqual([
      'blogbot-dev-media',
    ]);
    expect(sc<{ databases: { id: string }[] }>(await dev.call('d1_list_databases')).databases.map((d) => d.id)).toEqual(
      [IDS.devDb],
    );
    expect(sc<{ zones: { id: string }[] }>(await dev.call('list_zones')).zones.map((z) => z.id)).toEqual([IDS.devZone]);
    const keys = sc<{ keys: { name: string }[] }>(await prod.call('kv_list_keys', { namespace_id: IDS.prodKv }));
    expect(keys.keys.map((k) => k.name)).toEqual(['config/theme', 'posts/release-notes-4-2']); // not sessions/
    const objs = sc<{ objects: { key: string }[] }>(await prod.call('r2_list_objects', { bucket: 'blogbot-media' }));
    expect(objs.objects.map((o) => o.key)).toEqual(['published/release-notes-4-2.md']);
  });

  it('deploys a Worker from text with bindings, reads it back and deletes it', async () => {
    const source = 'export default { async fetch(req, env) { return new Response(await env.CACHE.get("x")); } };';
    const r = await dev.call('deploy_worker', {
      name: 'blogbot-dev-pr9',
      source,
      bindings: [
        { name: 'CACHE', type: 'kv_namespace', value: IDS.devKv },
        { name: 'MODE', type: 'plain_text', value: 'pr' },
      ],
    });
    expect(text(r)).toContain('deployed blogbot-dev-pr9');
    const stored = sb.account(ACCOUNT).scripts.get('blogbot-dev-pr9')!;
    expect(stored.modules['worker.js']!.content).toBe(source);
    expect(stored.bindings).toEqual([
      { type: 'kv_namespace', name: 'CACHE', namespace_id: IDS.devKv },
      { type: 'plain_text', name: 'MODE', text: 'pr' },
    ]);
    const got = sc<{ source: string; bindings: unknown[] }>(await dev.call('get_worker', { name: 'blogbot-dev-pr9' }));
    expect(got.source).toBe(source);
    expect(got.bindings).toEqual([
      { name: 'CACHE', type: 'kv_namespace', value: IDS.devKv },
      { name: 'MODE', type: 'plain_text', value: 'pr' },
    ]);
    const intent = auditRecords(dev.auditFile).find((x) => x.tool === 'deploy_worker' && x.phase === 'intent')!;
    expect(intent.args.source).toEqual({ len: source.length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(text(await dev.call('delete_worker', { name: 'blogbot-dev-pr9' }))).toContain('deleted');
    expect(sb.account(ACCOUNT).scripts.has('blogbot-dev-pr9')).toBe(false);
  });

  it('writes and reads KV, R2, D1, Workflows and DNS in the dev account', async () => {
    await dev.call('kv_put', { namespace_id: IDS.devKv, key: 'drafts/a b', value: 'hello' });
    expect(sc<{ value: string }>(await dev.call('kv_get', { namespace_id: IDS.devKv, key: 'drafts/a b' })).value).toBe(
      'hello',
    );
    expect(text(await dev.call('kv_delete', { namespace_id: IDS.devKv, key: 'drafts/a b' }))).toContain('deleted');
    await dev.call('r2_put_object', { bucket: 'blogbot-dev-media', key: 'drafts/x.md', text: '# x' });
    expect(
      sc<{ text: string; truncated: boolean }>(
        await dev.call('r2_get_object', { bucket: 'blogbot-dev-media', key: 'drafts/x.md' }),
      ),
    ).toMatchObject({ text: '# x', truncated: false });
    expect(text(await dev.call('r2_delete_object', { bucket: 'blogbot-dev-media', key: 'drafts/x.md' }))).toContain(
      'deleted',
    );
    const upd = await dev.call('d1_query', {
      database_id: IDS.devDb,
      sql: "UPDATE posts SET title = ? WHERE slug = 'draft-one'",
      params: ['Draft 1'],
    });
    expect(sc<{ changes: number }>(upd).changes).toBe(1);
    const wf = sc<{ id: string }>(
      await dev.call('workflow_create_instance', {
        workflow: 'publish-post-dev',
        params: { slug: 'draft-one' },
        id: 'e2e-1',
      }),
    );
    expect(wf.id).toBe('e2e-1');
    expect(
      sc<{ params: unknown }>(await dev.call('workflow_get_instance', { workflow: 'publish-post-dev', id: 'e2e-1' }))
        .params,
    ).toEqual({ slug: 'draft-one' });
    const a = sc<{ id: string; created: boolean }>(
      await dev.call('dns_upsert_record', {
        zone_id: IDS.devZone,
        type: 'A',
        name: 'api.example-blog.dev',
        content: '192.0.2.50',
      }),
    );
    expect(a.created).toBe(true);
    const b = sc<{ id: string; created: boolean; content: string }>(
      await dev.call('dns_upsert_record', {
        zone_id: IDS.devZone,
        type: 'A',
        name: 'API.example-blog.dev.',
        content: '192.0.2.51',
      }),
    );
    expect(b).toMatchObject({ id: a.id, created: false, content: '192.0.2.51' });
    expect(text(await dev.call('dns_delete_record', { zone_id: IDS.devZone, id: a.id }))).toContain('deleted');
  });

  it('denies each constraint kind, naming the rule and manifest line, before anything reaches Cloudflare', async () => {
    // globs: scripts
    expect(await refused(dev, 'get_worker', { name: 'blogbot' }, 'tools.get_worker.scripts')).toMatch(
      /script "blogbot" matches nothing in get_worker\.scripts of cloudflare\.dev \(.*cloudflare\.dev\.yaml:\d+\); allowed scripts: blogbot-dev, blogbot-dev-\*/,
    );
    await refused(dev, 'delete_worker', { name: 'blogbot-dev' }, 'tools.delete_worker.scripts');
    // ids: namespaces, buckets, databases, zones
    await refused(dev, 'kv_get', { namespace_id: IDS.prodKv, key: 'config/theme' }, 'tools.kv_get.namespaces');
    await refused(
      dev,
      'r2_get_object',
      { bucket: 'blogbot-media', key: 'published/release-notes-4-2.md' },
      'tools.r2_get_object.buckets',
    );
    await refused(dev, 'd1_query', { database_id: IDS.prodDb, sql: 'SELECT 1' }, 'tools.d1_query.databases');
    await refused(
      dev,
      'dns_upsert_record',
      { zone_id: IDS.zone, type: 'A', name: 'x.example-blog.com', content: '192.0.2.1' },
      'tools.dns_upsert_record.zones',
    );
    // optional ids on deploy bindings: a dev Worker may not bind production data
    await refused(
      dev,
      'deploy_worker',
      { name: 'blogbot-dev-x', source: 'export default {}', bindings: [{ name: 'DB', type: 'd1', value: IDS.prodDb }] },
      'tools.deploy_worker.databases',
    );
    // prefixes: key_prefix
    expect(
      await refused(prod, 'kv_get', { namespace_id: IDS.prodKv, key: 'sessions/u1' }, 'tools.kv_get.key_prefix'),
    ).toContain('use keys starting with "posts/" or "config/"');
    await refused(
      prod,
      'kv_list_keys',
      { namespace_id: IDS.prodKv, prefix: 'sessions/' },
      'tools.kv_list_keys.key_prefix',
    );
    await refused(
      prod,
      'r2_get_object',
      { bucket: 'blogbot-media', key: 'drafts/ten-years.md' },
      'tools.r2_get_object.key_prefix',
    );
    await refused(
      dev,
      'r2_delete_object',
      { bucket: 'blogbot-dev-media', key: 'published/hello.md' },
      'tools.r2_delete_object.key_prefix',
    );
    // globs: workflows; globs: record names; oneOf: record types (the zone is read first: it must be in the account)
    await refused(
      prod,
      'workflow_create_instance',
      { workflow: 'reindex-search' },
      'tools.workflow_create_instance.workflows',
    );
    await refused(
      dev,
      'dns_upsert_record',
      { zone_id: IDS.devZone, type: 'A', name: 'example-blog.dev', content: '192.0.2.1' },
      'tools.dns_upsert_record.names',
      ['zones.get'],
    );
    await refused(
      dev,
      'dns_upsert_record',
      { zone_id: IDS.devZone, type: 'MX', name: 'm.example-blog.dev', content: 'mx.example-blog.dev' },
      'tools.dns_upsert_record.types',
      ['zones.get'],
    );
    // the record's own name decides a deletion: the apex is not under *.example-blog.dev
    const apex = sb.state.zones.find((z) => z.id === IDS.devZone)!.records.find((r) => r.name === 'example-blog.dev')!;
    await refused(dev, 'dns_delete_record', { zone_id: IDS.devZone, id: apex.id }, 'tools.dns_delete_record.names', [
      'zones.get',
      'dns.records.get',
    ]);
    expect(sb.state.zones.find((z) => z.id === IDS.devZone)!.records).toContain(apex);
    // choice: sql (see the corpus below); a tool the manifest does not grant
    await refused(prod, 'deploy_worker', { name: 'blogbot', source: 'export default {}' }, 'tools');
  });

  it('refuses a zone of another account even where the grant is a wildcard', async () => {
    const token = sb.issue(ACCOUNT, [...DEV_PERMS, SELF], { accounts: [ACCOUNT, OTHER_ACCOUNT] });
    const dir = tempDir('fleet-scopes-');
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(
      `${dir}/cloudflare.dev.yaml`,
      readFileSync(`${ROOT}/scopes/cloudflare.dev.yaml`, 'utf8').replace(
        /dns_list_records:\s+\{ zones: \[[0-9a-f]+\] \}/,
        'dns_list_records: { zones: ["*"] }',
      ),
    );
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      upstream: sb.url,
      scopes: dir,
      vars: { CLOUDFLARE_API_TOKEN_DEV: token },
    });
    try {
      await s.call('list_zones');
      // the identity check has run (the call waited for it): its only word is that the token reaches further
      expect(s.stderr().trim()).toMatch(
        new RegExp(
          `^fleet cloudflare\\.dev: warning: the token also reaches account ${OTHER_ACCOUNT}, beyond what the manifest pins \\(.*cloudflare\\.dev\\.yaml:\\d+\\); calls stay where the manifest pins them$`,
        ),
      );
      expect(
        await refused(s, 'dns_list_records', { zone_id: IDS.otherZone }, 'upstream.account', ['zones.get']),
      ).toContain(`belongs to account ${OTHER_ACCOUNT}`);
      expect((await s.call('dns_list_records', { zone_id: IDS.devZone })).isError).toBeFalsy();
    } finally {
      await s.close();
    }
  });
});

describe('cloudflare prod: D1 under sql: read', () => {
  const CORPUS = [
    'WITH doomed AS (SELECT id FROM posts) DELETE FROM posts WHERE id IN (SELECT id FROM doomed)',
    'SELECT 1; DROP TABLE posts',
    'SELECT * FROM posts /* ; */ ; DELETE FROM posts',
    '/* SELECT */ DELETE FROM posts',
    "SELECT 1 --\n; UPDATE posts SET title = 'x'",
    'PRAGMA user_version = 7',
    'PRAGMA writable_schema = 1',
    "ATTACH DATABASE 'file:/tmp/x.db' AS x",
    "VACUUM INTO '/tmp/copy.db'",
    "SELECT load_extension('/tmp/evil.so')",
    "REPLACE INTO posts (id, slug, title, status) VALUES (1, 'a', 'b', 'c')",
    "INSERT INTO posts (slug, title, status) VALUES ('a', 'b', 'c') RETURNING id",
    'DELETE FROM posts RETURNING *',
    'DROP TABLE posts',
    'BEGIN',
    'SELECT * FROM no_such_table',
  ];

  it('runs a single SELECT', async () => {
    const r = await prod.call('d1_query', {
      database_id: IDS.prodDb,
      sql: "SELECT slug FROM posts WHERE status = 'published'",
    });
    expect(sc<{ rows: unknown[] }>(r).rows).toEqual([{ slug: 'release-notes-4-2' }]);
    expect(lastRecord(prod)).toMatchObject({
      decision: 'allow',
      resources: [
        { on: 'databases', value: IDS.prodDb },
        { on: 'sql', value: 'read' },
      ],
    });
  });

  it.each(CORPUS)('denies %j; only the schema is read, the statement never reaches D1', async (sql) => {
    const before = sb.emulator.requests.length;
    const msg = await refused(prod, 'd1_query', { database_id: IDS.prodDb, sql }, 'tools.d1_query.sql', [
      'd1.database.query',
    ]);
    expect(msg).toMatch(
      /^denied: the SQL is not provably read-only: .+; d1_query\.sql of cloudflare\.prod is read \(.*cloudflare\.prod\.yaml:\d+\)/,
    );
    for (const q of sb.emulator.requests.slice(before))
      expect(String(q.params.sql)).toMatch(/^SELECT sql FROM sqlite_master/);
    expect(lastRecord(prod).args.sql).toEqual({ len: sql.length, sha256: expect.any(String) });
  });

  it('left the production database as it was', async () => {
    const r = await prod.call('d1_query', { database_id: IDS.prodDb, sql: 'SELECT count(*) AS n FROM posts' });
    expect(sc<{ rows: { n: number }[] }>(r).rows[0]!.n).toBe(2);
  });
});

describe('cloudflare: names and keys that would walk a URL', () => {
  const SCRIPTS = [
    '../blogbot',
    'blogbot-dev/../blogbot',
    'blogbot-dev%2F..%2Fblogbot',
    'blogbot-dev/..',
    '..',
    '.',
    'blogbot-dev\\..\\blogbot',
    'blogbot-dev?x=1',
    'blogbot-dev#x',
    'Blogbot-Dev',
    'blogbot-dev\n',
  ];
  const KEYS = [
    '../x',
    'posts/../sessions/u1',
    'posts/./x',
    'posts/%2e%2e/sessions/u1',
    'posts/%2E%2E%2Fsessions',
    'posts%2F..%2Fsessions',
    'posts/..%5Csessions',
    'posts\\..\\sessions',
    'posts/%252e%252e/x',
    'posts/\u0000x',
    'posts/..',
    '..',
    '',
  ];

  it.each(SCRIPTS)('script name %j is refused as input', async (name) => {
    await refused(dev, 'get_worker', { name }, 'input');
    await refused(dev, 'delete_worker', { name }, 'input');
  });

  it.each(KEYS)('KV key and R2 object key %j are refused as input', async (key) => {
    await refused(prod, 'kv_get', { namespace_id: IDS.prodKv, key }, 'input');
    await refused(dev, 'kv_put', { namespace_id: IDS.devKv, key, value: 'x' }, 'input');
    await refused(prod, 'r2_get_object', { bucket: 'blogbot-media', key }, 'input');
    await refused(dev, 'r2_delete_object', { bucket: 'blogbot-dev-media', key }, 'input');
  });

  it('refuses traversal in listing prefixes, bucket, workflow and instance names', async () => {
    await refused(prod, 'kv_list_keys', { namespace_id: IDS.prodKv, prefix: 'posts/../' }, 'input');
    await refused(prod, 'r2_list_objects', { bucket: 'blogbot-media', prefix: 'published/%2e%2e/' }, 'input');
    await refused(dev, 'r2_list_objects', { bucket: '../blogbot-media' }, 'input');
    await refused(prod, 'workflow_get_instance', { workflow: 'publish-post', id: '../../x' }, 'input');
    await refused(prod, 'workflow_list_instances', { workflow: 'publish-post/../reindex-search' }, 'input');
    await refused(dev, 'dns_delete_record', { zone_id: IDS.devZone, id: '../x' }, 'input');
  });
});

describe('cloudflare: upstream errors and start-up checks', () => {
  it('returns a 429 at once with its Retry-After, and a 404 with a hint', async () => {
    sb.emulator.inject({ route: 'kv.values.get', status: 429, retryAfter: 1 });
    const r = await dev.call('kv_get', { namespace_id: IDS.devKv, key: 'config/theme' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/cloudflare error: cf_971: .*\(retry after 1s\)/);
    await new Promise((r) => setTimeout(r, 1100)); // the Retry-After is honoured: nothing is sent before it ends
    const nf = await dev.call('kv_get', { namespace_id: IDS.devKv, key: 'posts/none' });
    expect(text(nf)).toContain("cf_10009: get: 'key not found'");
    const out = auditRecords(dev.auditFile)
      .filter((x) => x.phase === 'outcome')
      .at(-1)!;
    expect(out).toMatchObject({ outcome: 'error', error: 'cf_10009' });
  });

  it('never writes the token to audit records or stderr', async () => {
    const token = sb.issue(ACCOUNT, [...DEV_PERMS, SELF]);
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      upstream: sb.url,
      vars: { CLOUDFLARE_API_TOKEN_DEV: token },
    });
    await s.call('kv_put', { namespace_id: IDS.devKv, key: 'leak', value: `the token is ${token}` });
    const r = await s.call('kv_get', { namespace_id: IDS.devKv, key: 'leak' });
    await s.close();
    expect(text(r)).not.toContain(token);
    expect(text(r)).toContain('[redacted]');
    expect(JSON.stringify(auditRecords(s.auditFile))).not.toContain(token);
    expect(s.stderr()).not.toContain(token);
  });

  it('refuses a prod start with a token holding more than the manifest declares, and warns for dev', async () => {
    const over = sb.issue(ACCOUNT, [...PROD_PERMS, SELF, 'Workers KV Storage Write']);
    const r = await start('prod', { CLOUDFLARE_API_TOKEN_PROD: over });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /the token holds Workers KV Storage Write beyond the manifest's declared permissions \(.*cloudflare\.prod\.yaml:\d+\); refusing to start a production instance/,
    );
    expect(r.stderr).not.toContain(over);
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      upstream: sb.url,
      vars: { CLOUDFLARE_API_TOKEN_DEV: sb.issue(ACCOUNT, [...DEV_PERMS, SELF, 'Workers Tail Read']) },
    });
    expect((await s.call('list_workers')).isError).toBeFalsy();
    await s.close();
    expect(s.stderr()).toMatch(/the token holds Workers Tail Read beyond the manifest's declared permissions/);
  });

  it('refuses to start with a token of another account, an inactive token, or none', async () => {
    const other = await start('prod', { CLOUDFLARE_API_TOKEN_PROD: sb.issue(OTHER_ACCOUNT, PROD_PERMS) });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/does not verify for account 5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12/);
    const expired = await start('prod', {
      CLOUDFLARE_API_TOKEN_PROD: sb.issue(ACCOUNT, PROD_PERMS, { status: 'expired' }),
    });
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/the token is expired, not active/);
    const none = await start('prod', {});
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/CLOUDFLARE_API_TOKEN_PROD is not set/);
  });

  it('warns in dev, and refuses in prod, when the token cannot read its own policies; a user token must reach the account', async () => {
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      upstream: sb.url,
      vars: { CLOUDFLARE_API_TOKEN_DEV: sb.issue(ACCOUNT, DEV_PERMS) },
    });
    expect((await s.call('list_workers')).isError).toBeFalsy();
    await s.close();
    expect(s.stderr()).toMatch(/cannot read its own policies/);
    // The same kind of token for prod: it could hold anything, so prod does not start.
    const blind = sb.issue(ACCOUNT, [...PROD_PERMS, 'Workers KV Storage Write']);
    const refused = await start('prod', { CLOUDFLARE_API_TOKEN_PROD: blind });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /cannot read its own policies .*refusing to start a production instance whose token's permissions cannot be checked \(.*cloudflare\.prod\.yaml:\d+\)/,
    );
    expect(refused.stderr).not.toContain(blind);
    const user = await start('prod', {
      CLOUDFLARE_API_TOKEN_PROD: sb.issue(OTHER_ACCOUNT, [...PROD_PERMS, 'API Tokens Read'], { kind: 'user' }),
    });
    expect(user.code).toBe(1);
    expect(user.stderr).toMatch(/policies do not cover account/);
  });
});
