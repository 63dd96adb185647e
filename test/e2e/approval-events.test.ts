// Answers delivered, not polled for: `fleet serve --http` serves Slack's Events API and
// interactivity URLs for the approvals identity (fleet.yaml `signing_secret`), and the sandbox
// delivers to them signed as Slack signs. The SDK's Streamable HTTP client calls an approval-gated
// tool; an editor answers by button, by thread reply, by reaction; the call runs once, well before
// the safety-net read of the channel (10 minutes here) could have seen the answer. A callback with
// a bad signature or an old timestamp is refused (401) and on the record.
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  TaskStatusNotificationSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { auditRecords, runCli, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';

const TEAM = 'T0BLOGPROD';
const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const BOT_MESSAGE = '1767226320.000112'; // posted by the prod bot in C0EDITORIAL
const SECRET = randomBytes(16).toString('hex');

describe('approval answers delivered by Slack to serve --http', () => {
  let sb: SlackSandbox;
  let fleet: HttpServed;
  let client: Client;
  const bearer = mintToken();
  const as = (user: string) =>
    new WebClient(sb.issue(TEAM, ['chat:write', 'reactions:write'], undefined, user), {
      slackApiUrl: sb.url,
      retryConfig: { retries: 0 },
    });
  const request = (marker: string) =>
    sb
      .workspace(TEAM)
      .channels.find((c) => c.id === 'C0APPROVALS')!
      .messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes(marker));
  const updates = (marker: string) =>
    sb.emulator.requests.filter((r) => r.route === 'chat.update' && r.params.text === marker).length;
  const reads = () =>
    sb.emulator.requests.filter((r) => r.route === 'conversations.replies' && r.params.channel === 'C0APPROVALS')
      .length;
  const trail = () => auditRecords(join(fleet.auditDir, 'slack.prod.jsonl'));

  /** update_message, gated by an editor's approval: waits for the request, lets `answer` answer it, and returns the result */
  async function approvedBy(
    answer: (ts: string) => Promise<unknown>,
    marker: string,
  ): Promise<{ result: CallToolResult; ms: number }> {
    const thread = sb.say(TEAM, 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes');
    const call = client.callTool(
      {
        name: 'update_message',
        arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
        _meta: { 'fleet/actor': 'U0WRITER1', 'fleet/thread': thread },
      },
      undefined,
      { timeout: 60_000 },
    );
    const req = await waitFor(() => request(marker), 30_000);
    // the request carries the buttons
    expect(JSON.stringify(req.blocks)).toContain('fleet_approve');
    const t0 = Date.now();
    await answer(req.ts);
    const result = (await call) as CallToolResult;
    return { result, ms: Date.now() - t0 };
  }

  beforeAll(async () => {
    sb = await startSlackSandbox(0, { speedup: 60 });
    const scopes = httpScopes(
      `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer)}
`,
      (f, t) =>
        f === 'fleet.yaml'
          ? t.replace(
              '    credential: env:SLACK_APPROVALS_TOKEN\n',
              '    credential: env:SLACK_APPROVALS_TOKEN\n    signing_secret: env:SLACK_APPROVALS_SIGNING_SECRET\n    safety_poll: 10m\n',
            )
          : t,
    );
    fleet = await serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', scopes], {
      vars: {
        SLACK_BOT_TOKEN_PROD: sb.issue(TEAM, PROD_SCOPES),
        SLACK_APPROVALS_TOKEN: sb.issue(
          TEAM,
          ['chat:write', 'channels:history', 'users:read'],
          undefined,
          'U0APPROVALS',
        ),
        SLACK_APPROVALS_SIGNING_SECRET: SECRET,
      },
    });
    sb.deliverTo({
      events: `${fleet.url}/slack/events`,
      actions: `${fleet.url}/slack/actions`,
      secret: SECRET,
      team: TEAM,
    });
    client = await connect(`${fleet.url}/mcp/slack/prod`, bearer);
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => {});
    await fleet?.stop();
    await sb?.close();
  }, 30_000);

  it('answers the url_verification challenge', async () => {
    const status = await sb.callbacks.post(
      `${fleet.url}/slack/events`,
      'application/json',
      JSON.stringify({ type: 'url_verification', challenge: 'c-123', token: 'x' }),
      SECRET,
    );
    expect(status).toBe(200);
    const body = JSON.stringify({ type: 'url_verification', challenge: 'c-456', token: 'x' });
    const ts = Math.floor(Date.now() / 1000);
    const r = await fetch(`${fleet.url}/slack/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-slack-request-timestamp': String(ts),
        'x-slack-signature': `v0=${createHmac('sha256', SECRET).update(`v0:${ts}:${body}`).digest('hex')}`,
      },
      body,
    });
    expect(await r.json()).toEqual({ challenge: 'c-456' });
  }, 30_000);

  it('a press of the Approve button runs the call once', async () => {
    const marker = `Release notes (button ${process.pid})`;
    const before = reads();
    const { result, ms } = await approvedBy(
      async (ts) => expect(await sb.press(TEAM, 'U0EDITOR1', 'C0APPROVALS', ts, 'fleet_approve')).toBe(200),
      marker,
    );
    expect(result.isError, text(result)).toBeFalsy();
    expect(updates(marker)).toBe(1);
    // delivered, not read: no thread was read for it, and it came long before the safety net's read
    expect(reads()).toBe(before);
    expect(ms).toBeLessThan(30_000);
    const approval = trail()
      .filter((r) => r.phase === 'approval' && r.status === 'approved')
      .at(-1);
    expect(approval).toMatchObject({ by: 'U0EDITOR1' });
    // the buttons are gone from the decided request
    expect(JSON.stringify(request(marker)?.blocks ?? [])).not.toContain('fleet_approve');
  }, 90_000);

  it('a reply of "approve" in the thread runs the call once', async () => {
    const marker = `Release notes (reply ${process.pid})`;
    const { result } = await approvedBy(
      (ts) => as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: ts, text: 'approve' }),
      marker,
    );
    expect(result.isError, text(result)).toBeFalsy();
    expect(updates(marker)).toBe(1);
    expect(
      trail()
        .filter((r) => r.phase === 'approval' && r.status === 'approved')
        .at(-1),
    ).toMatchObject({ by: 'U0EDITOR2' });
  }, 90_000);

  it("a ✅ reaction runs the call once; the requester's own press is recorded and does not count", async () => {
    const marker = `Release notes (reaction ${process.pid})`;
    const { result } = await approvedBy(async (ts) => {
      expect(await sb.press(TEAM, 'U0WRITER1', 'C0APPROVALS', ts, 'fleet_approve')).toBe(200);
      await as('U0EDITOR1').reactions.add({ channel: 'C0APPROVALS', timestamp: ts, name: 'white_check_mark' });
    }, marker);
    expect(result.isError, text(result)).toBeFalsy();
    expect(updates(marker)).toBe(1);
    const recs = trail().filter((r) => r.phase === 'approval');
    expect(recs.filter((r) => r.status === 'approved').at(-1)).toMatchObject({ by: 'U0EDITOR1' });
    expect(
      recs.some((r) => r.status === 'ignored' && r.by === 'U0WRITER1' && r.via === 'button' && /requester/.test(r.why)),
    ).toBe(true);
  }, 90_000);

  it('a Decline button press declines: nothing runs', async () => {
    const marker = `Release notes (declined ${process.pid})`;
    const { result } = await approvedBy(
      async (ts) => expect(await sb.press(TEAM, 'U0EDITOR2', 'C0APPROVALS', ts, 'fleet_decline')).toBe(200),
      marker,
    );
    expect(result.isError).toBe(true);
    expect(updates(marker)).toBe(0);
  }, 90_000);

  it("tasks/result tells each change of the task's status on its open stream (notifications/tasks/status)", async () => {
    const marker = `Release notes (task ${process.pid})`;
    const told: { taskId: string; status: string }[] = [];
    client.setNotificationHandler(TaskStatusNotificationSchema, (n) => void told.push(n.params));
    const thread = sb.say(TEAM, 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes');
    const created = await client.request(
      {
        method: 'tools/call',
        params: {
          name: 'update_message',
          arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
          _meta: { 'fleet/actor': 'U0WRITER1', 'fleet/thread': thread },
          task: { ttl: 3_600_000 },
        },
      },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    const result = client.request({ method: 'tasks/result', params: { taskId } }, CallToolResultSchema, {
      timeout: 60_000,
    });
    const req = await waitFor(() => request(marker), 30_000);
    // the result's stream is open before the answer comes
    await new Promise((r) => setTimeout(r, 300));
    expect(await sb.press(TEAM, 'U0EDITOR1', 'C0APPROVALS', req.ts, 'fleet_approve')).toBe(200);
    const r = await result;
    expect(r.isError, text(r)).toBeFalsy();
    expect(told).toContainEqual(expect.objectContaining({ taskId, status: 'completed' }));
  }, 90_000);

  it('a callback signed with another secret, or with an old timestamp, is refused and recorded', async () => {
    const body = JSON.stringify({
      type: 'event_callback',
      team_id: TEAM,
      event: {
        type: 'message',
        channel: 'C0APPROVALS',
        user: 'U0EDITOR1',
        text: 'approve',
        ts: '1767226999.000100',
        thread_ts: '1767226999.000001',
      },
    });
    expect(await sb.callbacks.post(`${fleet.url}/slack/events`, 'application/json', body, 'not-the-secret')).toBe(401);
    expect(
      await sb.callbacks.post(
        `${fleet.url}/slack/actions`,
        'application/x-www-form-urlencoded',
        'payload=%7B%7D',
        SECRET,
        Math.floor(Date.now() / 1000) - 6 * 60,
      ),
    ).toBe(401);
    const r = await fetch(`${fleet.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(r.status).toBe(401);
    await expect
      .poll(
        () =>
          trail()
            .filter((x) => x.rule === 'slack.signature')
            .map((x) => x.message)
            .join('\n'),
        { timeout: 10_000 },
      )
      .toMatch(/does not match the signing secret/);
    const refused = trail().filter((x) => x.rule === 'slack.signature');
    expect(refused.map((x) => x.message).join('\n')).toMatch(/over 300 s: refused as a possible replay/);
    expect(refused.every((x) => x.http?.status === 401 && x.decision === 'deny')).toBe(true);
    // the secret is nowhere on the record
    expect(JSON.stringify(trail())).not.toContain(SECRET);
  }, 30_000);
});

describe('a bad signing_secret stops verify and serve alike', () => {
  it('a literal secret instead of a reference: verify names file:line, serve --http does not start', async () => {
    const scopes = httpScopes('clients: {}\n', (f, t) =>
      f === 'fleet.yaml'
        ? t.replace(
            '    credential: env:SLACK_APPROVALS_TOKEN\n',
            '    credential: env:SLACK_APPROVALS_TOKEN\n    signing_secret: 8f742231b10e8888abcd99yyyzzz85a5\n',
          )
        : t,
    );
    const v = await runCli(['verify', '--scopes', scopes]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/fleet\.yaml:\d+.*approvals\.slack\.signing_secret.*must be a reference/);
    expect(v.stdout).not.toContain('8f742231b10e8888abcd99yyyzzz85a5');
    await expect(
      serveHttp(['--instance', 'slack.prod', '--scopes', scopes], {
        vars: { SLACK_BOT_TOKEN_PROD: 'xoxb-x', SLACK_APPROVALS_TOKEN: 'xoxb-y' },
      }),
    ).rejects.toThrow(/signing_secret must be a reference/);
  }, 60_000);

  it('a reference that resolves to nothing stops serve --http before it listens', async () => {
    const scopes = httpScopes('clients: {}\n', (f, t) =>
      f === 'fleet.yaml'
        ? t.replace(
            '    credential: env:SLACK_APPROVALS_TOKEN\n',
            '    credential: env:SLACK_APPROVALS_TOKEN\n    signing_secret: env:NOT_SET_ANYWHERE\n',
          )
        : t,
    );
    await expect(
      serveHttp(['--instance', 'slack.prod', '--scopes', scopes], {
        vars: { SLACK_BOT_TOKEN_PROD: 'xoxb-x', SLACK_APPROVALS_TOKEN: 'xoxb-y' },
      }),
    ).rejects.toThrow(/cannot serve \/slack\/events.*NOT_SET_ANYWHERE/);
  }, 60_000);
});
