// Time-boxed exceptions on a real server: while active the extra tool is listed and callable and
// each call using an exception is marked in the trail; when it expires while the server runs, the
// client is sent tools/list_changed, the tool is no longer listed, and a call is refused naming the
// exception and its expiry.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken } from '../../shared/transport/http/auth/bearer.js';
import { auditRecords, runCli, SCOPES, serve, tempDir, text, waitFor, type Served } from '../helpers.js';
import { connect, httpScopes, serveHttp, stagingClient, type HttpServed } from '../http-helpers.js';

// long enough for a server to start and take three calls on a loaded machine
const LIFETIME_MS = 12_000;

/** slack.dev with get_permalink granted only by an exception, and post_message one more channel by another */
const withExceptions = (
  manifest: string,
  expires: string,
) => `${manifest.replace(/^ {2}get_permalink:.*\n/m, '')}exceptions:
  - id: perma-incident-9
    tool: get_permalink
    grant: { channels: [C0DEVGENERAL] }
    owner: U0DEVALICE
    reason: link the leaked message in the incident report
    approver: U0DEVBOB
    expires: ${expires}
  - id: general-announce
    tool: post_message
    grant: { channels: [C0DEVGENERAL] }
    owner: U0DEVALICE
    reason: announce the maintenance window once
    approver: U0DEVBOB
    expires: ${expires}
`;
const expiredText = (expires: string) =>
  new RegExp(
    `^denied: get_permalink is granted to slack.dev only by exception perma-incident-9, which expired at ${expires.replace(/\./g, '\\.')} \\(.*slack\\.dev\\.yaml:\\d+\\); ask its owner U0DEVALICE for a new one$`,
  );

describe('a time-boxed exception that expires while the server runs', () => {
  let s: Served;
  let scopes: string;
  let expires: string;
  let changed: Promise<void>;
  beforeAll(async () => {
    scopes = tempDir('fleet-exc-scopes-');
    cpSync(SCOPES, scopes, { recursive: true });
    const file = join(scopes, 'slack.dev.yaml');
    // get_permalink is granted only by an exception; post_message gets one more channel by another
    expires = new Date(Date.now() + LIFETIME_MS).toISOString();
    writeFileSync(file, withExceptions(readFileSync(file, 'utf8'), expires));
    s = await serve({ connector: 'slack', env: 'dev', sandbox: true, scopes, vars: { FLEET_ACTOR: 'U0DEVALICE' } });
    changed = new Promise((resolve) =>
      s.client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()),
    );
  }, 30_000);
  afterAll(() => s?.close());

  it('is listed, callable and marked in the trail while active; gone and refused, with tools/list_changed, after', async () => {
    expect(s.client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    expect((await s.client.listTools()).tools.map((t) => t.name)).toContain('get_permalink');
    const link = await s.call('get_permalink', { channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
    expect(link.isError, text(link)).toBeFalsy();
    const post = await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'maintenance at 18:00' });
    expect(post.isError, text(post)).toBeFalsy();
    // a call the manifest allows anyway carries no exception mark
    expect((await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'hi' })).isError).toBeFalsy();
    const recs = auditRecords(s.auditFile).filter((r) => r.phase === 'intent');
    expect(recs.map((r) => [r.tool, r.exception])).toEqual([
      ['get_permalink', 'perma-incident-9'],
      ['post_message', 'general-announce'],
      ['post_message', undefined],
    ]);

    await changed; // sent at the expiry, with no call needed
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expires));
    expect((await s.client.listTools()).tools.map((t) => t.name)).not.toContain('get_permalink');
    const late = await s.call('get_permalink', { channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
    expect(late.isError).toBe(true);
    expect(text(late)).toMatch(expiredText(expires));
    const post2 = await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'again' });
    expect(text(post2)).toContain('channel C0DEVGENERAL is not in post_message.channels of slack.dev');

    const review = await runCli([
      'review',
      'slack.dev',
      '--scopes',
      scopes,
      '--audit-dir',
      s.auditDir,
      '--format',
      'json',
    ]);
    const rev = JSON.parse(review.stdout).instances[0];
    expect(rev.exceptions.map((e: { id: string; status: string }) => [e.id, e.status])).toEqual([
      ['perma-incident-9', 'expired'],
      ['general-announce', 'expired'],
    ]);
    expect(
      rev.exceptionCalls.map((e: { exception: string; tool: string; calls: number }) => [e.exception, e.tool, e.calls]),
    ).toEqual([
      ['perma-incident-9', 'get_permalink', 1],
      ['general-announce', 'post_message', 1],
    ]);
    expect(rev.tools.find((t: { tool: string }) => t.tool === 'get_permalink')).toMatchObject({
      exception: 'perma-incident-9',
      allowed: 1,
      denied: 1,
    });
  }, 30_000);
});

// The same over stateless Streamable HTTP: there is no server stream between requests, so the client
// learns of the expiry on the response stream of its next call, which is refused; its next list
// no longer shows the tool.
describe('a time-boxed exception that expires while `serve --http` runs', () => {
  const token = mintToken();
  let s: HttpServed;
  let sb: SlackSandbox;
  let expires: string;
  beforeAll(async () => {
    expires = new Date(Date.now() + LIFETIME_MS).toISOString();
    const scopes = httpScopes(stagingClient(token), (name, t) =>
      name === 'slack.dev.yaml' ? withExceptions(t, expires) : t,
    );
    sb = await startSlackSandbox();
    s = await serveHttp(['--instance', 'slack.dev', '--upstream', sb.url, '--scopes', scopes], {
      vars: {
        SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', [
          'channels:read',
          'channels:history',
          'chat:write',
          'reactions:write',
          'users:read',
          'search:read',
        ]),
      },
    });
  }, 30_000);
  afterAll(async () => {
    await s?.stop();
    await sb?.close();
  });

  it('is listed and callable while active; after, a call is refused with tools/list_changed on its stream and the list drops it', async () => {
    const c = await connect(`${s.url}/mcp/slack/dev`, token);
    let changes = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    const meta = { 'fleet/actor': 'U0DEVALICE' };
    const call = async (name: string, args: Record<string, unknown>) =>
      (await c.callTool({ name, arguments: args, _meta: meta })) as CallToolResult;
    expect(c.getServerCapabilities()?.tools?.listChanged).toBe(true);
    expect((await c.listTools()).tools.map((t) => t.name)).toContain('get_permalink');
    const link = await call('get_permalink', { channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
    expect(link.isError, text(link)).toBeFalsy();
    const audit = join(s.auditDir, 'slack.dev.jsonl');
    expect(
      auditRecords(audit)
        .filter((r) => r.phase === 'intent')
        .map((r) => [r.tool, r.exception]),
    ).toEqual([['get_permalink', 'perma-incident-9']]);
    expect(changes).toBe(0);

    await waitFor(() => Date.now() >= Date.parse(expires) || undefined, LIFETIME_MS + 5_000);
    const late = await call('get_permalink', { channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
    expect(text(late)).toMatch(expiredText(expires));
    await waitFor(() => changes > 0 || undefined);
    expect((await c.listTools()).tools.map((t) => t.name)).not.toContain('get_permalink');
    const post = await call('post_message', { channel: 'C0DEVGENERAL', text: 'after the window' });
    expect(text(post)).toContain('channel C0DEVGENERAL is not in post_message.channels of slack.dev');
    expect(
      auditRecords(audit)
        .filter((r) => r.decision === 'deny')
        .map((r) => [r.tool, r.rule]),
    ).toEqual([
      ['get_permalink', 'exception'],
      ['post_message', expect.any(String)],
    ]);
    await c.close();
  }, 40_000);
});
