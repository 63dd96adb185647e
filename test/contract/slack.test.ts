// The real @slack/web-api against the Slack sandbox over loopback; every success body is checked
// against Slack's official OpenAPI document.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, WebClient } from '@slack/web-api';
import { Ajv } from 'ajv';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';

const SPEC = JSON.parse(readFileSync(new URL('../fixtures/specs/slack_web_openapi_v2.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(SPEC, 'slack');
// Known gaps of the 2021 spec: it forbids response_metadata on methods that do return it.
const GAPS: Record<string, string[]> = {
  'conversations.history': ['response_metadata'],
  'conversations.replies': ['response_metadata'],
  'users.list': ['response_metadata'],
};

function conforms(method: string, body: Record<string, unknown>): void {
  const op = Object.keys(SPEC.paths[`/${method}`])[0]!;
  const validate = ajv.getSchema(`slack#/paths/~1${method.replace(/~/g, '~0')}/${op}/responses/200/schema`)!;
  // The SDK adds the x-oauth-scopes / x-accepted-oauth-scopes headers into response_metadata.
  const { response_metadata: rm, ...rest } = body as { response_metadata?: Record<string, unknown> };
  const { scopes: _s, acceptedScopes: _a, ...wire } = rm ?? {};
  const declared = 'response_metadata' in (SPEC.paths[`/${method}`][op].responses['200'].schema.properties ?? {});
  const checked =
    GAPS[method] || !declared || Object.keys(wire).length === 0 ? rest : { ...rest, response_metadata: wire };
  const ok = validate(checked);
  expect(ok, `${method}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
}

const ALL = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
let sb: SlackSandbox;
let web: WebClient;
const client = (token: string) =>
  new WebClient(token, {
    slackApiUrl: sb.url,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 5000,
  });

beforeAll(async () => {
  sb = await startSlackSandbox();
  web = client(sb.issue('T0BLOGDEV', ALL));
});
afterAll(() => sb.close());

describe('Slack sandbox, through the official SDK', () => {
  it('auth.test names the workspace and exposes the granted scopes', async () => {
    const r = await web.auth.test();
    expect(r).toMatchObject({ ok: true, team_id: 'T0BLOGDEV', user_id: 'U0DEVBOT', bot_id: 'B0DEVBLOGBOT' });
    expect(r.response_metadata?.scopes).toEqual(ALL);
    conforms('auth.test', r as never);
  });

  it('conversations.list paginates with next_cursor until it is empty', async () => {
    const seen: string[] = [];
    for await (const page of web.paginate('conversations.list', {
      limit: 2,
      types: 'public_channel,private_channel',
    })) {
      conforms('conversations.list', page as never);
      seen.push(...(page as unknown as { channels: { id: string }[] }).channels.map((c) => c.id));
    }
    expect(seen).toEqual(['C0DEVGENERAL', 'C0DEVBOTTEST', 'C0DEVSCRATCH', 'C0DEVPRIVATE']);
  });

  it('conversations.history, replies and info', async () => {
    const h = await web.conversations.history({ channel: 'C0DEVGENERAL', limit: 1 });
    conforms('conversations.history', h as never);
    expect(h.has_more).toBe(true);
    const next = await web.conversations.history({
      channel: 'C0DEVGENERAL',
      limit: 1,
      cursor: h.response_metadata!.next_cursor,
    });
    expect(next.messages![0]!.ts).not.toBe(h.messages![0]!.ts);
    const r = await web.conversations.replies({ channel: 'C0DEVGENERAL', ts: h.messages![0]!.ts! });
    conforms('conversations.replies', r as never);
    expect(r.messages!.length).toBe(3);
    const info = await web.conversations.info({ channel: 'C0DEVBOTTEST' });
    conforms('conversations.info', info as never);
  });

  it('chat.postMessage, update, getPermalink and delete', async () => {
    const p = await web.chat.postMessage({ channel: 'C0DEVBOTTEST', text: 'contract' });
    conforms('chat.postMessage', p as never);
    const u = await web.chat.update({ channel: 'C0DEVBOTTEST', ts: p.ts!, text: 'edited' });
    conforms('chat.update', u as never);
    const l = await web.chat.getPermalink({ channel: 'C0DEVBOTTEST', message_ts: p.ts! });
    conforms('chat.getPermalink', l as never);
    const d = await web.chat.delete({ channel: 'C0DEVBOTTEST', ts: p.ts! });
    conforms('chat.delete', d as never);
    await expect(web.chat.delete({ channel: 'C0DEVBOTTEST', ts: p.ts! })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { error: 'message_not_found' },
    });
  });

  it("refuses to edit or delete someone else's message", async () => {
    await expect(
      web.chat.update({ channel: 'C0DEVBOTTEST', ts: '1767225960.000106', text: 'x' }),
    ).rejects.toMatchObject({ data: { error: 'cant_update_message' } });
    await expect(web.chat.delete({ channel: 'C0DEVBOTTEST', ts: '1767225960.000106' })).rejects.toMatchObject({
      data: { error: 'cant_delete_message' },
    });
  });

  it('reactions.add, once', async () => {
    const r = await web.reactions.add({ channel: 'C0DEVBOTTEST', timestamp: '1767225960.000106', name: 'eyes' });
    conforms('reactions.add', r as never);
    await expect(
      web.reactions.add({ channel: 'C0DEVBOTTEST', timestamp: '1767225960.000106', name: 'eyes' }),
    ).rejects.toMatchObject({ data: { error: 'already_reacted' } });
  });

  it('users.list, users.info and search.messages', async () => {
    const l = await web.users.list({ limit: 2 });
    conforms('users.list', l as never);
    expect(l.response_metadata?.next_cursor).toBeTruthy();
    conforms('users.info', (await web.users.info({ user: 'U0DEVALICE' })) as never);
    const s = await web.search.messages({ query: 'draft' });
    conforms('search.messages', s as never);
    expect(s.messages?.matches?.map((m) => m.channel?.id)).toContain('C0DEVGENERAL');
  });

  it('shows profile.email only to a token holding users:read.email, as Slack does', async () => {
    const plain = client(sb.issue('T0BLOGPROD', ['users:read']));
    const withEmail = client(sb.issue('T0BLOGPROD', ['users:read', 'users:read.email']));
    const hidden = await plain.users.info({ user: 'U0EDITOR1' });
    conforms('users.info', hidden as never);
    expect(hidden.user?.profile).not.toHaveProperty('email');
    const listed = await plain.users.list({});
    conforms('users.list', listed as never);
    expect(listed.members!.filter((m) => m.profile && 'email' in m.profile)).toEqual([]);
    const shown = await withEmail.users.info({ user: 'U0EDITOR1' });
    conforms('users.info', shown as never);
    expect(shown.user?.profile?.email).toBe('erin@example.com');
  });

  it("names every member's and every message's workspace; a Slack Connect member keeps their own", async () => {
    const prod = client(sb.issue('T0BLOGPROD', ['users:read', 'channels:history']));
    const members = (await prod.users.list({})).members!;
    expect(members.every((m) => /^T[A-Z0-9]+$/.test(m.team_id ?? ''))).toBe(true);
    const partner = await prod.users.info({ user: 'U0PARTNER1' });
    expect(partner.user).toMatchObject({ team_id: 'T0PARTNER', is_bot: false, deleted: false });
    expect((await prod.users.info({ user: 'U0EDITOR1' })).user?.team_id).toBe('T0BLOGPROD');
    // a partner member writes in the request and the approvals channels, as a shared channel allows
    for (const channel of ['C0EDITORIAL', 'C0APPROVALS']) {
      const h = await prod.conversations.history({ channel });
      conforms('conversations.history', h as never);
      expect(
        h.messages!.every((m) => /^T[A-Z0-9]+$/.test(m.team ?? '')),
        channel,
      ).toBe(true);
      expect(h.messages!.find((m) => m.user === 'U0PARTNER1')?.team, channel).toBe('T0PARTNER');
    }
  });

  it('answers missing_scope, invalid_auth and channel_not_found as Slack does', async () => {
    const narrow = client(sb.issue('T0BLOGDEV', ['channels:read']));
    await expect(narrow.chat.postMessage({ channel: 'C0DEVBOTTEST', text: 'x' })).rejects.toMatchObject({
      data: { error: 'missing_scope', needed: 'chat:write' },
    });
    await expect(client('xoxb-not-issued').auth.test()).rejects.toMatchObject({ data: { error: 'invalid_auth' } });
    await expect(web.conversations.history({ channel: 'C0NOSUCHCHAN' })).rejects.toMatchObject({
      data: { error: 'channel_not_found' },
    });
  });

  it('injects a 429 with Retry-After, and a 500', async () => {
    sb.emulator.inject({ route: 'chat.postMessage', status: 429, retryAfter: 7 });
    await expect(web.chat.postMessage({ channel: 'C0DEVBOTTEST', text: 'x' })).rejects.toMatchObject({
      code: ErrorCode.RateLimitedError,
      retryAfter: 7,
    });
    sb.emulator.inject({ route: 'users.list', status: 500 });
    await expect(web.users.list({})).rejects.toMatchObject({ code: ErrorCode.HTTPError, statusCode: 500 });
  });

  it('records every request without the token', async () => {
    const before = sb.emulator.requests.length;
    await web.auth.test();
    const last = sb.emulator.requests.at(-1)!;
    expect(sb.emulator.requests.length).toBe(before + 1);
    expect(last.route).toBe('auth.test');
    expect(JSON.stringify(last)).not.toContain('xoxb-');
  });
});

describe("Slack sandbox: Slack's rate tiers, per method, app and workspace", () => {
  it('answers a Tier 3 method 50 times a minute, then 429 with Retry-After; another app keeps its own budget', async () => {
    const strict = await startSlackSandbox();
    try {
      const one = new WebClient(strict.issue('T0BLOGDEV', ALL), {
        slackApiUrl: strict.url,
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: 5000,
      });
      for (let i = 0; i < 50; i++)
        await one.conversations.replies({ channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
      const refused = await one.conversations
        .replies({ channel: 'C0DEVGENERAL', ts: '1767225720.000102' })
        .catch((e) => e);
      expect(refused).toMatchObject({ code: ErrorCode.RateLimitedError });
      expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfter).toBeLessThanOrEqual(60);
      // conversations.history is its own Tier 3 budget; a Tier 2 method allows 20
      await one.conversations.history({ channel: 'C0DEVGENERAL', limit: 1 });
      for (let i = 0; i < 20; i++) await one.users.list({});
      await expect(one.users.list({})).rejects.toMatchObject({ code: ErrorCode.RateLimitedError });
      const other = new WebClient(strict.issue('T0BLOGDEV', ALL), {
        slackApiUrl: strict.url,
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: 5000,
      });
      await other.conversations.replies({ channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
      expect(strict.tiers.limited.get('conversations.replies')).toBe(1);
      // chat.postMessage: a minute's burst per channel, then 429; another channel still takes posts
      for (let i = 0; i < 60; i++) await one.chat.postMessage({ channel: 'C0DEVBOTTEST', text: `burst ${i}` });
      await expect(one.chat.postMessage({ channel: 'C0DEVBOTTEST', text: 'one too many' })).rejects.toMatchObject({
        code: ErrorCode.RateLimitedError,
      });
      await one.chat.postMessage({ channel: 'C0DEVSCRATCH', text: 'elsewhere' });
    } finally {
      await strict.close();
    }
  });

  it('a speedup shortens the window for tests, and nothing else', async () => {
    const quick = await startSlackSandbox(0, { speedup: 60 });
    try {
      const one = new WebClient(quick.issue('T0BLOGDEV', ALL), {
        slackApiUrl: quick.url,
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: 5000,
      });
      for (let i = 0; i < 20; i++) await one.users.list({});
      await expect(one.users.list({})).rejects.toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 1 });
      await new Promise((r) => setTimeout(r, 1050));
      await one.users.list({});
    } finally {
      await quick.close();
    }
  });
});

describe('Slack sandbox: token rotation (oauth.v2.access, grant_type=refresh_token)', () => {
  const ROT = ['channels:read', 'chat:write'];
  const exchange = (app: { client_id: string; client_secret: string }, refresh_token: string) =>
    client('').oauth.v2.access({
      client_id: app.client_id,
      client_secret: app.client_secret,
      grant_type: 'refresh_token',
      refresh_token,
    });

  it('exchanges a refresh token for an expiring access token and the next refresh token, in the documented shape', async () => {
    const app = sb.rotating('T0BLOGDEV', ROT);
    const r = await exchange(app, app.refresh_token);
    conforms('oauth.v2.access', r as never);
    // the keys of the spec's own example (a bot token), with the same shapes; then what rotation adds
    const example = SPEC.paths['/oauth.v2.access'].get.responses['200'].examples['application/json'];
    for (const k of Object.keys(example).filter((k) => k !== 'authed_user' && k !== 'enterprise'))
      expect(typeof (r as never)[k], k).toBe(typeof example[k]);
    expect(r).toMatchObject({
      ok: true,
      token_type: 'bot',
      scope: ROT.join(','),
      team: { id: 'T0BLOGDEV' },
      bot_user_id: 'U0DEVBOT',
      expires_in: 43_200,
    });
    expect(r.access_token).toMatch(/^xoxe\.xoxb-/);
    expect(r.refresh_token).toMatch(/^xoxe-1-/);
    // the spec names the app's credentials as the method's arguments; rotation adds grant_type and refresh_token
    const params = SPEC.paths['/oauth.v2.access'].get.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(expect.arrayContaining(['client_id', 'client_secret']));
    const me = await client(r.access_token!).auth.test();
    expect(me.response_metadata?.scopes).toEqual(ROT);
  });

  it('kills each refresh token once used, and refuses a wrong client secret', async () => {
    const app = sb.rotating('T0BLOGDEV', ROT);
    const first = await exchange(app, app.refresh_token);
    await expect(exchange(app, app.refresh_token)).rejects.toMatchObject({
      data: { ok: false, error: 'invalid_refresh_token' },
    });
    await expect(exchange({ ...app, client_secret: 'nope' }, first.refresh_token!)).rejects.toMatchObject({
      data: { error: 'bad_client_secret' },
    });
    const second = await exchange(app, first.refresh_token!);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(sb.refreshable(first.refresh_token!)).toBe(false);
    expect(sb.refreshable(second.refresh_token!)).toBe(true);
    // the secrets are not kept in the request log
    expect(JSON.stringify(sb.emulator.requests.filter((q) => q.route === 'oauth.v2.access'))).not.toMatch(
      /xoxe-1-|client_secret/,
    );
  });

  it('answers token_expired once an access token outlives expires_in', async () => {
    const app = sb.rotating('T0BLOGDEV', ROT, { ttlSeconds: 1 });
    const r = await exchange(app, app.refresh_token);
    expect(r.expires_in).toBe(1);
    await client(r.access_token!).auth.test();
    await new Promise((res) => setTimeout(res, 1100));
    await expect(client(r.access_token!).auth.test()).rejects.toMatchObject({ data: { error: 'token_expired' } });
  });
});
