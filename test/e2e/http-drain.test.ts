// SIGTERM while calls are in flight over HTTP: a call in its upstream round trip finishes and is
// answered; a call waiting for a Slack approval is withdrawn when the drain's grace runs out.
// Either way the trail is complete, the upstream saw at most one write, and a retry with the same
// idempotency key on the next server never writes again.
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { auditRecords, tempDir, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp } from '../http-helpers.js';

const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const BOT_MESSAGE = '1767226320.000112';
const token = mintToken();
const meta = () => ({
  'fleet/actor': 'U0WRITER1',
  'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'please publish'),
});

let sb: SlackSandbox;
let scopes: string;
beforeAll(async () => {
  sb = await startSlackSandbox();
  scopes = httpScopes(`clients:
  publish:
    owner: content-platform <content@example.com>
    purpose: The bot's publish step posts drafts in the editorial channel.
    instances: [slack.prod]
    token: sha256:${tokenHash(token)}
`);
});
afterAll(() => sb.close());

const start = (stateDir: string, auditDir: string, drain: string) =>
  serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', scopes, '--drain', drain], {
    stateDir,
    auditDir,
    vars: {
      SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', PROD_SCOPES),
      SLACK_APPROVALS_TOKEN: sb.issue(
        'T0BLOGPROD',
        ['chat:write', 'channels:history', 'users:read'],
        undefined,
        'U0APPROVALS',
      ),
      FLEET_APPROVAL_POLL_MS: '50',
    },
  });
const count = (route: string, pred: (p: Record<string, unknown>) => boolean) =>
  sb.emulator.requests.filter((r) => r.route === route && pred(r.params)).length;

describe('SIGTERM drains', () => {
  it('lets a call in its upstream round trip finish and answers it; the retry replays', async () => {
    const stateDir = tempDir();
    const auditDir = tempDir();
    const s = await start(stateDir, auditDir, '20s');
    const c = await connect(`${s.url}/mcp/slack/prod`, token);
    const k = `drain-${Date.now()}`;
    sb.emulator.inject({ route: 'chat.postMessage', delayMs: 1500 });
    const pending = c.callTool({
      name: 'post_message',
      arguments: { channel: 'C0EDITORIAL', text: k },
      _meta: { ...meta(), 'fleet/idempotency-key': k },
    });
    await waitFor(() => count('chat.postMessage', (p) => p.text === k));
    s.child.kill('SIGTERM');
    // a new request while draining is turned away, not lost
    await waitFor(() => /draining/.test(s.stderr()));
    const late = await fetch(`${s.url}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    const r = await pending;
    expect(r.isError, text(r as never)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 'completed' });
    expect(await s.exited).toBe(0);
    const recs = auditRecords(join(auditDir, 'slack.prod.jsonl')).filter((x) => x.tool === 'post_message');
    expect(recs.map((x) => x.phase)).toEqual(['intent', 'outcome']);
    expect(recs[1]).toMatchObject({ outcome: 'ok', client_id: 'publish' });
    // the bot retries on the next server with the same key: replayed, never written twice
    const s2 = await start(stateDir, auditDir, '1s');
    const c2 = await connect(`${s2.url}/mcp/slack/prod`, token);
    const again = await c2.callTool({
      name: 'post_message',
      arguments: { channel: 'C0EDITORIAL', text: k },
      _meta: { ...meta(), 'fleet/idempotency-key': k },
    });
    expect(again.structuredContent).toMatchObject({ status: 'replayed' });
    expect(count('chat.postMessage', (p) => p.text === k)).toBe(1);
    expect(await s2.stop()).toBe(0);
  });

  it('withdraws a pending approval when the grace runs out: nothing runs, the trail says why', async () => {
    const auditDir = tempDir();
    const s = await start(tempDir(), auditDir, '500ms');
    const c = await connect(`${s.url}/mcp/slack/prod`, token);
    const marker = `drained edit ${Date.now()}`;
    const pending = c.callTool(
      { name: 'update_message', arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker }, _meta: meta() },
      undefined,
      { timeout: 30_000 },
    );
    await waitFor(() =>
      sb
        .workspace('T0BLOGPROD')
        .channels.find((x) => x.id === 'C0APPROVALS')!
        .messages.find((m) => m.text.includes(marker)),
    );
    s.child.kill('SIGTERM');
    const r = await pending;
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ status: 'failed' });
    expect(text(r as never)).toMatch(
      /^cancelled: .*while its approval was pending; the request was withdrawn and nothing was done/,
    );
    expect(await s.exited).toBe(0);
    expect(count('chat.update', (p) => p.text === marker)).toBe(0);
    const recs = auditRecords(join(auditDir, 'slack.prod.jsonl')).filter((x) => x.tool === 'update_message');
    expect(recs.map((x) => [x.phase, x.status ?? x.decision])).toEqual([
      ['approval', 'requested'],
      ['approval', 'withdrawn'],
      ['approval', 'withdrawn'],
      ['decision', 'deny'],
    ]);
    expect(recs.some((x) => x.phase === 'intent')).toBe(false);
    expect(recs.every((x) => x.client_id === 'publish')).toBe(true);
  });

  it('waits for a Slack approval while the HTTP request is open, with progress on its stream, then runs once', async () => {
    const auditDir = tempDir();
    const s = await start(tempDir(), auditDir, '5s');
    const c = await connect(`${s.url}/mcp/slack/prod`, token);
    const marker = `approved edit ${Date.now()}`;
    const progress: string[] = [];
    const pending = c.callTool(
      { name: 'update_message', arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker }, _meta: meta() },
      undefined,
      { timeout: 30_000, onprogress: (p) => void progress.push(p.message ?? '') },
    );
    const req = await waitFor(() =>
      sb
        .workspace('T0BLOGPROD')
        .channels.find((x) => x.id === 'C0APPROVALS')!
        .messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes(marker)),
    );
    await waitFor(() => progress.length > 0);
    const editor = new WebClient(sb.issue('T0BLOGPROD', ['chat:write'], undefined, 'U0EDITOR1'), {
      slackApiUrl: sb.url,
      retryConfig: { retries: 0 },
    });
    await editor.chat.postMessage({
      channel: 'C0APPROVALS',
      thread_ts: (req as { thread_ts?: string }).thread_ts ?? req.ts,
      text: 'approve',
    });
    const r = await pending;
    expect(r.isError, text(r as never)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 'completed' });
    expect(progress.some((m) => /waiting for/.test(m))).toBe(true);
    expect(count('chat.update', (p) => p.text === marker)).toBe(1);
    const recs = auditRecords(join(auditDir, 'slack.prod.jsonl')).filter((x) => x.tool === 'update_message');
    expect(recs.filter((x) => x.phase === 'approval').at(-1)).toMatchObject({ status: 'approved', by: 'U0EDITOR1' });
    expect(recs.every((x) => x.client_id === 'publish')).toBe(true);
    expect(await s.stop()).toBe(0);
  });

  it('withdraws a pending approval when the client cancels its request (notifications/cancelled)', async () => {
    const auditDir = tempDir();
    const s = await start(tempDir(), auditDir, '5s');
    const c = await connect(`${s.url}/mcp/slack/prod`, token);
    const marker = `cancelled edit ${Date.now()}`;
    const abort = new AbortController();
    const pending = c.callTool(
      { name: 'update_message', arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker }, _meta: meta() },
      undefined,
      { timeout: 30_000, signal: abort.signal },
    );
    await waitFor(() =>
      sb
        .workspace('T0BLOGPROD')
        .channels.find((x) => x.id === 'C0APPROVALS')!
        .messages.find((m) => m.text.includes(marker)),
    );
    abort.abort('the bot gave up');
    await expect(pending).rejects.toThrow();
    const recs = () => auditRecords(join(auditDir, 'slack.prod.jsonl')).filter((x) => x.tool === 'update_message');
    await waitFor(() => recs().find((x) => x.phase === 'decision'));
    expect(
      recs()
        .filter((x) => x.phase === 'approval')
        .map((x) => x.status),
    ).toContain('withdrawn');
    expect(recs().some((x) => x.phase === 'intent')).toBe(false);
    expect(count('chat.update', (p) => p.text === marker)).toBe(0);
    expect(await s.stop()).toBe(0);
  });
});
