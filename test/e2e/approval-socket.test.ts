// Answers delivered over Socket Mode, where the instance has no URL Slack can reach: fleet.yaml
// gives the approvals app's app-level token (`app_token`), `fleet serve` over stdio opens the
// connection with the official client, and the sandbox sends each button press and thread reply as
// a Socket Mode envelope. The call runs once, and the approvals channel is never read for it (the
// safety-net read is 10 minutes away). A literal app_token fails verify.
import { WebClient } from '@slack/web-api';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { approvalsIdentity, runCli, scopesCopy, serve, text, waitFor, type Served } from '../helpers.js';

const TEAM = 'T0BLOGPROD';
const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const BOT_MESSAGE = '1767226320.000112'; // posted by the prod bot in C0EDITORIAL
const withAppToken = (ref: string) => (t: string) =>
  t.replace(
    '    credential: env:SLACK_APPROVALS_TOKEN\n',
    `    credential: env:SLACK_APPROVALS_TOKEN\n    app_token: ${ref}\n    safety_poll: 10m\n`,
  );

describe('approval answers delivered over Socket Mode to serve (stdio)', () => {
  let sb: SlackSandbox;
  let fleet: Served;
  let appToken: string;
  const as = (user: string) =>
    new WebClient(sb.issue(TEAM, ['chat:write'], undefined, user), {
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

  async function approvedBy(answer: (ts: string) => Promise<unknown>, marker: string): Promise<CallToolResult> {
    const thread = sb.say(TEAM, 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes');
    const call = fleet.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
      { 'fleet/actor': 'U0WRITER1', 'fleet/thread': thread },
    );
    const req = await waitFor(() => request(marker), 30_000);
    expect(JSON.stringify(req.blocks)).toContain('fleet_approve');
    await answer(req.ts);
    return call;
  }

  beforeAll(async () => {
    sb = await startSlackSandbox(0, { speedup: 60 });
    appToken = sb.socketMode(TEAM);
    fleet = await serve({
      connector: 'slack',
      env: 'prod',
      upstream: sb.url,
      scopes: scopesCopy({ 'fleet.yaml': withAppToken('env:SLACK_APP_TOKEN') }),
      vars: { SLACK_BOT_TOKEN_PROD: sb.issue(TEAM, PROD_SCOPES), ...approvalsIdentity(sb), SLACK_APP_TOKEN: appToken },
    });
  }, 90_000);

  afterAll(async () => {
    await fleet?.close().catch(() => {});
    await sb?.close();
  }, 30_000);

  it('a press of the Approve button, sent as an interactive envelope, runs the call once', async () => {
    const marker = `Release notes (socket button ${process.pid})`;
    const before = reads();
    const result = await approvedBy(
      async (ts) => expect(await sb.press(TEAM, 'U0EDITOR1', 'C0APPROVALS', ts, 'fleet_approve')).toBe(200),
      marker,
    );
    expect(result.isError, text(result)).toBeFalsy();
    expect(updates(marker)).toBe(1);
    expect(reads()).toBe(before);
    expect(sb.emulator.requests.some((r) => r.route === 'apps.connections.open')).toBe(true);
    expect(fleet.stderr()).not.toContain(appToken);
  }, 90_000);

  it('a reply of "approve" in the thread, sent as an events_api envelope, runs the call once', async () => {
    const marker = `Release notes (socket reply ${process.pid})`;
    const before = reads();
    const result = await approvedBy(
      (ts) => as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: ts, text: 'approve' }),
      marker,
    );
    expect(result.isError, text(result)).toBeFalsy();
    expect(updates(marker)).toBe(1);
    expect(reads()).toBe(before);
    // every envelope the sandbox sent was acked
    await expect
      .poll(() => sb.callbacks.deliveries.filter((d) => d.status !== 200).length, { timeout: 10_000 })
      .toBe(0);
  }, 90_000);
});

describe('a bad app_token stops verify', () => {
  it('a literal token instead of a reference: verify names file:line and does not print it', async () => {
    const literal = 'xapp-1-A0LITERAL-0123456789-abcdef';
    const v = await runCli(['verify', '--scopes', scopesCopy({ 'fleet.yaml': withAppToken(literal) })]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/fleet\.yaml:\d+.*approvals\.slack\.app_token.*must be a reference/);
    expect(v.stdout + v.stderr).not.toContain(literal);
  }, 60_000);
});
