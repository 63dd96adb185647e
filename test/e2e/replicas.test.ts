// Replicas of one instance on one PostgreSQL: three `fleet serve` processes (stdio; the same call
// path the HTTP transport takes) share one store through `store:` in fleet.yaml. Clients spread keyed
// writes over the replicas and retry on another one: every key reaches the sandbox exactly once; a
// rate of N admits exactly N across replicas; a replica SIGKILLed mid-call leaves an UNKNOWN call,
// never a duplicate; the exported chain verifies; with the database cut off mid-load calls are
// refused, and they resume by themselves once it is back. The database sits behind a loopback TCP
// proxy the test can cut, as a network partition or a restart would.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { AuditLog } from '../../shared/audit/log.js';
import { runCli, SCOPES, serve, tempDir, text, type Served } from '../helpers.js';
import { PG_URL } from '../state/pg.js';

const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
const key = (k: string) => ({ 'fleet/idempotency-key': k });

/** A loopback TCP proxy to the test database that can be cut and restored on the same port. */
class Proxy {
  private server?: Server;
  private conns = new Set<Socket>();
  port = 0;
  constructor(private readonly target: () => Socket) {}
  async start(): Promise<void> {
    this.server = createServer((c) => {
      const up = this.target();
      this.conns.add(c).add(up);
      const drop = () => (c.destroy(), up.destroy(), this.conns.delete(c), this.conns.delete(up));
      c.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      c.pipe(up).pipe(c);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
}

/** Parts of a libpq URL: its user, and where it listens (Unix socket folder via ?host=, or host:port). */
function parts(url: string): { user: string; connect: () => Socket } {
  const user = decodeURIComponent(/^postgres(?:ql)?:\/\/([^:@/]+)(?::[^@/]*)?@/.exec(url)?.[1] ?? 'postgres');
  const query = new URLSearchParams(url.split('?')[1] ?? '');
  const authority = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url)?.[1] ?? '';
  const [h, p] = authority.split(':');
  const host = query.get('host') ?? (h || '/var/run/postgresql');
  const port = Number(query.get('port') ?? (p || 5432));
  return { user, connect: host.startsWith('/') ? () => connect(join(host, `.s.PGSQL.${port}`)) : () => connect(port, host) };
}

describe.skipIf(!PG_URL)('replicas on one PostgreSQL', () => {
  let sb: SlackSandbox;
  let proxy: Proxy;
  let url: string;
  let scopes: string;
  let replicas: Served[] = [];
  let token: string;
  const db = `fleet_replicas_${process.pid}`;
  const admin = () => new pg.Client({ connectionString: PG_URL });
  const posts = (t: string) => sb.emulator.requests.filter((r) => r.route === 'chat.postMessage' && r.params.text === t).length;
  const start = () =>
    serve({ connector: 'slack', env: 'dev', upstream: sb.url, scopes, vars: { SLACK_BOT_TOKEN_DEV: token, FLEET_STATE_PG: url } });
  const trail = async (): Promise<Record<string, any>[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query("SELECT line FROM fleet_audit WHERE instance = 'slack.dev' ORDER BY seq")).rows.map((r) => JSON.parse(r.line));
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    sb = await startSlackSandbox();
    token = sb.issue('T0BLOGDEV', DEV_SCOPES);
    const a = admin();
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${db}`);
    await a.query(`CREATE DATABASE ${db}`);
    await a.end();
    const { user, connect: toDb } = parts(PG_URL);
    proxy = new Proxy(toDb);
    await proxy.start();
    url = `postgresql://${user}@127.0.0.1:${proxy.port}/${db}`;
    scopes = tempDir('fleet-scopes-');
    for (const f of ['slack.dev.yaml', 'slack.prod.yaml', 'fleet.yaml']) {
      let t = readFileSync(join(SCOPES, f), 'utf8');
      if (f === 'slack.dev.yaml') t = t.replace(/  read_history:    \{ channels: \[([^\]]+)\] \}/, '  read_history:    { channels: [$1], rate: 7/hour }');
      if (f === 'fleet.yaml') t += '\nstore:\n  engine: postgres\n  url: env:FLEET_STATE_PG\n';
      writeFileSync(join(scopes, f), t);
    }
    expect(readFileSync(join(scopes, 'slack.dev.yaml'), 'utf8')).toContain('rate: 7/hour');
    const before = await runCli(['state', 'migrate', '--scopes', scopes], { env: { FLEET_STATE_PG: url } });
    expect(before.stdout).toMatch(/migrated from version 0 to \d+/);
    expect((await runCli(['state', 'migrate', '--scopes', scopes], { env: { FLEET_STATE_PG: url } })).stdout).toMatch(/already at version/);
    replicas = await Promise.all([start(), start(), start()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close().catch(() => {})));
    await proxy?.cut();
    await sb?.close();
    const a = admin();
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    await a.end();
  });

  it('runs every key exactly once while clients retry on other replicas', async () => {
    const keys = Array.from({ length: 18 }, (_, i) => `replica-${process.pid}-${i}`);
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 200, times: 6 });
    const results = await Promise.all(
      keys.flatMap((k, i) => [0, 1, 2].map((j) => replicas[(i + j) % 3]!.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k)))),
    );
    for (const k of keys) expect(posts(k), k).toBe(1);
    const statuses = results.map((r) => (r.structuredContent as { status?: string }).status);
    expect(statuses.filter((s) => s === 'completed')).toHaveLength(keys.length);
    expect(statuses.every((s) => s === 'completed' || s === 'replayed')).toBe(true);
  });

  it('admits exactly N calls of a rate of N across replicas', async () => {
    const results = await Promise.all(Array.from({ length: 18 }, (_, i) => replicas[i % 3]!.call('read_history', { channel: 'C0DEVSCRATCH' })));
    const limited = results.filter((r) => r.isError && /rate limit 7\/hour/.test(text(r)));
    expect(results.length - limited.length).toBe(7);
    expect(limited).toHaveLength(11);
  });

  it('a replica killed mid-call leaves an UNKNOWN call that no other replica runs again', async () => {
    const k = `doomed-${process.pid}`;
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 3000 });
    const victim = replicas[0]!;
    void victim.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k)).catch(() => {});
    await expect.poll(async () => (await trail()).some((r) => r.key === k && r.phase === 'intent'), { timeout: 15_000 }).toBe(true);
    process.kill(victim.pid, 'SIGKILL');
    const retry = await replicas[1]!.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    expect(retry.isError).toBe(true);
    expect(text(retry)).toMatch(/stopped before its outcome was recorded/);
    expect(posts(k)).toBeLessThanOrEqual(1);
    const again = await replicas[2]!.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    expect(text(again)).toMatch(/stopped before its outcome was recorded/);
    const shown = await runCli(['audit', 'show', '--instance', 'slack.dev', '--scopes', scopes, '--json'], { env: { FLEET_STATE_PG: url } });
    const calls = shown.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(calls.filter((c) => c.outcome === 'unknown' && c.records.some((r: { key?: string }) => r.key === k))).toHaveLength(1);
    replicas[0] = await start();
  }, 30_000);

  it('exports a chain that fleet audit verify accepts, written by all three replicas', async () => {
    const out = join(tempDir(), 'slack.dev.jsonl');
    const env = { FLEET_STATE_PG: url };
    const ex = await runCli(['audit', 'export', '--instance', 'slack.dev', '--scopes', scopes, '--out', out], { env });
    expect(ex.code, ex.stderr).toBe(0);
    const v = await runCli(['audit', 'verify', out]);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toMatch(/chain intact, \d+ records/);
    const direct = await runCli(['audit', 'verify', '--instance', 'slack.dev', '--scopes', scopes], { env });
    expect(direct.code, direct.stdout + direct.stderr).toBe(0);
    expect(direct.stdout).toContain('postgresql:slack.dev');
  });

  it('moves an embedded trail into PostgreSQL with its chain intact, once', async () => {
    const file = join(tempDir(), 'slack.prod.jsonl');
    const log = new AuditLog(file, 'slack.prod');
    for (let i = 0; i < 120; i++) await log.append({ call: `old-${i}`, instance: 'slack.prod', phase: 'decision', decision: 'deny', rule: 'tools' });
    log.close();
    const env = { FLEET_STATE_PG: url };
    const first = await runCli(['audit', 'import', file, '--instance', 'slack.prod', '--scopes', scopes], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/imported 120 records/);
    expect((await runCli(['audit', 'import', file, '--instance', 'slack.prod', '--scopes', scopes], { env })).stdout).toMatch(/imported 0 records/);
    const out = join(tempDir(), 'back.jsonl');
    await runCli(['audit', 'export', '--instance', 'slack.prod', '--scopes', scopes, '--out', out], { env });
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(file, 'utf8'));
    // a trail that is not a continuation is refused
    const other = join(tempDir(), 'other.jsonl');
    const l2 = new AuditLog(other, 'slack.prod');
    await l2.append({ call: 'stranger' });
    l2.close();
    const bad = await runCli(['audit', 'import', other, '--instance', 'slack.prod', '--scopes', scopes], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/import of .* refused: record 1 differs/);
  });

  it('refuses calls while the database is unreachable and resumes by itself', async () => {
    await proxy.cut();
    const k = `outage-${process.pid}`;
    const during = await replicas[1]!.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    expect(during.isError).toBe(true);
    expect(text(during)).toMatch(/refused: .*(PostgreSQL|postgresql:slack\.dev).*/);
    expect(text(during)).not.toContain(url);
    expect(posts(k)).toBe(0);
    await proxy.start(); // the same port: as if the database came back
    await expect
      .poll(async () => (await replicas[1]!.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k))).structuredContent, { timeout: 20_000, interval: 500 })
      .toMatchObject({ status: expect.stringMatching(/completed|replayed/) });
    expect(posts(k)).toBe(1);
    const v = await runCli(['audit', 'verify', '--instance', 'slack.dev', '--scopes', scopes], { env: { FLEET_STATE_PG: url } });
    expect(v.code, v.stdout).toBe(0);
  }, 40_000);
});
