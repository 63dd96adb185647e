// Journey: the bot. Its typed client (client/index.ts) calls slack.prod over Streamable HTTP through
// an edit that needs an editor's yes in Slack, an approval that takes far longer than the client's
// timeout: the client runs it as an MCP task and polls, so the request is posted once, never
// withdrawn and reposted, and the edit runs once. The W3C traceparent the bot sends reaches the
// trail (through the task) and the OTLP export.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetClient } from '../../client/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { auditRecords, waitFor } from '../helpers.js';
import { httpScopes, serveHttp } from '../http-helpers.js';
import { BOT_MESSAGE, PROD_SCOPES, workspace } from '../slack-prod.js';

const TRACEPARENT = '00-5bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-01';
const hex = (id: string | undefined) =>
  id && /^[0-9a-f]+$/.test(id) ? id : id ? Buffer.from(id, 'base64').toString('hex') : undefined;

describe('journey: the bot through a long Slack approval', () => {
  let sb: SlackSandbox;
  let receiver: Server;
  let endpoint: string;
  const logs: { traceId?: string; attributes?: { key: string; value: { stringValue?: string } }[] }[] = [];
  const bearer = mintToken();
  const clients = `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, calling every replica of slack.prod behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer)}
    review_by: '2027-05-31'
`;
  const vars = () => ({
    SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', PROD_SCOPES),
    SLACK_APPROVALS_TOKEN: sb.issue(
      'T0BLOGPROD',
      ['chat:write', 'channels:history', 'users:read'],
      undefined,
      'U0APPROVALS',
    ),
    FLEET_APPROVAL_POLL_MS: '200',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_BLRP_SCHEDULE_DELAY: '50',
  });
  const requests = (marker: string) =>
    workspace(sb)
      .channel('C0APPROVALS')
      .messages.filter(
        (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
      );
  const withdrawn = () =>
    workspace(sb)
      .channel('C0APPROVALS')
      .messages.filter((m) => /Withdrawn/.test(m.text));
  const updates = (marker: string) =>
    sb.emulator.requests.filter((r) => r.route === 'chat.update' && r.params.text === marker).length;

  beforeAll(async () => {
    sb = await startSlackSandbox();
    receiver = createServer((req, res) => {
      let body = '';
      req
        .on('data', (d) => (body += d))
        .on('end', () => {
          for (const rl of JSON.parse(body).resourceLogs ?? [])
            for (const s of rl.scopeLogs ?? []) logs.push(...(s.logRecords ?? []));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await sb?.close();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it('waits out an approval far longer than its timeout: asked once, never withdrawn, run once; the trace reaches trail and export', async () => {
    const served = await serveHttp(
      ['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', httpScopes(clients)],
      { vars: vars() },
    );
    try {
      const slack = fleetClient('slack.prod', { url: `${served.url}/mcp/slack/prod`, token: bearer, timeoutMs: 2000 });
      const marker = `Release notes 6.0 (${process.pid})`;
      const progress: string[] = [];
      const asked = workspace(sb).asks('U0WRITER1');
      const call = slack.update_message(
        { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
        {
          actor: asked['fleet/actor'],
          thread: asked['fleet/thread'],
          idempotencyKey: `edit-${process.pid}`,
          traceparent: TRACEPARENT,
          onProgress: (m) => progress.push(m),
        },
      );
      const req = await waitFor(() => requests(marker)[0], 20_000);
      // the editor answers after three times the client's timeout
      await new Promise((r) => setTimeout(r, 6000));
      await workspace(sb)
        .as('U0EDITOR1')
        .reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
      const r = await call;
      expect(r.ok, r.text).toBe(true);
      expect(requests(marker)).toHaveLength(1);
      expect(withdrawn()).toEqual([]);
      expect(updates(marker)).toBe(1);
      // it heard how the approval stood while it waited (a task's status, polled every pollInterval: how many times is the clock's)
      expect(progress.length).toBeGreaterThan(0);
    } finally {
      await served.stop();
    }
    const trail = auditRecords(`${served.auditDir}/slack.prod.jsonl`);
    const mine = trail.filter((x) => x.tool === 'update_message');
    expect(mine.filter((x) => x.phase === 'approval').map((x) => x.status)).toEqual(['requested', 'approved']);
    expect(new Set(mine.map((x) => x.traceparent))).toEqual(new Set([TRACEPARENT]));
    const calls = new Set(mine.map((x) => x.call));
    const exported = await waitFor(() => {
      const got = logs.filter((l) =>
        calls.has(l.attributes?.find((a) => a.key === 'fleet.call')?.value.stringValue ?? ''),
      );
      return got.length >= mine.length ? got : undefined;
    }, 20_000);
    expect(new Set(exported.map((l) => hex(l.traceId)))).toEqual(new Set(['5bf92f3577b34da6a3ce929d0e0e4736']));
  }, 90_000);
});
