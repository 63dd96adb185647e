// The real CLI, spawned, spoken to over stdio with the SDK Client — as Claude Code does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebClient } from '@slack/web-api';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, runCli, serve, text, type Served } from '../helpers.js';

const lastDecision = (s: Served) =>
  auditRecords(s.auditFile)
    .filter((r) => r.phase !== 'outcome')
    .at(-1)!;

describe('slack dev on its sandbox', () => {
  let s: Served;
  beforeAll(async () => {
    // delete_message asks the user first (approval via elicitation in scopes/slack.dev.yaml): say yes.
    s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      vars: { FLEET_ACTOR: 'dev@example.com' },
      onElicit: () => ({ action: 'accept', content: { approve: true } }),
    });
  });
  afterAll(() => s.close());

  it('lists exactly the granted tools, each with explicit annotations and an output schema', async () => {
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'list_channels',
      'read_history',
      'read_thread',
      'post_message',
      'reply_in_thread',
      'update_message',
      'delete_message',
      'add_reaction',
      'list_users',
      'get_user',
      'search_messages',
      'get_permalink',
    ]);
    for (const t of tools) {
      expect(Object.keys(t.annotations ?? {}).sort()).toEqual([
        'destructiveHint',
        'idempotentHint',
        'openWorldHint',
        'readOnlyHint',
      ]);
      expect(t.outputSchema?.type).toBe('object');
      expect(t.description!.length).toBeGreaterThan(10);
    }
    expect(tools.find((t) => t.name === 'delete_message')!.annotations).toMatchObject({
      destructiveHint: true,
      readOnlyHint: false,
    });
  });

  it('filters lists and searches to granted channels', async () => {
    const ch = await s.call('list_channels');
    expect((ch.structuredContent as { channels: { id: string }[] }).channels.map((c) => c.id)).toEqual([
      'C0DEVGENERAL',
      'C0DEVBOTTEST',
      'C0DEVSCRATCH',
    ]);
    const found = await s.call('search_messages', { query: 'private' });
    expect(found.isError).toBeFalsy();
    expect((found.structuredContent as { matches: unknown[] }).matches).toEqual([]);
  });

  it('reads history, threads, permalinks and users', async () => {
    const h = await s.call('read_history', { channel: 'C0DEVGENERAL' });
    const msgs = (h.structuredContent as { messages: { ts: string; replies?: number }[] }).messages;
    expect(msgs.map((m) => m.ts)).toEqual(['1767225720.000102', '1767225660.000101']);
    const t = await s.call('read_thread', { channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
    expect((t.structuredContent as { messages: unknown[] }).messages).toHaveLength(3);
    const link = await s.call('get_permalink', { channel: 'C0DEVGENERAL', ts: '1767225720.000102' });
    expect(text(link)).toBe('https://blog-dev.slack.com/archives/C0DEVGENERAL/p1767225720000102');
    const users = await s.call('list_users');
    expect(text(users)).toContain('U0DEVALICE @alice');
    expect(JSON.stringify(users.structuredContent)).not.toContain('@example.com');
    expect((await s.call('get_user', { user: 'U0DEVBOB' })).structuredContent).toMatchObject({
      id: 'U0DEVBOB',
      name: 'bob',
      bot: false,
    });
  });

  it('posts, replies, reacts, edits and deletes its own message', async () => {
    const p = await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'hello' });
    expect(p.isError).toBeFalsy();
    const ts = (p.structuredContent as { ts: string }).ts;
    expect(
      (await s.call('reply_in_thread', { channel: 'C0DEVBOTTEST', thread_ts: ts, text: 'a reply' })).isError,
    ).toBeFalsy();
    expect((await s.call('add_reaction', { channel: 'C0DEVBOTTEST', ts, emoji: ':eyes:' })).isError).toBeFalsy();
    expect((await s.call('update_message', { channel: 'C0DEVBOTTEST', ts, text: 'hello again' })).isError).toBeFalsy();
    const thread = await s.call('read_thread', { channel: 'C0DEVBOTTEST', ts });
    expect((thread.structuredContent as { messages: { text: string }[] }).messages.map((m) => m.text)).toEqual([
      'hello again',
      'a reply',
    ]);
    expect((await s.call('delete_message', { channel: 'C0DEVBOTTEST', ts })).isError).toBeFalsy();
  });

  it.each([
    [
      'a channel outside the grant',
      'post_message',
      { channel: 'C0DEVGENERAL', text: 'hi' },
      'tools.post_message.channels',
      /channel C0DEVGENERAL is not in post_message\.channels of slack\.dev \(.*slack\.dev\.yaml:\d+\); allowed channels: C0DEVBOTTEST, C0DEVSCRATCH/,
    ],
    [
      'a private channel on read',
      'read_history',
      { channel: 'C0DEVPRIVATE' },
      'tools.read_history.channels',
      /C0DEVPRIVATE is not in read_history\.channels/,
    ],
    [
      '@channel',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: '<!channel> hi' },
      'tools.post_message.mentions',
      /broadcast mention @channel/,
    ],
    [
      '@here in a reply',
      'reply_in_thread',
      { channel: 'C0DEVBOTTEST', thread_ts: '1767225900.000105', text: 'cc <!here>' },
      'tools.reply_in_thread.mentions',
      /@here/,
    ],
    [
      '<!everyone>',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: '<!everyone>' },
      'tools.post_message.mentions',
      /@everyone/,
    ],
    [
      'a user-group mention',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: '<!subteam^S0EDITORS|@editors> look' },
      'tools.post_message.mentions',
      /@subteam/,
    ],
    [
      'an over-long message',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: 'x'.repeat(4001) },
      'tools.post_message.max_length',
      /message length 4001 characters exceeds/,
    ],
    [
      'an emoji outside the allowlist',
      'add_reaction',
      { channel: 'C0DEVBOTTEST', ts: '1767225900.000105', emoji: 'skull' },
      'tools.add_reaction.emoji',
      /emoji "skull" is not in/,
    ],
    [
      "editing someone else's message",
      'update_message',
      { channel: 'C0DEVBOTTEST', ts: '1767225960.000106', text: 'x' },
      'tools.update_message.own_messages',
      /posted by U0DEVALICE/,
    ],
    [
      "deleting someone else's message",
      'delete_message',
      { channel: 'C0DEVBOTTEST', ts: '1767225960.000106' },
      'tools.delete_message.own_messages',
      /posted by U0DEVALICE/,
    ],
    [
      'deleting in a channel outside the grant',
      'delete_message',
      { channel: 'C0DEVGENERAL', ts: '1767225660.000101' },
      'tools.delete_message.channels',
      /C0DEVGENERAL is not in delete_message\.channels/,
    ],
    [
      'an unknown tool',
      'drop_workspace',
      {},
      'tools',
      /unknown tool "drop_workspace" for slack\.dev .*this instance grants: list_channels/,
    ],
    [
      'a channel name instead of an ID',
      'post_message',
      { channel: '#general', text: 'x' },
      'input',
      /invalid arguments for post_message: channel: must be a channel ID/,
    ],
    [
      'a missing argument',
      'read_thread',
      { channel: 'C0DEVGENERAL' },
      'input',
      /invalid arguments for read_thread: ts:/,
    ],
    ['a wrong type', 'read_history', { channel: 'C0DEVGENERAL', limit: 'ten' }, 'input', /limit:/],
    ['an out-of-range number', 'read_history', { channel: 'C0DEVGENERAL', limit: 100000 }, 'input', /limit:/],
  ])('denies %s, with an audit record naming the rule', async (_what, tool, args, rule, message) => {
    const r = await s.call(tool, args as Record<string, unknown>);
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(message);
    expect(lastDecision(s)).toMatchObject({
      tool,
      decision: 'deny',
      rule,
      actor: 'dev@example.com',
      actor_via: 'env',
      client: { name: 'fleet-test' },
    });
  });

  it('records attribution from _meta, and message bodies only as length and hash', async () => {
    await s.call(
      'post_message',
      { channel: 'C0DEVBOTTEST', text: 'secret plans' },
      { 'fleet/actor': 'U0DEVALICE', 'fleet/thread': 'C0DEVBOTTEST/1767225900.000105', 'fleet/reason': 'demo' },
    );
    const rec = auditRecords(s.auditFile)
      .filter((r) => r.phase === 'intent')
      .at(-1)!;
    expect(rec).toMatchObject({
      actor: 'U0DEVALICE',
      actor_via: 'meta',
      actor_proof: { kind: 'asserted', verified: false },
      client_id: 'local',
      client_via: 'stdio-default',
      thread: 'C0DEVBOTTEST/1767225900.000105',
      reason: 'demo',
      owner: 'content-platform <content@example.com>',
    });
    expect(rec.args.text).toEqual({ len: 12, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(rec.manifest).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(auditRecords(s.auditFile))).not.toContain('secret plans');
  });

  it('refuses malformed attribution', async () => {
    const r = await s.call('read_history', { channel: 'C0DEVGENERAL' }, { 'fleet/actor': 42 });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('_meta "fleet/actor" must be a printable string');
  });

  it('leaves a chain that `fleet audit verify` accepts and `fleet audit show` filters', async () => {
    const v = await runCli(['audit', 'verify', s.auditFile]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/chain intact, \d+ records/);
    const shown = await runCli(['audit', 'show', s.auditFile, '--decision', 'deny', '--tool', 'post_message']);
    expect(shown.code).toBe(0);
    const rows = shown.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^time \(UTC\)\s+actor\s+thread\s+tool\s+decision\s+outcome\s+detail$/);
    expect(rows.slice(1).every((l) => /post_message\s+deny/.test(l))).toBe(true);
    expect(rows.length).toBeGreaterThan(3);
    const json = await runCli(['audit', 'show', s.auditFile, '--json', '--actor', 'U0DEVALICE']);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).actor),
    ).toEqual(['U0DEVALICE']);
  });
});

describe('slack prod on its sandbox', () => {
  let s: Served;
  let sb: SlackSandbox;
  beforeAll(async () => {
    sb = await startSlackSandbox();
    const token = sb.issue('T0BLOGPROD', [
      'channels:read',
      'channels:history',
      'chat:write',
      'reactions:write',
      'users:read',
    ]);
    s = await serve({ connector: 'slack', env: 'prod', upstream: sb.url, vars: { SLACK_BOT_TOKEN_PROD: token } });
  });
  afterAll(async () => {
    await s.close();
    await sb.close();
  });

  it('lists only its narrower grants', async () => {
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name)).not.toContain('delete_message');
    expect(tools.map((t) => t.name)).not.toContain('search_messages');
    const r = await s.call('delete_message', { channel: 'C0EDITORIAL', ts: '1767226320.000112' });
    expect(text(r)).toMatch(/unknown tool "delete_message" for slack\.prod/);
  });

  it('requires an actor', async () => {
    const denied = await s.call('read_history', { channel: 'C0EDITORIAL' });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toMatch(
      /slack\.prod requires attribution \(.*slack\.prod\.yaml:\d+\); pass _meta "fleet\/actor"/,
    );
    // the editor asks in the request channel; the bot's call names that message
    const asked = await new WebClient(sb.issue('T0BLOGPROD', ['chat:write'], undefined, 'U0EDITOR1'), {
      slackApiUrl: sb.url,
    }).chat.postMessage({ channel: 'C0EDITORIAL', text: 'please post' });
    const thread = `C0EDITORIAL/${asked.ts}`;
    const ok = await s.call(
      'read_history',
      { channel: 'C0EDITORIAL' },
      { 'fleet/actor': 'U0EDITOR1', 'fleet/thread': thread },
    );
    expect(ok.isError).toBeFalsy();
    const post = await s.call(
      'post_message',
      { channel: 'C0GENERAL', text: 'x' },
      { 'fleet/actor': 'U0EDITOR1', 'fleet/thread': thread },
    );
    expect(text(post)).toMatch(
      /channel C0GENERAL is not in post_message\.channels of slack\.prod \(.*:\d+\); allowed channels: C0EDITORIAL/,
    );
  });
});
