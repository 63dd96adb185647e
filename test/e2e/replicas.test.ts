// Replicas of one instance on one PostgreSQL, the way production runs them: three `fleet serve
// --http` processes share one store through `store:` in fleet.yaml, and many clients (the SDK's
// Streamable HTTP client, several per replica) spread keyed writes over them, retrying on another
// replica when an answer does not come. Every key reaches the sandbox exactly once; a rate of N
// admits exactly N across replicas; a replica SIGKILLed mid-call leaves an UNKNOWN call, never a
// duplicate; a pending Slack approval survives the replica that asked (a retry elsewhere waits on
// the same post, or applies the answer given meanwhile — once); the exported chain verifies; with
// the database cut off mid-load calls are refused, and they resume by themselves once it is back.
// The database sits behind a loopback TCP proxy the test can cut, as a partition or a restart would.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { WebClient } from '@slack/web-api';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { AuditLog } from '../../shared/audit/log.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { runCli, tempDir, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { freshDatabase, PG_STORE, PG_URL, pgParts, TcpProxy } from '../state/pg.js';

const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const BOT_MESSAGE = '1767226320.000112'; // posted by the prod bot in C0EDITORIAL
const CLIENTS_PER_REPLICA = 3;
const key = (k: string) => ({ 'fleet/idempotency-key': k });
const status = (r: CallToolResult) => (r.structuredContent as { status?: string } | undefined)?.status;

/** One `fleet serve --http` replica and the clients connected to it, per instance. */
interface Replica {
  served: HttpServed;
  dev: Client[];
  prod: Client[];
}

describe.skipIf(!PG_URL)('replicas of one instance over HTTP on one PostgreSQL', () => {
  let sb: SlackSandbox;
  let proxy: TcpProxy;
  let url: string;
  let scopes: string;
  const replicas: Replica[] = [];
  const bearer = { dev: mintToken(), prod: mintToken() };
  const db = 'fleet_replicas';
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  const env = () => ({ FLEET_STATE_PG: url });
  const posts = (t: string) =>
    sb.emulator.requests.filter((r) => r.route === 'chat.postMessage' && r.params.text === t).length;
  const channel = (id: string) => sb.workspace('T0BLOGPROD').channels.find((c) => c.id === id)!;
  const as = (user: string) =>
    new WebClient(sb.issue('T0BLOGPROD', ['chat:write', 'reactions:write'], undefined, user), {
      slackApiUrl: sb.url,
      retryConfig: { retries: 0 },
    });

  const start = async (): Promise<Replica> => {
    const served = await serveHttp(
      ['--instance', 'slack.dev', '--instance', 'slack.prod', '--upstream', sb.url, '--scopes', scopes],
      {
        vars: {
          SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES),
          SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', PROD_SCOPES),
          SLACK_APPROVALS_TOKEN: sb.issue(
            'T0BLOGPROD',
            ['chat:write', 'channels:history', 'users:read'],
            undefined,
            'U0APPROVALS',
          ),
          FLEET_APPROVAL_POLL_MS: '100',
          FLEET_STATE_PG: url,
        },
      },
    );
    const many = (path: string) =>
      Promise.all(Array.from({ length: CLIENTS_PER_REPLICA }, () => connect(`${served.url}${path}`, bearer.dev)));
    return {
      served,
      dev: await many('/mcp/slack/dev'),
      prod: [await connect(`${served.url}/mcp/slack/prod`, bearer.prod)],
    };
  };
  /** SIGKILLs replica i (its clients' calls in flight fail) and starts a fresh one in its place. */
  const kill = async (i: number) => {
    const r = replicas[i]!;
    process.kill(r.served.pid, 'SIGKILL');
    await r.served.exited;
    for (const c of [...r.dev, ...r.prod]) void c.close().catch(() => {});
  };
  const keyState = async (k: string): Promise<string | undefined> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query('SELECT state FROM fleet_keys WHERE key = $1', [k])).rows[0]?.state;
    } finally {
      await c.end();
    }
  };
  const trail = async (instance = 'slack.dev'): Promise<Record<string, any>[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query('SELECT line FROM fleet_audit WHERE instance = $1 ORDER BY seq', [instance])).rows.map(
        (r) => JSON.parse(r.line),
      );
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    sb = await startSlackSandbox();
    database = await freshDatabase(db);
    const { user, connect: toDb } = pgParts(PG_URL);
    proxy = new TcpProxy(toDb);
    await proxy.start();
    url = `postgresql://${user}@127.0.0.1:${proxy.port}/${database.name}`;
    scopes = httpScopes(
      `clients:
  staging-bots:
    owner: content-platform <content@example.com>
    purpose: The staging bots, calling every replica of slack.dev behind the load balancer.
    instances: [slack.dev]
    token: sha256:${tokenHash(bearer.dev)}
    rate: 100/second
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, calling every replica of slack.prod behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer.prod)}
`,
      (f, t) => {
        if (f === 'slack.dev.yaml')
          return t.replace(
            / {2}read_history: {4}\{ channels: \[([^\]]+)\] \}/,
            '  read_history:    { channels: [$1], rate: 7/hour }',
          );
        if (f === 'fleet.yaml') return `${t}${PG_STORE}`;
        return t;
      },
    );
    expect(readFileSync(join(scopes, 'slack.dev.yaml'), 'utf8')).toContain('rate: 7/hour');
    const first = await runCli(['state', 'migrate', '--scopes', scopes], { env: env() });
    expect(first.stdout).toMatch(/migrated from version 0 to \d+/);
    expect((await runCli(['state', 'migrate', '--scopes', scopes], { env: env() })).stdout).toMatch(
      /already at version/,
    );
    replicas.push(...(await Promise.all([start(), start(), start()])));
  }, 90_000);

  afterAll(async () => {
    for (const r of replicas) for (const c of [...r.dev, ...r.prod]) await c.close().catch(() => {});
    await Promise.all(replicas.map((r) => r.served.stop().catch(() => {})));
    await proxy?.cut();
    await sb?.close();
    await database?.drop();
  }, 30_000);

  /**
   * A client's keyed post: first to replica `first` with a short patience (answers are slow on
   * purpose), then on to the next replica with the same key until the call has a final status.
   */
  const post = async (
    k: string,
    first: number,
    patienceMs: number,
  ): Promise<{ result: CallToolResult; tried: number[] }> => {
    const tried: number[] = [];
    let last = '';
    for (let attempt = 0; attempt < 8; attempt++) {
      const i = (first + attempt) % replicas.length;
      tried.push(i);
      const c = replicas[i]!.dev[(first + attempt * 7) % CLIENTS_PER_REPLICA]!;
      try {
        const r = (await c.callTool(
          { name: 'post_message', arguments: { channel: 'C0DEVBOTTEST', text: k }, _meta: key(k) },
          undefined,
          { timeout: attempt ? 30_000 : patienceMs },
        )) as CallToolResult;
        if (status(r) === 'completed' || status(r) === 'replayed') return { result: r, tried };
        last = `${status(r)}: ${text(r).slice(0, 300)}`;
        // "still running; retry with the same key later": as a client would, it waits before asking
        // again (a key refused in an outage is let go once its replica reaches the database again)
        if (/still running/.test(last)) await new Promise((res) => setTimeout(res, 250 * 2 ** Math.min(attempt, 3)));
      } catch (e) {
        // no answer in time (or the connection dropped): the same key, on the next replica
        last = (e as Error).message;
      }
    }
    throw new Error(`${k}: no final status after 8 attempts on ${tried.join(',')} (the last: ${last})`);
  };

  it('runs every key exactly once while many clients retry on other replicas', async () => {
    const keys = Array.from({ length: 24 }, (_, i) => `replica-${process.pid}-${i}`);
    // a third of the posts answer slowly: their clients give up waiting and retry elsewhere
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 1500, times: 8 });
    // the clients wait 500 ms, then retry elsewhere (a timed-out call is withdrawn: if its post had
    // gone out, the retry replays that outcome; if not, the retry runs it)
    const done = await Promise.all(keys.map((k, i) => post(k, i % 3, 500)));
    for (const k of keys) expect(posts(k), k).toBe(1);
    expect(done.filter((d) => d.tried.length > 1).length).toBeGreaterThan(0); // some did move replicas
    // hedged requests: the same key sent to two replicas at once; the second waits for the first
    // holder and replays its outcome
    sb.emulator.clearFaults();
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 500, times: 6 });
    const hedgedKeys = Array.from({ length: 6 }, (_, i) => `hedged-${process.pid}-${i}`);
    const hedged = await Promise.all(
      hedgedKeys.map((k, i) => Promise.all([post(k, i % 3, 30_000), post(k, (i + 1) % 3, 30_000)])),
    );
    for (const k of hedgedKeys) expect(posts(k), k).toBe(1);
    for (const pair of hedged) expect(pair.map((d) => status(d.result)).sort()).toEqual(['completed', 'replayed']);
    keys.push(...hedgedKeys);
    // on the record: one intent per key (one upstream run), each with its outcome (under load a
    // slow post may outlive the call's own timeout: then the outcome says so, and a retry replays it)
    const t = await trail();
    const intents = t.filter((r) => r.phase === 'intent' && keys.includes(r.key));
    expect(intents.map((r) => r.key).sort()).toEqual([...keys].sort());
    const settled = new Set(t.filter((r) => r.phase === 'outcome').map((r) => r.call));
    expect(intents.filter((r) => !settled.has(r.call))).toEqual([]);
    sb.emulator.clearFaults();
  }, 90_000);

  it('admits exactly N calls of a rate of N across replicas', async () => {
    const results = await Promise.all(
      Array.from(
        { length: 18 },
        (_, i) =>
          replicas[i % 3]!.dev[Math.floor(i / 3) % CLIENTS_PER_REPLICA]!.callTool({
            name: 'read_history',
            arguments: { channel: 'C0DEVSCRATCH' },
          }) as Promise<CallToolResult>,
      ),
    );
    const limited = results.filter((r) => r.isError && /rate limit 7\/hour/.test(text(r)));
    expect(results.length - limited.length).toBe(7);
    expect(limited).toHaveLength(11);
  });

  it('a replica killed mid-call leaves an UNKNOWN call that no other replica runs again', async () => {
    const k = `doomed-${process.pid}`;
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 3000 });
    const lost = replicas[0]!.dev[0]!.callTool({
      name: 'post_message',
      arguments: { channel: 'C0DEVBOTTEST', text: k },
      _meta: key(k),
    }).then(
      () => 'answered',
      () => 'lost',
    );
    await expect
      .poll(async () => (await trail()).some((r) => r.key === k && r.phase === 'intent'), { timeout: 20_000 })
      .toBe(true);
    await kill(0);
    expect(await lost).toBe('lost');
    for (const i of [1, 2]) {
      const retry = (await replicas[i]!.dev[1]!.callTool({
        name: 'post_message',
        arguments: { channel: 'C0DEVBOTTEST', text: k },
        _meta: key(k),
      })) as CallToolResult;
      expect(retry.isError).toBe(true);
      expect(status(retry)).toBe('failed');
      expect(text(retry)).toMatch(/stopped before its outcome was recorded/);
    }
    expect(posts(k)).toBeLessThanOrEqual(1);
    const shown = await runCli(['audit', 'show', '--instance', 'slack.dev', '--scopes', scopes, '--json'], {
      env: env(),
    });
    const calls = shown.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(
      calls.filter((c) => c.outcome === 'unknown' && c.records.some((r: { key?: string }) => r.key === k)),
      shown.stderr + shown.stdout.slice(-3000),
    ).toHaveLength(1);
    replicas[0] = await start();
    sb.emulator.clearFaults();
  }, 60_000);

  it('a replica killed after its outcome reached the trail: the call fails fast at the client, and a retry replays that outcome', async () => {
    const k = `settled-${process.pid}`;
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 2000, times: 1 });
    const sent = Date.now();
    let lostAt = 0;
    const first = replicas[0]!.dev[0]!.callTool({
      name: 'post_message',
      arguments: { channel: 'C0DEVBOTTEST', text: k },
      _meta: key(k),
    }).then(
      () => 'answered',
      () => {
        lostAt = Date.now();
        return 'lost';
      },
    );
    await expect
      .poll(async () => (await trail()).some((r) => r.key === k && r.phase === 'intent'), { timeout: 20_000 })
      .toBe(true);
    // the key's row is held, so the replica records the outcome in the trail but cannot keep it with the key
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM fleet_keys WHERE key = $1 FOR UPDATE', [k]);
      const call = (await trail()).find((r) => r.key === k && r.phase === 'intent')!.call;
      await expect
        .poll(async () => (await trail()).some((r) => r.call === call && r.phase === 'outcome' && r.outcome === 'ok'), {
          timeout: 20_000,
        })
        .toBe(true);
      const killedAt = Date.now();
      await kill(0);
      expect(await first).toBe('lost');
      expect(
        lostAt - killedAt,
        `the client waited ${lostAt - killedAt} ms after its replica died (sent ${killedAt - sent} ms before)`,
      ).toBeLessThan(10_000);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
    expect(await keyState(k)).toBe('running'); // what the dead replica left behind
    for (const i of [1, 2]) {
      const retry = (await replicas[i]!.dev[1]!.callTool({
        name: 'post_message',
        arguments: { channel: 'C0DEVBOTTEST', text: k },
        _meta: key(k),
      })) as CallToolResult;
      expect(retry.isError, text(retry)).toBeFalsy();
      expect(status(retry)).toBe('replayed');
      expect(text(retry)).toMatch(/settled from the audit trail/);
    }
    expect(posts(k)).toBe(1);
    expect(await keyState(k)).toBe('done');
    const replays = (await trail()).filter((r) => r.key === k && r.decision === 'replay');
    expect(replays.map((r) => r.settled)).toEqual(['trail', undefined]);
    replicas[0] = await start();
    sb.emulator.clearFaults();
  }, 60_000);

  describe('a Slack approval outlives the replica that asked', () => {
    /** the actor asks in the request channel; the bot's call carries that message as its proof */
    const meta = (k: string) => ({
      ...key(k),
      'fleet/actor': 'U0WRITER1',
      'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes'),
    });
    const edit = (i: number, marker: string, _meta: Record<string, string>) =>
      replicas[i]!.prod[0]!.callTool(
        { name: 'update_message', arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker }, _meta },
        undefined,
        { timeout: 60_000 },
      ) as Promise<CallToolResult>;
    const requests = (marker: string) =>
      channel('C0APPROVALS').messages.filter(
        (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
      );
    const updates = (marker: string) =>
      sb.emulator.requests.filter((r) => r.route === 'chat.update' && r.params.text === marker).length;
    /** the approval records of the request posted at `ts` (by its call's digest), in order */
    const approvals = async (ts: string) => {
      const t = (await trail('slack.prod')).filter((r) => r.phase === 'approval');
      const digest = t.find((r) => r.status === 'requested' && r.ts === ts)?.digest;
      return digest ? t.filter((r) => r.digest === digest) : [];
    };
    const steps = async (ts: string) => (await approvals(ts)).map((r) => r.status as string);
    /** the request of `marker`, once its call has kept where it is (the "requested" record follows that) */
    const asked = async (marker: string) => {
      const req = await waitFor(() => requests(marker)[0], 20_000);
      await expect.poll(() => steps(req.ts), { timeout: 20_000 }).toContain('requested');
      return req;
    };

    it('a retry on another replica waits on the same post, and runs once on its answer', async () => {
      const k = `approve-elsewhere-${process.pid}`;
      const marker = `Release notes 4.4 (${k})`;
      const m = meta(k);
      const first = edit(1, marker, m).then(
        () => 'answered',
        () => 'lost',
      );
      const req = await asked(marker);
      await kill(1); // the asking replica dies while the request waits in Slack
      expect(await first).toBe('lost');
      const retry = edit(2, marker, m);
      await expect.poll(() => steps(req.ts), { timeout: 20_000 }).toContain('resumed');
      // while replica 2 waits, a third attempt sees the approval pending, and does not ask again
      const third = (await replicas[0]!.prod[0]!.callTool({
        name: 'update_message',
        arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
        _meta: m,
      })) as CallToolResult;
      expect(status(third)).toBe('pending_approval');
      await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
      const r = await retry;
      expect(r.isError, text(r)).toBeFalsy();
      expect(status(r)).toBe('completed');
      expect(requests(marker)).toHaveLength(1); // asked once
      expect(updates(marker)).toBe(1); // ran once
      expect(await steps(req.ts)).toEqual(['requested', 'resumed', 'approved']);
      const again = (await replicas[0]!.prod[0]!.callTool({
        name: 'update_message',
        arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
        _meta: m,
      })) as CallToolResult;
      expect(status(again)).toBe('replayed');
      expect(updates(marker)).toBe(1);
      replicas[1] = await start();
    }, 90_000);

    it('an answer given while no replica waits is applied by the retry on a restarted replica, once', async () => {
      const k = `approve-meanwhile-${process.pid}`;
      const marker = `Release notes 4.5 (${k})`;
      const m = meta(k);
      const first = edit(0, marker, m).then(
        () => 'answered',
        () => 'lost',
      );
      const req = await asked(marker);
      await kill(0);
      expect(await first).toBe('lost');
      await as('U0EDITOR2').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' }); // nobody is waiting now
      replicas[0] = await start(); // the same replica, restarted
      const r = await edit(0, marker, m);
      expect(status(r), text(r)).toBe('completed');
      expect(requests(marker)).toHaveLength(1);
      expect(updates(marker)).toBe(1);
      expect(await steps(req.ts)).toEqual(['requested', 'resumed', 'approved']);
      expect((await approvals(req.ts)).at(-1)).toMatchObject({ status: 'approved', by: 'U0EDITOR2' });
      expect(status(await edit(2, marker, m))).toBe('replayed');
      expect(updates(marker)).toBe(1);
    }, 90_000);
  });

  it('exports a chain that fleet audit verify accepts, written by all three replicas', async () => {
    const out = join(tempDir(), 'slack.dev.jsonl');
    const ex = await runCli(['audit', 'export', '--instance', 'slack.dev', '--scopes', scopes, '--out', out], {
      env: env(),
    });
    expect(ex.code, ex.stderr).toBe(0);
    const v = await runCli(['audit', 'verify', out]);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toMatch(/chain intact, \d+ records/);
    const direct = await runCli(['audit', 'verify', '--instance', 'slack.prod', '--scopes', scopes], { env: env() });
    expect(direct.code, direct.stdout + direct.stderr).toBe(0);
    expect(direct.stdout).toContain('postgresql:slack.prod');
  });

  it('moves an embedded trail into PostgreSQL with its chain intact, once', async () => {
    const file = join(tempDir(), 'cloudflare.dev.jsonl');
    const log = new AuditLog(file, 'cloudflare.dev');
    for (let i = 0; i < 120; i++)
      await log.append({
        call: `old-${i}`,
        instance: 'cloudflare.dev',
        phase: 'decision',
        decision: 'deny',
        rule: 'tools',
      });
    log.close();
    const first = await runCli(['audit', 'import', file, '--instance', 'cloudflare.dev', '--scopes', scopes], {
      env: env(),
    });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/imported 120 records/);
    expect(
      (await runCli(['audit', 'import', file, '--instance', 'cloudflare.dev', '--scopes', scopes], { env: env() }))
        .stdout,
    ).toMatch(/imported 0 records/);
    const out = join(tempDir(), 'back.jsonl');
    await runCli(['audit', 'export', '--instance', 'cloudflare.dev', '--scopes', scopes, '--out', out], { env: env() });
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(file, 'utf8'));
    // a trail that is not a continuation is refused
    const other = join(tempDir(), 'other.jsonl');
    const l2 = new AuditLog(other, 'cloudflare.dev');
    await l2.append({ call: 'stranger' });
    l2.close();
    const bad = await runCli(['audit', 'import', other, '--instance', 'cloudflare.dev', '--scopes', scopes], {
      env: env(),
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/import of .* refused: record 1 differs/);
  });

  it('with the database cut mid-load, refuses calls on every replica and resumes by itself', async () => {
    let n = 0;
    const sent: { k: string; r: CallToolResult; posted: number }[] = [];
    const send = async (i: number) => {
      const k = `load-${process.pid}-${++n}`;
      const r = (await replicas[i]!.dev[n % CLIENTS_PER_REPLICA]!.callTool({
        name: 'post_message',
        arguments: { channel: 'C0DEVBOTTEST', text: k },
        _meta: key(k),
      })) as CallToolResult;
      sent.push({ k, r, posted: posts(k) });
      return r;
    };
    let phase: 'before' | 'cut' | 'after' = 'before';
    const seen = { before: 0, cut: [0, 0, 0], after: [0, 0, 0] };
    // one client per replica keeps sending keyed posts, one after another, through the outage
    const load = [0, 1, 2].map(async (i) => {
      for (let j = 0; j < 200; j++) {
        const at = phase;
        const r = await send(i);
        const refused = r.isError && /refused: .*(PostgreSQL|postgresql:slack\.dev)/.test(text(r));
        if (at === 'before' && status(r) === 'completed') seen.before++;
        if (at === 'cut' && phase === 'cut' && refused) seen.cut[i]!++;
        if (at === 'after' && status(r) === 'completed') seen.after[i]!++;
        if (seen.after[i]! >= 2) return;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`replica ${i} did not resume`);
    });
    await waitFor(() => seen.before >= 6, 30_000);
    await proxy.cut();
    phase = 'cut';
    await waitFor(() => seen.cut.every((x) => x >= 2), 30_000);
    await proxy.start(); // the same port: as if the database came back
    phase = 'after';
    await Promise.all(load);
    const refusals = sent.filter((s) => s.r.isError && /refused: .*(PostgreSQL|postgresql:slack\.dev)/.test(text(s.r)));
    expect(refusals.length).toBeGreaterThanOrEqual(6);
    for (const s of refusals) {
      expect(text(s.r)).not.toContain(url); // never the connection string
      expect(s.posted, `${s.k} was refused yet reached Slack`).toBe(0);
    }
    for (const s of sent) expect(posts(s.k), s.k).toBeLessThanOrEqual(1); // never a duplicate
    // a key refused during the outage runs once when retried after it
    const retried = await Promise.all(refusals.slice(0, 3).map((s, i) => post(s.k, i, 30_000)));
    for (const [i, s] of refusals.slice(0, 3).entries()) {
      expect(status(retried[i]!.result)).toMatch(/completed|replayed/);
      expect(posts(s.k)).toBe(1);
    }
    const v = await runCli(['audit', 'verify', '--instance', 'slack.dev', '--scopes', scopes], { env: env() });
    expect(v.code, v.stdout).toBe(0);
  }, 120_000);
});
