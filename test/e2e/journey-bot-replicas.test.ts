// Journey: the bot behind a load balancer, two replicas of slack.prod on PostgreSQL, and a replica
// that dies. The bot's typed client (client/index.ts) runs an approval-gated edit as an MCP task;
// the replica holding it dies after its request reached Slack but before it kept where (the race in
// which a retry once waited on a second request nobody answered): the client's next poll fails fast
// on the dead replica and is retried through the balancer on the other, which finds the post and
// carries the task on — the editor is asked once, the edit runs once. A write in flight on a dying
// replica fails fast at the client, not after its timeout, and its retry never runs it twice.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetClient } from '../../client/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { runCli, waitFor } from '../helpers.js';
import { httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { BOT_MESSAGE, PROD_SCOPES, workspace } from '../slack-prod.js';
import { freshDatabase, PG_STORE, PG_URL } from '../state/pg.js';

/** Forwards every request to the replica it is pointed at; a replica that dies mid-answer cuts the answer. */
class Balancer {
  target = '';
  private server: Server | undefined;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const t = new URL(this.target);
      const up = httpRequest(
        {
          host: t.hostname,
          port: t.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: t.host },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.on('error', () => res.destroy());
          r.on('aborted', () => res.destroy());
          r.pipe(res);
        },
      );
      up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      req.pipe(up);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe.skipIf(!PG_URL)('journey: the bot behind a load balancer, a replica dies', () => {
  let sb: SlackSandbox;
  let scopes: string;
  let url: string;
  const db = 'fleet_bot_replicas';
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  const bearer = mintToken();
  const replicas: HttpServed[] = [];
  const balancer = new Balancer();
  const start = () =>
    serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', scopes], {
      vars: {
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
    });
  const requests = (marker: string) =>
    workspace(sb)
      .channel('C0APPROVALS')
      .messages.filter(
        (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
      );
  const updates = (marker: string) =>
    sb.emulator.requests.filter((r) => r.route === 'chat.update' && r.params.text === marker).length;
  const posts = (marker: string) =>
    sb.emulator.requests.filter((r) => r.route === 'chat.postMessage' && r.params.text === marker).length;
  /** kills the replica the balancer points at, then points it at a live one */
  const killServing = async () => {
    const dead = replicas.findIndex((r) => balancer.target === r.url);
    process.kill(replicas[dead]!.pid, 'SIGKILL');
    const at = Date.now();
    await replicas[dead]!.exited;
    balancer.target = replicas[1 - dead]!.url;
    replicas[dead] = await start();
    return at;
  };

  beforeAll(async () => {
    sb = await startSlackSandbox(0, { speedup: 60 });
    database = await freshDatabase(db);
    url = database.url;
    scopes = httpScopes(
      `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, calling every replica of slack.prod behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer)}
    review_by: '2027-05-31'
`,
      (f, t) => (f === 'fleet.yaml' ? `${t}${PG_STORE}` : t),
    );
    const m = await runCli(['state', 'migrate', '--scopes', scopes], { env: { FLEET_STATE_PG: url } });
    expect(m.code, m.stderr).toBe(0);
    replicas.push(...(await Promise.all([start(), start()])));
    await balancer.start();
    balancer.target = replicas[0]!.url;
  }, 90_000);

  afterAll(async () => {
    await balancer.stop();
    await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
    await sb?.close();
    await database?.drop();
  }, 30_000);

  it('a task whose replica dies between posting its request and keeping where is carried on by the other: asked once, run once', async () => {
    const slack = fleetClient('slack.prod', {
      url: `${balancer.url}/mcp/slack/prod`,
      token: bearer,
      timeoutMs: 60_000,
    });
    const marker = `Release notes 7.0 (${process.pid})`;
    const key = `edit-lb-${process.pid}`;
    const asked = workspace(sb).asks('U0WRITER1');
    // the request's post is slow, and where it landed cannot be kept: the holder dies in between
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 1500, times: 1 });
    const call = slack.update_message(
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
      { actor: asked['fleet/actor'], thread: asked['fleet/thread'], idempotencyKey: key },
    );
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await waitFor(
        () =>
          sb.emulator.requests.some(
            (x) => x.route === 'chat.postMessage' && String(x.params.text ?? '').includes(marker),
          ),
        20_000,
      );
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM fleet_approvals WHERE instance = $1 AND id = $2 FOR UPDATE', [
        'slack.prod',
        `key:${key}`,
      ]);
      await waitFor(() => requests(marker)[0], 20_000);
      await killServing();
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
    const req = requests(marker)[0]!;
    await workspace(sb)
      .as('U0EDITOR1')
      .chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    const r = await Promise.race([
      call,
      new Promise<never>((_, no) =>
        setTimeout(
          () => no(new Error(`no result 60 s after the approval: requests posted ${requests(marker).length}`)),
          60_000,
        ),
      ),
    ]);
    expect(r.ok, r.text).toBe(true);
    expect(updates(marker)).toBe(1);
    expect(requests(marker)).toHaveLength(1);
  }, 120_000);

  it('a write in flight on a replica that dies fails fast at the client; the retry under its key never runs it twice', async () => {
    const slack = fleetClient('slack.prod', {
      url: `${balancer.url}/mcp/slack/prod`,
      token: bearer,
      timeoutMs: 60_000,
      attempts: 1,
    });
    const marker = `draft in flight (${process.pid})`;
    const key = `post-lb-${process.pid}`;
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 3000, times: 1 });
    const ctx = { ...workspace(sb).asks('U0EDITOR2'), idempotencyKey: key };
    const meta = { actor: ctx['fleet/actor'], thread: ctx['fleet/thread'], idempotencyKey: key };
    let failedAt = 0;
    const first = slack.post_message({ channel: 'C0EDITORIAL', text: marker }, meta).catch((e: Error) => {
      failedAt = Date.now();
      return e;
    });
    await waitFor(
      () => sb.emulator.requests.some((x) => x.route === 'chat.postMessage' && x.params.text === marker),
      20_000,
    );
    const killedAt = await killServing();
    const lost = await first;
    expect(lost, 'the call on the dead replica').toBeInstanceOf(Error);
    expect(
      failedAt - killedAt,
      `the client gave up ${failedAt - killedAt} ms after its replica died (its timeout: 60 s)`,
    ).toBeLessThan(10_000);
    const retry = await fleetClient('slack.prod', {
      url: `${balancer.url}/mcp/slack/prod`,
      token: bearer,
    }).post_message({ channel: 'C0EDITORIAL', text: marker }, meta);
    // the first call stopped before its outcome was kept: the retry says so, or replays it from the trail
    expect(retry.ok ? (retry.data as { status?: string }).status : retry.status, retry.text).toMatch(
      /^(failed|replayed)$/,
    );
    expect(posts(marker)).toBeLessThanOrEqual(1);
  }, 120_000);
});
