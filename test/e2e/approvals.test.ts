// Approvals (elicitation and Slack), rate limits across processes, and replay-safe retries —
// each through the real CLI over stdio, with the Slack sandbox in this process so the tests can
// act as approvers and count what reached the upstream.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, serve, tempDir, text, type Served, waitFor } from '../helpers.js';
import { approvalTimeout, BOT_MESSAGE, serveSlackProd, slackScopes as scopes, workspace } from '../slack-prod.js';

const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sb: SlackSandbox;
let people: ReturnType<typeof workspace>;
beforeAll(async () => {
  sb = await startSlackSandbox();
  people = workspace(sb);
});
afterAll(() => sb.close());

const channel = (id: string) => people.channel(id);
const count = (route: string, pred: (p: Record<string, unknown>) => boolean = () => true) =>
  sb.emulator.requests.filter((r) => r.route === route && pred(r.params)).length;
const asks = (actor: string) => people.asks(actor);
const as = (user: string) => people.as(user);

describe('approval by elicitation (an interactive client)', () => {
  const ownPost = async (s: Served) =>
    ((await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'to delete' })).structuredContent as { ts: string })
      .ts;

  it('runs the call once the user accepts, after showing the exact action', async () => {
    const asked: string[] = [];
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      vars: { FLEET_ACTOR: 'dev@example.com' },
      onElicit: ({ message }) => {
        asked.push(message);
        return { action: 'accept', content: { approve: true } };
      },
    });
    const ts = await ownPost(s);
    const r = await s.call('delete_message', { channel: 'C0DEVBOTTEST', ts });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 'completed', ts });
    expect(asked[0]).toContain('slack.dev wants to run delete_message for dev@example.com');
    expect(asked[0]).toContain('Touches: channels C0DEVBOTTEST');
    expect(asked[0]).toContain(`ts = "${ts}"`);
    const steps = auditRecords(s.auditFile)
      .filter((x) => x.phase === 'approval')
      .map((x) => x.status);
    expect(steps).toEqual(['requested', 'approved']);
    await s.close();
  });

  it.each([
    ['declines', { action: 'decline' as const }, 'approval_declined', /declined by client user: the user declined/],
    ['cancels', { action: 'cancel' as const }, 'approval_declined', /the user cancelled/],
    [
      'accepts but unticks approve',
      { action: 'accept' as const, content: { approve: false } },
      'approval_declined',
      /declined/,
    ],
  ])('denies when the user %s', async (_what, answer, status, message) => {
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true, onElicit: () => answer });
    const ts = await ownPost(s);
    const r = await s.call('delete_message', { channel: 'C0DEVBOTTEST', ts });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ status });
    expect(text(r)).toMatch(message);
    expect(text(r)).toMatch(/scopes\/slack\.dev\.yaml:\d+\); nothing was done/);
    expect((await s.call('read_thread', { channel: 'C0DEVBOTTEST', ts })).isError).toBeFalsy(); // still there
    await s.close();
  });

  it('denies when the client cannot ask its user', async () => {
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true });
    const r = await s.call('delete_message', { channel: 'C0DEVBOTTEST', ts: await ownPost(s) });
    expect(r.structuredContent).toMatchObject({ status: 'approval_declined' });
    expect(text(r)).toContain('the client cannot ask its user (it did not declare the elicitation capability)');
    await s.close();
  });
});

describe('approval in Slack (the production bot)', () => {
  const dir = (timeout = '20s') => approvalTimeout(timeout);
  const start = (scopesDir: string) => serveSlackProd(sb, { scopes: scopesDir });
  /** the approvals bot's request that quotes `marker` (each test edits to a text of its own) */
  const request = (marker: string) =>
    waitFor(() =>
      channel('C0APPROVALS').messages.find(
        (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
      ),
    );

  it('waits for a listed approver, ignoring the requester and unlisted users', async () => {
    const s = await start(dir());
    const progress: string[] = [];
    let settled = false;
    const pending = s.client
      .callTool(
        {
          name: 'update_message',
          arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: "Release notes 4.2.1"' },
          _meta: asks('U0WRITER1'),
        },
        undefined,
        { onprogress: (p) => void progress.push(p.message ?? ''), timeout: 30_000 },
      )
      .finally(() => (settled = true));
    const req = await request('Release notes 4.2.1');
    expect(req.text).toMatch(
      /slack\.prod wants to run update_message for U0WRITER1 \(thread C0EDITORIAL\/\d{10}\.\d{6}; actor proven by slack-message\)/,
    );
    expect(req.text).toContain('Approvers: <@U0EDITOR1>, <@U0EDITOR2>');
    await as('U0WRITER1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    await as('U0WRITER2').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    await sleep(300);
    expect(settled).toBe(false);
    await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: ' Approve ' }); // exact, but for case and spaces
    const r = await pending;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 'completed', ts: BOT_MESSAGE });
    expect(channel('C0EDITORIAL').messages.find((m) => m.ts === BOT_MESSAGE)!.text).toBe(
      'Published: "Release notes 4.2.1"',
    );
    expect(progress.some((m) => m.includes('waiting for <@U0EDITOR1>, <@U0EDITOR2>'))).toBe(true);
    const steps = auditRecords(s.auditFile)
      .filter((x) => x.phase === 'approval')
      .map((x) => [x.status, x.by ?? '', x.why ?? '']);
    expect(steps).toEqual([
      ['requested', '', ''],
      ['ignored', 'U0WRITER1', 'the requester cannot approve their own request'],
      ['ignored', 'U0WRITER2', 'not a listed approver'],
      ['approved', 'U0EDITOR1', ''],
    ]);
    expect(
      new Set(
        auditRecords(s.auditFile)
          .filter((x) => x.phase === 'approval')
          .map((x) => x.call),
      ).size,
    ).toBe(1);
    expect(channel('C0APPROVALS').messages.at(-1)!.text).toBe('Approved by <@U0EDITOR1>: running.');
    await s.close();
  });

  it('denies when an approver declines', async () => {
    const s = await start(dir());
    const pending = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'declined edit' },
      asks('U0WRITER1'),
    );
    const req = await request('declined edit');
    await as('U0EDITOR2').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'x' });
    const r = await pending;
    expect(r.structuredContent).toMatchObject({ status: 'approval_declined' });
    expect(text(r)).toMatch(
      /approval for update_message declined by U0EDITOR2: an approver declined \(.*slack\.prod\.yaml:\d+\); nothing was done/,
    );
    expect(channel('C0EDITORIAL').messages.find((m) => m.ts === BOT_MESSAGE)!.text).not.toBe('declined edit');
    await s.close();
  });

  it('expires with no answer, and says so in the thread', async () => {
    const s = await start(dir('2s'));
    const updates = count('chat.update');
    const r = await s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'too late' },
      asks('U0WRITER1'),
    );
    expect(r.structuredContent).toMatchObject({ status: 'approval_expired' });
    expect(text(r)).toContain('approval for update_message expired with no answer');
    expect(count('chat.update')).toBe(updates);
    expect(channel('C0APPROVALS').messages.at(-1)!.text).toBe('No answer in time: expired, not run.');
    expect(
      auditRecords(s.auditFile)
        .filter((x) => x.phase === 'approval')
        .at(-1),
    ).toMatchObject({ status: 'expired' });
    await s.close();
  });
});

describe('a pending Slack approval outlives the process that asked (embedded state)', () => {
  it('a retry of the key after a restart waits on the same post and applies its answer, once', async () => {
    const dir = scopes((_f, t) => t);
    const stateDir = tempDir();
    const auditDir = tempDir();
    const start = () => serveSlackProd(sb, { scopes: dir, stateDir, auditDir });
    const k = `restart-${Date.now()}`;
    const marker = `Release notes 4.6 (${k})`;
    const meta = { ...asks('U0WRITER1'), 'fleet/idempotency-key': k };
    const edit = (s: Served) =>
      s.client.callTool(
        { name: 'update_message', arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker }, _meta: meta },
        undefined,
        { timeout: 30_000 },
      ) as Promise<CallToolResult>;
    const steps = (s: Served) =>
      auditRecords(s.auditFile)
        .filter((x) => x.phase === 'approval')
        .map((x) => x.status);
    const requests = () =>
      channel('C0APPROVALS').messages.filter(
        (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
      );
    const first = await start();
    void edit(first).catch(() => {});
    const req = await waitFor(() => requests()[0]);
    await waitFor(() => steps(first).includes('requested') || undefined); // where it was posted is kept by now
    process.kill(first.pid, 'SIGKILL');
    await as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' }); // while nobody waits
    const second = await start();
    const r = await edit(second);
    expect(r.structuredContent, text(r)).toMatchObject({ status: 'completed' });
    expect(requests()).toHaveLength(1);
    expect(count('chat.update', (p) => p.text === marker)).toBe(1);
    expect(steps(second)).toEqual(['requested', 'resumed', 'approved']);
    expect(
      auditRecords(second.auditFile)
        .filter((x) => x.phase === 'approval')
        .at(-1),
    ).toMatchObject({ status: 'approved', by: 'U0EDITOR2' });
    await second.close();
  });
});

describe('rate limits', () => {
  it('are shared by processes serving one instance, and survive a restart', async () => {
    const dir = scopes((f, t) => (f === 'slack.dev.yaml' ? t.replace('rate: 120/hour', 'rate: 3/hour') : t));
    const stateDir = tempDir();
    const token = sb.issue('T0BLOGDEV', DEV_SCOPES);
    const start = () =>
      serve({
        connector: 'slack',
        env: 'dev',
        upstream: sb.url,
        scopes: dir,
        stateDir,
        vars: { SLACK_BOT_TOKEN_DEV: token },
      });
    const [a, b] = await Promise.all([start(), start()]);
    const post = (s: Served) => s.call('post_message', { channel: 'C0DEVSCRATCH', text: 'tick' });
    expect((await post(a)).isError).toBeFalsy();
    expect((await post(b)).isError).toBeFalsy();
    expect((await post(a)).isError).toBeFalsy();
    const refused = await post(b);
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({ status: 'denied' });
    expect(text(refused)).toMatch(
      /denied: rate limit 3\/hour of post_message in slack\.dev reached \(.*slack\.dev\.yaml:\d+\); next call allowed at \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+s\)/,
    );
    await Promise.all([a.close(), b.close()]);
    const c = await start();
    expect((await post(c)).isError).toBe(true);
    expect((await c.call('read_history', { channel: 'C0DEVSCRATCH' })).isError).toBeFalsy(); // other tools are not limited
    await c.close();
  });
});

describe('replay-safe retries', () => {
  const token = () => sb.issue('T0BLOGDEV', DEV_SCOPES);
  const start = (stateDir: string, tok: string) =>
    serve({ connector: 'slack', env: 'dev', upstream: sb.url, stateDir, vars: { SLACK_BOT_TOKEN_DEV: tok } });
  const key = (k: string) => ({ 'fleet/idempotency-key': k });
  const posts = (t: string) => count('chat.postMessage', (p) => p.text === t);

  it('returns the first outcome after the server is killed and restarted; the upstream saw one write', async () => {
    const stateDir = tempDir();
    const tok = token();
    const k = `retry-${Date.now()}`;
    const first = await start(stateDir, tok);
    const r1 = await first.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    expect(r1.structuredContent).toMatchObject({ status: 'completed' });
    process.kill(first.pid, 'SIGKILL');
    const second = await start(stateDir, tok);
    const r2 = await second.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    expect(r2.isError).toBeFalsy();
    expect(r2.structuredContent).toMatchObject({ status: 'replayed', ts: (r1.structuredContent as { ts: string }).ts });
    expect(text(r2)).toMatch(/^replayed: idempotency key retry-\d+ already ran/);
    expect(posts(k)).toBe(1);
    expect(auditRecords(second.auditFile).at(-1)).toMatchObject({ decision: 'replay', key: k });
    await second.close();
  });

  it('runs two concurrent calls with one key once', async () => {
    const s = await start(tempDir(), token());
    const k = `twin-${Date.now()}`;
    // the first call's post is held at the upstream; the second is sent while it is in flight
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 1500 });
    let firstDone = false;
    const first = s
      .call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k))
      .finally(() => (firstDone = true));
    await waitFor(() => posts(k) === 1 || undefined);
    const second = s.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    await sleep(200);
    expect(firstDone, 'the first call was still in flight when the second was sent').toBe(false);
    const rs = await Promise.all([first, second]);
    expect(rs.map((r) => (r.structuredContent as { status: string }).status)).toEqual(['completed', 'replayed']);
    expect(posts(k)).toBe(1);
    await s.close();
  });

  it('refuses a key reused with different arguments', async () => {
    const s = await start(tempDir(), token());
    const k = `reuse-${Date.now()}`;
    await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'one' }, key(k));
    const r = await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'two' }, key(k));
    expect(r.isError).toBe(true);
    expect(text(r)).toContain(`idempotency key ${k} was first used with different arguments`);
    await s.close();
  });

  it('never re-runs a key whose first call died mid-flight', async () => {
    const stateDir = tempDir();
    const tok = token();
    const k = `inflight-${Date.now()}`;
    const first = await start(stateDir, tok);
    await first.call('list_users');
    sb.emulator.inject({ route: 'chat.postMessage', hang: true });
    void first.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k)).catch(() => {});
    await waitFor(() => posts(k) === 1 || undefined);
    process.kill(first.pid, 'SIGKILL');
    const second = await start(stateDir, tok);
    const r = await second.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k));
    expect(r.isError).toBe(true);
    expect(text(r)).toContain(`the first call with idempotency key ${k} stopped before its outcome was recorded`);
    expect(posts(k)).toBe(1);
    await second.close();
  });

  it('lets a retry run when the upstream certainly refused the first attempt', async () => {
    const s = await start(tempDir(), token());
    const k = `refused-${Date.now()}`;
    sb.emulator.inject({ route: 'chat.postMessage', status: 429, retryAfter: 1 });
    expect(
      (await s.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k))).structuredContent,
    ).toMatchObject({ status: 'failed' });
    await new Promise((r) => setTimeout(r, 1100)); // the Retry-After is honoured: nothing is sent before it ends
    expect(
      (await s.call('post_message', { channel: 'C0DEVBOTTEST', text: k }, key(k))).structuredContent,
    ).toMatchObject({ status: 'completed' });
    await s.close();
  });

  it('ignores keys on reads', async () => {
    const s = await start(tempDir(), token());
    const before = count('conversations.history');
    await s.call('read_history', { channel: 'C0DEVGENERAL' }, key('read-1'));
    await s.call('read_history', { channel: 'C0DEVGENERAL' }, key('read-1'));
    expect(count('conversations.history')).toBe(before + 2);
    await s.close();
  });
});
