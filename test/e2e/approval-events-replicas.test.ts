// An answer Slack delivers to one replica reaches the replica where the call waits: two replicas
// of slack.prod on one PostgreSQL, the sandbox delivering to replica B only, the SDK's client
// calling replica A. B hands the answer on through the shared store (LISTEN/NOTIFY); A runs the
// call once, long before its safety-net read of the channel (10 minutes here) could have seen it.
import { randomBytes } from 'node:crypto';
import { WebClient } from '@slack/web-api';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { runCli, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { freshDatabase, PG_STORE, PG_URL } from '../state/pg.js';

const TEAM = 'T0BLOGPROD';
const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const BOT_MESSAGE = '1767226320.000112';
const SECRET = randomBytes(16).toString('hex');

describe.skipIf(!PG_URL)('an answer delivered to one replica reaches the one that waits (PostgreSQL)', () => {
  let sb: SlackSandbox;
  let url: string;
  const replicas: HttpServed[] = [];
  let client: Client;
  const bearer = mintToken();
  const db = 'fleet_events_e2e';
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
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

  beforeAll(async () => {
    sb = await startSlackSandbox(0, { speedup: 60 });
    database = await freshDatabase(db);
    url = database.url;
    const scopes = httpScopes(
      `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer)}
`,
      (f, t) =>
        f === 'fleet.yaml'
          ? `${t.replace('    credential: env:SLACK_APPROVALS_TOKEN\n', '    credential: env:SLACK_APPROVALS_TOKEN\n    signing_secret: env:SLACK_APPROVALS_SIGNING_SECRET\n    safety_poll: 10m\n')}${PG_STORE}`
          : t,
    );
    const m = await runCli(['state', 'migrate', '--scopes', scopes], { env: { FLEET_STATE_PG: url } });
    expect(m.code, m.stderr).toBe(0);
    const start = () =>
      serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', scopes], {
        vars: {
          SLACK_BOT_TOKEN_PROD: sb.issue(TEAM, PROD_SCOPES),
          SLACK_APPROVALS_TOKEN: sb.issue(
            TEAM,
            ['chat:write', 'channels:history', 'users:read'],
            undefined,
            'U0APPROVALS',
          ),
          SLACK_APPROVALS_SIGNING_SECRET: SECRET,
          FLEET_STATE_PG: url,
        },
      });
    replicas.push(...(await Promise.all([start(), start()])));
    // Slack's request URLs lead to replica B only
    const b = replicas[1]!;
    sb.deliverTo({ events: `${b.url}/slack/events`, actions: `${b.url}/slack/actions`, secret: SECRET, team: TEAM });
    client = await connect(`${replicas[0]!.url}/mcp/slack/prod`, bearer);
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => {});
    await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
    await sb?.close();
    await database?.drop();
  }, 30_000);

  for (const how of ['button', 'reply'] as const) {
    it(`an approval by ${how}, delivered to replica B, runs the call waiting on replica A once`, async () => {
      const marker = `Release notes (replicas, ${how}, ${process.pid})`;
      const before = reads();
      const thread = sb.say(TEAM, 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes');
      const call = client.callTool(
        {
          name: 'update_message',
          arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
          _meta: { 'fleet/actor': 'U0WRITER1', 'fleet/thread': thread },
        },
        undefined,
        { timeout: 90_000 },
      );
      const req = await waitFor(() => request(marker), 30_000);
      if (how === 'button') expect(await sb.press(TEAM, 'U0EDITOR1', 'C0APPROVALS', req.ts, 'fleet_approve')).toBe(200);
      else
        await new WebClient(sb.issue(TEAM, ['chat:write'], undefined, 'U0EDITOR2'), {
          slackApiUrl: sb.url,
          retryConfig: { retries: 0 },
        }).chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
      const result = (await call) as CallToolResult;
      expect(result.isError, text(result)).toBeFalsy();
      expect(updates(marker)).toBe(1);
      // not read: handed on from B, since A's safety net reads the channel only every 10 minutes
      expect(reads()).toBe(before);
      await sb.callbacks.settled();
      expect(sb.callbacks.deliveries.every((d) => d.status === 200)).toBe(true);
    }, 120_000);
  }
});
