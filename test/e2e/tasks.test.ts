// Long approvals as MCP tasks, the way the production bot uses them: over Streamable HTTP with the
// SDK's own client, on two replicas of slack.prod sharing one PostgreSQL. A call that waits on a
// Slack approval returns a task at once; the client goes away; the replica that holds the task is
// killed; an editor approves in Slack; the other replica answers tasks/get and tasks/result, having
// carried the call on — the upstream is called exactly once. Another client cannot see the task;
// tasks/cancel withdraws the Slack request. A client that does not ask for a task still blocks.
import { WebClient } from '@slack/web-api';
import pg from 'pg';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  GetTaskResultSchema,
  ListTasksResultSchema,
  CancelTaskResultSchema,
  TaskStatusNotificationSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { runCli, serve, text, waitFor, type Served } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { freshDatabase, PG_STORE, PG_URL } from '../state/pg.js';

const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const BOT_MESSAGE = '1767226320.000112'; // posted by the prod bot in C0EDITORIAL

describe.skipIf(!PG_URL)('long approvals as MCP tasks, across replicas on PostgreSQL', () => {
  let sb: SlackSandbox;
  let scopes: string;
  let url: string;
  const replicas: HttpServed[] = [];
  const clients: Client[] = [];
  const bearer = { bot: mintToken(), other: mintToken() };
  const db = 'fleet_tasks_e2e';
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  const channel = (id: string) => sb.workspace('T0BLOGPROD').channels.find((c) => c.id === id)!;
  const as = (user: string) =>
    new WebClient(sb.issue('T0BLOGPROD', ['chat:write', 'reactions:write'], undefined, user), {
      slackApiUrl: sb.url,
      retryConfig: { retries: 0 },
    });
  const requests = (marker: string) =>
    channel('C0APPROVALS').messages.filter((m) => m.user === 'U0APPROVALS' && m.text.includes(marker));
  const updates = (marker: string) =>
    sb.emulator.requests.filter((r) => r.route === 'chat.update' && r.params.text === marker).length;
  const meta = () => ({
    'fleet/actor': 'U0WRITER1',
    'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes'),
  });

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
  const client = async (r: HttpServed, token: string) => {
    const c = await connect(`${r.url}/mcp/slack/prod`, token);
    clients.push(c);
    return c;
  };
  const asTask = (c: Client, marker: string) =>
    c.request(
      {
        method: 'tools/call',
        params: {
          name: 'update_message',
          arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
          _meta: meta(),
          task: { ttl: 3_600_000 },
        },
      },
      CreateTaskResultSchema,
    );
  /** where the approval request `id` was posted, as the shared state keeps it */
  const postedAt = async (id: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const ref = (await c.query('SELECT ref FROM fleet_approvals WHERE instance = $1 AND id = $2', ['slack.prod', id]))
        .rows[0]?.ref;
      return ref ? (JSON.parse(ref) as { ts?: string }).ts : undefined;
    } finally {
      await c.end();
    }
  };
  const get = (c: Client, taskId: string) =>
    c.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema);

  beforeAll(async () => {
    // the approvals identity polls every 100 ms here: Slack's windows are shortened, the meaning is not
    sb = await startSlackSandbox(0, { speedup: 60 });
    database = await freshDatabase(db);
    // the same server, this test's own database
    url = database.url;
    scopes = httpScopes(
      `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, calling every replica of slack.prod behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer.bot)}
  moderation-bot:
    owner: content-platform <content@example.com>
    purpose: Another routine of the same bot, with its own credential.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer.other)}
`,
      (f, t) => (f === 'fleet.yaml' ? `${t}${PG_STORE}` : t),
    );
    const m = await runCli(['state', 'migrate', '--scopes', scopes], { env: { FLEET_STATE_PG: url } });
    expect(m.code, m.stderr).toBe(0);
    replicas.push(...(await Promise.all([start(), start()])));
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
    await sb?.close();
    await database?.drop();
  }, 30_000);

  it('lists the approval-gated tools with taskSupport and declares the tasks capability', async () => {
    const c = await client(replicas[0]!, bearer.bot);
    expect(c.getServerCapabilities()?.tasks).toMatchObject({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const tools = (await c.listTools()).tools;
    expect(tools.find((t) => t.name === 'update_message')?.execution).toEqual({ taskSupport: 'optional' });
    expect(tools.find((t) => t.name === 'read_history')?.execution).toBeUndefined();
  }, 30_000);

  it('a task outlives its client and the replica that held it; another replica carries it on and the upstream runs once', async () => {
    const marker = `Release notes 5.0 (task ${process.pid})`;
    const first = await client(replicas[0]!, bearer.bot);
    const created = await asTask(first, marker);
    expect(created.task.status).toBe('working');
    expect(created.task.statusMessage).toMatch(/approval by U0EDITOR1, U0EDITOR2 \(via slack\)/);
    expect(created.task.ttl).toBeGreaterThanOrEqual(15 * 60_000);
    const taskId = created.task.taskId;
    const req = await waitFor(() => requests(marker)[0], 20_000);
    // the request is posted, and where it was posted is kept in the shared state
    await expect.poll(() => postedAt(`key:task:${taskId}`), { timeout: 20_000 }).toBe(req.ts);
    // the client goes away, and the replica holding the task dies while the request waits in Slack
    await first.close();
    process.kill(replicas[0]!.pid, 'SIGKILL');
    await replicas[0]!.exited;
    await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });

    const later = await client(replicas[1]!, bearer.bot);
    // another principal cannot read it, cancel it, or see it listed: as if it did not exist
    const other = await client(replicas[1]!, bearer.other);
    await expect(get(other, taskId)).rejects.toThrow(/Task not found/);
    await expect(other.request({ method: 'tasks/cancel', params: { taskId } }, CancelTaskResultSchema)).rejects.toThrow(
      /Task not found/,
    );
    expect((await other.request({ method: 'tasks/list', params: {} }, ListTasksResultSchema)).tasks).toEqual([]);
    expect(
      (await later.request({ method: 'tasks/list', params: {} }, ListTasksResultSchema)).tasks.map((t) => t.taskId),
    ).toContain(taskId);

    await expect
      .poll(async () => (await get(later, taskId)).status, { timeout: 30_000, interval: 500 })
      .toBe('completed');
    const result = (await later.request(
      { method: 'tasks/result', params: { taskId } },
      CallToolResultSchema,
    )) as CallToolResult;
    expect(result.isError, text(result)).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'completed', ts: BOT_MESSAGE });
    expect(result._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId });
    expect(channel('C0EDITORIAL').messages.find((m) => m.ts === BOT_MESSAGE)!.text).toBe(marker);
    expect(updates(marker)).toBe(1); // the upstream ran exactly once
    expect(requests(marker)).toHaveLength(1); // and the editor was asked once
    // every record of the call names its task
    const shown = await runCli(
      ['audit', 'show', '--instance', 'slack.prod', '--scopes', scopes, '--custody', '--json'],
      { env: { FLEET_STATE_PG: url } },
    );
    const rows = shown.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(rows.filter((r) => r.task === taskId).map((r) => r.result)).toContain('ok');
    replicas[0] = await start();
  }, 120_000);

  it('tasks/cancel withdraws the Slack request; nothing runs', async () => {
    const marker = `Release notes 5.1 (cancelled ${process.pid})`;
    const c = await client(replicas[1]!, bearer.bot);
    const { task } = await asTask(c, marker);
    const req = await waitFor(() => requests(marker)[0], 20_000);
    const cancelled = await c.request(
      { method: 'tasks/cancel', params: { taskId: task.taskId } },
      CancelTaskResultSchema,
    );
    expect(cancelled.status).toBe('cancelled');
    await waitFor(
      () => channel('C0APPROVALS').messages.find((m) => m.ts === req.ts && m.text.includes('Withdrawn')),
      20_000,
    );
    await as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(updates(marker)).toBe(0);
    expect((await get(c, task.taskId)).status).toBe('cancelled');
  }, 60_000);

  it('a client that does not ask for a task gets the blocking call, as before', async () => {
    const marker = `Release notes 5.2 (blocking ${process.pid})`;
    const c = await client(replicas[1]!, bearer.bot);
    const call = c.callTool(
      { name: 'update_message', arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker }, _meta: meta() },
      undefined,
      { timeout: 60_000 },
    );
    const req = await waitFor(() => requests(marker)[0], 20_000);
    await as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    const r = (await call) as CallToolResult;
    expect(r.structuredContent).toMatchObject({ status: 'completed' });
    expect(r).not.toHaveProperty('task');
  }, 60_000);
});

describe('a task over stdio that asks its own user (elicitation, in dev)', () => {
  it('is input_required while the client is asked, then completes; another stdio session cannot see it', async () => {
    let taskId = '';
    let asked: string | undefined;
    const s: Served = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      vars: { FLEET_ACTOR: 'dev@example.com' },
      onElicit: async () => {
        await waitFor(() => taskId || undefined);
        asked = (await s.client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema)).status;
        return { action: 'accept', content: { approve: true } };
      },
    });
    const other = await serve({ connector: 'slack', env: 'dev', sandbox: true });
    // stdio's stream stays open: each change of the task's status is told on it
    const told: string[] = [];
    s.client.setNotificationHandler(
      TaskStatusNotificationSchema,
      (n) => void (n.params.taskId === taskId && told.push(n.params.status)),
    );
    try {
      const ts = (
        (await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'to delete' })).structuredContent as {
          ts: string;
        }
      ).ts;
      const created = await s.client.request(
        {
          method: 'tools/call',
          params: { name: 'delete_message', arguments: { channel: 'C0DEVBOTTEST', ts }, task: {} },
        },
        CreateTaskResultSchema,
      );
      taskId = created.task.taskId;
      expect(created.task.statusMessage).toMatch(/your approval/);
      await expect
        .poll(
          async () => (await s.client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema)).status,
          { timeout: 20_000 },
        )
        .toBe('completed');
      expect(asked).toBe('input_required');
      await expect.poll(() => told.join(','), { timeout: 10_000 }).toBe('input_required,working,completed');
      const r = (await s.client.request(
        { method: 'tasks/result', params: { taskId } },
        CallToolResultSchema,
      )) as CallToolResult;
      expect(r.structuredContent).toMatchObject({ status: 'completed', ts });
      await expect(
        other.client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema),
      ).rejects.toThrow(/Task not found/);
    } finally {
      await s.close();
      await other.close();
    }
  }, 60_000);
});
