// Everything `fleet` loads on first use, loaded through the bin (dist/fleet, started from the V8
// snapshot). A snapshot has no dynamic import(), so a module the snapshot leaves out — an upstream
// SDK, pg, OpenTelemetry, the native libsql, sql.js's wasm — is only found when the path
// that needs it first runs: PostgreSQL once failed every call that way while `node dist/cli.js`
// worked. The walk is driven by the build itself: every module build.mjs keeps out of the snapshot,
// and every bare import() in the sources, must have a journey here that loads it.
import { createServer } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startSlackSandbox } from '../../servers/slack/sandbox/index.js';
import {
  approvalsIdentity,
  auditRecords,
  ROOT,
  runCli,
  scopesCopy,
  serve,
  tempDir,
  text,
  waitFor,
} from '../helpers.js';
import { httpScopes } from '../http-helpers.js';
import { PG_URL } from '../state/pg.js';

const FROM_SNAPSHOT = 'fleet: started from the snapshot';
const trace = { FLEET_TRACE_START: '1' };

/** The modules build.mjs keeps out of the snapshot (its `external:` list for snapshot.ts). */
function snapshotExternals(): string[] {
  const build = readFileSync(join(ROOT, 'build.mjs'), 'utf8');
  const block = build.slice(build.indexOf("entryPoints: ['servers/fleet/snapshot.ts']"));
  const list = /external: \[([^\]]*)\]/.exec(block)![1]!;
  return [...list.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
}

/** Every `import('bare-name')` in the sources: a package loaded on first use. */
function bareDynamicImports(): { site: string; name: string }[] {
  const found: { site: string; name: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\bimport\('([^'.][^']*)'\)/g))
          found.push({ site: relative(ROOT, p), name: m[1]! });
      }
    }
  };
  for (const d of ['servers', 'shared']) walk(join(ROOT, d));
  return found;
}

/** Which journey below loads each module the snapshot leaves out (pg-native: never loaded, pg's optional binding). */
const JOURNEY: Record<string, string> = {
  cloudflare: 'cloudflare',
  '@dopplerhq/node-sdk': 'doppler',
  '@slack/web-api': 'slack',
  '@slack/socket-mode': 'socket',
  '@opentelemetry/*': 'otlp',
  libsql: 'slack',
  pg: 'postgres',
  'pg-native': 'never',
};
const bundled = (name: string) =>
  !snapshotExternals().some((x) => x === name || (x.endsWith('/*') && name.startsWith(x.slice(0, -1))));

describe('what the snapshot leaves out loads through dist/fleet', () => {
  it('every module kept out of the snapshot, and every bare import() in the sources, has a journey here', () => {
    const externals = snapshotExternals();
    expect(externals.length).toBeGreaterThan(3);
    expect(externals.filter((x) => !JOURNEY[x])).toEqual([]);
    // a bare import() of a bundled package is evaluated in the snapshot; one of an external must be walked here
    const unwalked = bareDynamicImports().filter(
      (i) =>
        !bundled(i.name) &&
        !Object.keys(JOURNEY).some((x) => x === i.name || (x.endsWith('/*') && i.name.startsWith(x.slice(0, -1)))),
    );
    expect(unwalked).toEqual([]);
    expect(bareDynamicImports().map((i) => i.name)).toContain('pg');
  });

  it('slack: @slack/web-api on the first call, libsql on the first keyed one', async () => {
    const stateDir = tempDir('fleet-state-');
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true, stateDir, vars: trace });
    try {
      expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      const post = await s.call(
        'post_message',
        { channel: 'C0DEVBOTTEST', text: 'keyed' },
        { 'fleet/idempotency-key': 'snapshot-1' },
      );
      expect(post.structuredContent, text(post)).toMatchObject({ status: 'completed' });
      expect(readdirSync(stateDir).length).toBeGreaterThan(0);
      expect(s.stderr()).toContain(FROM_SNAPSHOT);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('slack.prod at rest keeps no state driver: libsql is mapped only once a call is recorded', async () => {
    // the late-answer watch asks the store for withdrawn approvals at every start; one never written has none
    const mapped = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libsql');
    const s = await serve({
      connector: 'slack',
      env: 'prod',
      sandbox: true,
      vars: { ...trace, FLEET_ACTOR: 'U0EDITOR1' },
    });
    try {
      await s.client.listTools();
      await waitFor(() => s.stderr().includes('fleet: upstream open'), 60_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(mapped(s.pid)).toBe(false);
      // a call's record goes on the trail under the trail's lock, which the driver holds
      await s.call('list_channels', {});
      expect(mapped(s.pid)).toBe(true);
    } finally {
      await s.close();
    }
  }, 90_000);

  it('socket: @slack/socket-mode once an approval waits on an app_token', async () => {
    const team = 'T0BLOGPROD';
    const sb = await startSlackSandbox(0);
    const scopes = scopesCopy({
      'fleet.yaml': (t) =>
        t.replace(
          '    credential: env:SLACK_APPROVALS_TOKEN\n',
          '    credential: env:SLACK_APPROVALS_TOKEN\n    app_token: env:SLACK_APP_TOKEN\n',
        ),
    });
    const s = await serve({
      connector: 'slack',
      env: 'prod',
      upstream: sb.url,
      scopes,
      vars: {
        ...trace,
        SLACK_BOT_TOKEN_PROD: sb.issue(team, ['channels:read', 'channels:history', 'chat:write', 'users:read']),
        ...approvalsIdentity(sb),
        SLACK_APP_TOKEN: sb.socketMode(team),
      },
    });
    try {
      const thread = sb.say(team, 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes');
      void s
        .call(
          'update_message',
          { channel: 'C0EDITORIAL', ts: '1767226320.000112', text: 'socket journey' },
          { 'fleet/actor': 'U0WRITER1', 'fleet/thread': thread },
        )
        .catch(() => {});
      await waitFor(() => sb.emulator.requests.some((r) => r.route === 'apps.connections.open') || undefined, 45_000);
      expect(s.stderr()).toContain(FROM_SNAPSHOT);
      expect(s.stderr()).not.toMatch(/Cannot find module|Socket Mode:/);
    } finally {
      await s.close();
      await sb.close();
    }
  }, 90_000);

  it('starts with a V8 option in NODE_OPTIONS (a heap cap), which a snapshot refuses: from the bundle', async () => {
    for (const NODE_OPTIONS of ['--max-old-space-size=128', '--max-semi-space-size=8']) {
      const r = await runCli(['verify', '--scopes', join(ROOT, 'scopes'), '--no-docs'], {
        env: { NODE_OPTIONS, ...trace },
      });
      expect(r.code, `${NODE_OPTIONS}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stderr).not.toContain(FROM_SNAPSHOT);
    }
  }, 60_000);

  it('two starts from one snapshot draw their own random values: call ids differ', async () => {
    // Node caches random data for randomUUID and randomInt: a cache filled while the snapshot was
    // built (a module-level randomUUID()) made every process draw the same call and task ids
    const both = await Promise.all(
      [0, 1].map(() => serve({ connector: 'slack', env: 'dev', sandbox: true, vars: trace })),
    );
    try {
      for (const s of both) expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      for (const s of both) expect(s.stderr()).toContain(FROM_SNAPSHOT);
    } finally {
      await Promise.all(both.map((s) => s.close()));
    }
    const ids = both.map((s) => [...new Set(auditRecords(s.auditFile).map((r) => r.call as string))]);
    expect(ids.map((x) => x.length)).toEqual([1, 1]);
    expect(ids[0]![0]).not.toBe(ids[1]![0]);
  }, 60_000);

  it("cloudflare: the SDK, and sql.js's wasm for a D1 read verdict", async () => {
    const s = await serve({ connector: 'cloudflare', env: 'dev', sandbox: true, vars: trace });
    try {
      const r = await s.call('d1_query', { database_id: 'c0ffee00d1d14000a000000000000001', sql: 'SELECT 1 AS one' });
      expect(r.isError, text(r)).toBeFalsy();
      expect(text(r)).toContain('one');
      expect(s.stderr()).toContain(FROM_SNAPSHOT);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('doppler: the SDK', async () => {
    const s = await serve({ connector: 'doppler', env: 'dev', sandbox: true, vars: trace });
    try {
      const r = await s.call('list_projects');
      expect(text(r)).toContain('blogbot');
      expect(s.stderr()).toContain(FROM_SNAPSHOT);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('otlp: the OpenTelemetry SDK, on the first record exported', async () => {
    const bodies: string[] = [];
    const receiver = createServer((req, res) => {
      let b = '';
      req
        .on('data', (d) => (b += d))
        .on('end', () => {
          bodies.push(b);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
      const s = await serve({
        connector: 'slack',
        env: 'dev',
        sandbox: true,
        vars: { ...trace, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BLRP_SCHEDULE_DELAY: '50' },
      });
      await s.call('get_user', { user: 'U0DEVALICE' });
      await waitFor(() => bodies.some((b) => b.includes('fleet.audit')), 20_000);
      expect(s.stderr()).toContain(FROM_SNAPSHOT);
      await s.close();
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  }, 60_000);

  describe.skipIf(!PG_URL)('postgres', () => {
    it('pg: state migrate, a call, suspend and audit export on a PostgreSQL store', async () => {
      const db = `fleet_snapshot_${process.pid}`;
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${db}`);
      try {
        const url = PG_URL.replace(/\/[^/?]+(\?|$)/, `/${db}$1`);
        const scopes = httpScopes('clients: {}\n', (f, t) =>
          f === 'fleet.yaml' ? `${t}\nstore:\n  engine: postgres\n  url: env:FLEET_STATE_PG\n` : t,
        );
        const env = { FLEET_STATE_PG: url, ...trace };
        const migrate = await runCli(['state', 'migrate', '--scopes', scopes], { env });
        expect(migrate.stderr).toContain(FROM_SNAPSHOT);
        expect(migrate.code, migrate.stderr).toBe(0);
        expect(migrate.stdout).toMatch(/migrated from version 0 to \d+/);
        // two processes from the same snapshot at once: each its own owner id (no random value drawn
        // while the snapshot was built may be served again to every start)
        const both = await Promise.all(
          [0, 1].map(() => serve({ connector: 'slack', env: 'dev', sandbox: true, scopes, vars: env })),
        );
        try {
          for (const [i, s] of both.entries()) {
            const post = await s.call(
              'post_message',
              { channel: 'C0DEVBOTTEST', text: `on pg ${i}` },
              { 'fleet/idempotency-key': `snapshot-pg-${i}` },
            );
            expect(post.structuredContent, text(post) + s.stderr()).toMatchObject({ status: 'completed' });
          }
        } finally {
          await Promise.all(both.map((s) => s.close()));
        }
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        const owners = (await c.query("SELECT owner FROM fleet_keys WHERE key LIKE 'snapshot-pg-%'")).rows.map(
          (r) => r.owner,
        );
        await c.end();
        expect(new Set(owners).size).toBe(2);
        const suspend = await runCli(['suspend', 'slack.dev', '--reason', 'snapshot walk', '--scopes', scopes], {
          env,
        });
        expect(suspend.code, suspend.stderr).toBe(0);
        const out = join(tempDir('fleet-export-'), 'trail.jsonl');
        const exported = await runCli(
          ['audit', 'export', '--instance', 'slack.dev', '--out', out, '--scopes', scopes],
          { env },
        );
        expect(exported.code, exported.stderr).toBe(0);
        expect(existsSync(out) && readFileSync(out, 'utf8')).toContain('"post_message"');
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
        await admin.end();
      }
    }, 90_000);
  });
});
