// Proven identity and honest approvals, through the real CLI over stdio against the Slack sandbox in
// this process: the tests play the editors (posting requests, approving), then assert on what the
// sandbox received — which proofs hold, which fail, what the approvals post said, and that nothing
// reached the upstream for a refused, withdrawn or unproven call.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import {
  approvalsIdentity,
  auditRecords,
  runCli,
  serve,
  SCOPES,
  tempDir,
  text,
  type Served,
  waitFor,
} from '../helpers.js';
import { BOT_MESSAGE, serveSlackProd, slackScopes, workspace } from '../slack-prod.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sb: SlackSandbox;
let people: ReturnType<typeof workspace>;
beforeAll(async () => {
  sb = await startSlackSandbox();
  people = workspace(sb);
});
afterAll(() => sb.close());

const editorial = () => people.channel('C0EDITORIAL');
const approvalsChannel = () => people.channel('C0APPROVALS');
const requests = () => sb.emulator.requests.length;
const since = (n: number) => sb.emulator.requests.slice(n).map((r) => r.route);
const as = (user: string) => people.as(user);
const asks = (actor: string, channel = 'C0EDITORIAL') => people.asks(actor, channel);

/** A scopes folder with the shipped manifests, slack.prod edited. */
const scopes = (edit: (text: string) => string = (t) => t) =>
  slackScopes((f, t) => (f === 'slack.prod.yaml' ? edit(t) : t));

const startProd = (
  dir = scopes((t) => t.replace('timeout: 15m }', 'timeout: 20s }')),
  vars: Record<string, string> = {},
  dirs: { stateDir?: string; auditDir?: string } = {},
) => serveSlackProd(sb, { scopes: dir, vars, ...dirs });

describe('actor proof: slack-message', () => {
  let s: Served;
  beforeAll(async () => {
    s = await startProd();
    // the first call opens the upstream (its identity check), so each test sees only its own requests
    expect((await s.call('read_history', { channel: 'C0EDITORIAL', limit: 1 }, asks('U0WRITER1'))).isError).toBeFalsy();
  });
  afterAll(() => s.close());

  it('admits a call whose thread is a fresh message by the actor, a human, in a request channel; the audit keeps the proof', async () => {
    const meta = asks('U0WRITER1');
    const r = await s.call('read_history', { channel: 'C0EDITORIAL', limit: 1 }, meta);
    expect(r.isError, text(r)).toBeFalsy();
    const rec = auditRecords(s.auditFile)
      .filter((x) => x.phase === 'intent')
      .at(-1)!;
    expect(rec).toMatchObject({
      actor: 'U0WRITER1',
      thread: meta['fleet/thread'],
      client_id: 'local',
      actor_proof: { kind: 'slack-message', verified: true, author: 'U0WRITER1', message: meta['fleet/thread'] },
    });
    expect(rec.actor_proof.checked_at).toMatch(/^\d{4}-/);
  });

  const refusals: [string, () => Record<string, string>, string, boolean][] = [
    [
      'a message by someone else',
      () => ({
        'fleet/actor': 'U0WRITER1',
        'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER2', 'not me'),
      }),
      'author-mismatch',
      true,
    ],
    [
      'a missing message',
      () => ({ 'fleet/actor': 'U0WRITER1', 'fleet/thread': `C0EDITORIAL/${(Date.now() / 1000 - 5).toFixed(6)}` }),
      'message-not-found',
      true,
    ],
    [
      'a bot-authored message',
      () => ({
        'fleet/actor': 'U0PRODBOT',
        'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0PRODBOT', 'I asked myself'),
      }),
      'bot-authored',
      true,
    ],
    ['a guest account', () => asks('U0GUEST1'), 'not-human', true],
    ['a deleted account', () => asks('U0FORMER1'), 'not-human', true],
    ['a Slack Connect member (another workspace)', () => asks('U0PARTNER1'), 'another workspace', true],
    [
      'a stale message',
      () => ({ 'fleet/actor': 'U0WRITER1', 'fleet/thread': 'C0EDITORIAL/1767226200.000110' }),
      'stale',
      false,
    ],
    ['a message outside the request channels', () => asks('U0WRITER1', 'C0GENERAL'), 'not-a-request-channel', false],
    ['no thread at all', () => ({ 'fleet/actor': 'U0WRITER1' }), 'no-thread', false],
    [
      'an e-mail actor',
      () => ({
        'fleet/actor': 'wes@example.com',
        'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'hi'),
      }),
      'actor-not-slack-user',
      false,
    ],
  ];
  it.each(refusals)(
    'refuses %s, telling nothing about the message, before anything else reaches Slack',
    async (_what, meta, failure, reads) => {
      const m = meta();
      const before = requests();
      const r = await s.call('update_message', { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'forged edit' }, m);
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toMatchObject({ status: 'denied' });
      expect(text(r)).toMatch(
        /^denied: the actor \S+ is not proven \(.*slack\.prod\.yaml:\d+\): pass _meta "fleet\/thread"/,
      );
      // the refusal names no author and does not say whether the message exists
      expect(text(r)).not.toMatch(/U0WRITER2|not found|bot-authored|guest|deleted/);
      // only the proof's own read-only lookups, and only for a request channel
      expect(since(before).every((route) => ['conversations.replies', 'users.info'].includes(route))).toBe(true);
      if (!reads) expect(since(before)).toEqual([]);
      expect(editorial().messages.find((x) => x.ts === BOT_MESSAGE)!.text).not.toBe('forged edit');
      const rec = auditRecords(s.auditFile).at(-1)!;
      expect(rec).toMatchObject({
        decision: 'deny',
        rule: 'attribution.proof',
        actor_proof: { kind: 'slack-message', verified: false },
      });
      expect(rec.actor_proof.failure).toContain(failure);
    },
  );

  it.each([
    ['an invisible character', 'U0WRITER1\u200b'],
    ['a bidi override', '\u202eU0WRITER1'],
    ['a Cyrillic look-alike', 'U0WR\u0406TER1'],
    ['a fullwidth look-alike', '\uff350WRITER1'],
    ['a blank', ' '],
    ['lower case', 'u0writer1'],
    // Slack markup can never reach the approvals post through the actor: it is no identifier
    ['a broadcast mention', '<!channel>'],
    ['a disguised mention', '<@U0EDITOR1|U0WRITER1>'],
  ])('refuses an actor with %s before any lookup', async (_what, actor) => {
    const before = requests();
    const r = await s.call(
      'read_history',
      { channel: 'C0EDITORIAL' },
      { 'fleet/actor': actor, 'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'hi') },
    );
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^denied: _meta "fleet\/actor" /);
    expect(since(before)).toEqual([]);
    expect(auditRecords(s.auditFile).at(-1)).toMatchObject({ decision: 'deny', rule: 'attribution' });
  });

  it.each([
    ['a broadcast mention', 'C0EDITORIAL/<!here>'],
    ['a disguised link', '<https://evil.example|C0EDITORIAL/1767226320.000112>'],
    ['an invisible character', 'C0EDITORIAL/1767226320.000112\u200b'],
  ])('refuses a thread with %s before any lookup, so it never reaches an approvals post', async (_what, thread) => {
    const before = requests();
    const r = await s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'x' },
      { 'fleet/actor': 'U0WRITER1', 'fleet/thread': thread },
    );
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^denied: _meta "fleet\/thread" /);
    expect(since(before)).toEqual([]);
    expect(auditRecords(s.auditFile).at(-1)).toMatchObject({ decision: 'deny', rule: 'attribution' });
  });

  it('sends nothing upstream for an unattributed call', async () => {
    const before = requests();
    const r = await s.call('update_message', { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'who am I' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/slack\.prod requires attribution/);
    expect(since(before)).toEqual([]);
  });
});

describe('approvals: separation of duties on proven IDs', () => {
  const request = (marker: string) =>
    waitFor(() =>
      approvalsChannel().messages.find(
        (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
      ),
    );
  const thread = (ts: string) => approvalsChannel().messages.filter((m) => m.ts === ts || m.thread_ts === ts);
  const approvalSteps = (s: Served) =>
    auditRecords(s.auditFile)
      .filter((x) => x.phase === 'approval')
      .map((x) => [x.status, x.by ?? '', x.why ?? '']);

  it('ignores the requester, both bots, unlisted users, a listed guest and a listed Slack Connect member; runs on a listed human', async () => {
    // the guest and the partner are people the fleet knows (else serve refuses the manifest), yet no approvers
    // a bot among the approvers breaks fleet rule approver-not-bot, which serve enforces: this copy drops the rule to show the call path itself still ignores the bot
    const known = (t: string) =>
      t
        .replace('\npeople:\n', '\npeople:\n  gus@partner.example: [U0GUEST1]\n  pat@partner.example: [U0PARTNER1]\n')
        .replace(/\n {2}- id: approver-not-bot\n(?: {4}.*\n)+/, '\n');
    const s = await startProd(
      slackScopes((f, t) =>
        f === 'slack.prod.yaml'
          ? t.replace(
              'approvers: [U0EDITOR1, U0EDITOR2], timeout: 15m',
              'approvers: [U0EDITOR1, U0EDITOR2, U0GUEST1, U0PARTNER1, U0PRODBOT], timeout: 20s',
            )
          : f === 'fleet.yaml'
            ? known(t)
            : t,
      ),
    );
    const pending = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: SoD 1' },
      asks('U0WRITER1'),
    );
    const req = await request('SoD 1');
    await as('U0WRITER1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    await as('U0PRODBOT').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    await as('U0WRITER2').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    await as('U0GUEST1').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    await as('U0PARTNER1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    // the executor (the instance's own bot) and the approvals bot, reacting as users
    await as('U0PRODBOT').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    await as('U0APPROVALS').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    await waitFor(() => approvalSteps(s).some(([st, by]) => st === 'ignored' && by === 'U0GUEST1') || undefined);
    await waitFor(() => approvalSteps(s).some(([st, by]) => st === 'ignored' && by === 'U0PARTNER1') || undefined);
    await waitFor(() => approvalSteps(s).some(([st, by]) => st === 'ignored' && by === 'U0APPROVALS') || undefined);
    expect(editorial().messages.find((m) => m.ts === BOT_MESSAGE)!.text).not.toBe('Published: SoD 1');
    await as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    const r = await pending;
    expect(r.structuredContent).toMatchObject({ status: 'completed' });
    const steps = approvalSteps(s);
    expect(steps).toContainEqual(['ignored', 'U0WRITER1', 'the requester cannot approve their own request']);
    expect(steps).toContainEqual(['ignored', 'U0WRITER2', 'not a listed approver']);
    expect(steps.find(([st, by]) => st === 'ignored' && by === 'U0GUEST1')![2]).toMatch(/restricted/);
    expect(steps.find(([st, by]) => st === 'ignored' && by === 'U0PARTNER1')![2]).toMatch(
      /another workspace \(T0PARTNER/,
    );
    expect(steps.at(-1)!.slice(0, 2)).toEqual(['approved', 'U0EDITOR2']);
    expect(steps).toContainEqual(['ignored', 'U0PRODBOT', "the instance's own bot cannot approve"]);
    expect(steps).toContainEqual(['ignored', 'U0APPROVALS', 'the approvals bot cannot approve']);
    // the bot's reply carries a bot_id: never even a vote (its reaction is the one ignored above)
    expect(steps.filter(([, by]) => by === 'U0PRODBOT')).toHaveLength(1);
    const approved = auditRecords(s.auditFile).find((x) => x.phase === 'approval' && x.status === 'approved')!;
    const intent = auditRecords(s.auditFile).find((x) => x.phase === 'intent' && x.call === approved.call)!;
    expect(approved.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(req.text).toContain(approved.digest.slice(0, 12));
    expect(intent).toBeDefined();
    await s.close();
  });

  it("an approval in another request's thread (a different call, or changed arguments) approves nothing", async () => {
    const s = await startProd(scopes((t) => t.replace('timeout: 15m }', 'timeout: 3s }')));
    const a = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: variant A' },
      asks('U0WRITER1'),
    );
    const reqA = await request('variant A');
    const b = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: variant B' },
      asks('U0WRITER1'),
    );
    const reqB = await request('variant B');
    expect(reqA.text).not.toBe(reqB.text);
    await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: reqA.ts, text: 'approve' });
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.structuredContent).toMatchObject({ status: 'completed' });
    expect(rb.structuredContent).toMatchObject({ status: 'approval_expired' });
    expect(editorial().messages.find((m) => m.ts === BOT_MESSAGE)!.text).toBe('Published: variant A');
    await s.close();
  });

  it('an approval after the expiry counts for nothing', async () => {
    const s = await startProd(scopes((t) => t.replace('timeout: 15m }', 'timeout: 1s }')));
    const r = await s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: too late' },
      asks('U0WRITER1'),
    );
    expect(r.structuredContent).toMatchObject({ status: 'approval_expired' });
    const req = await request('too late');
    const updates = sb.emulator.requests.filter((x) => x.route === 'chat.update').length;
    await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    await sleep(300);
    expect(sb.emulator.requests.filter((x) => x.route === 'chat.update').length).toBe(updates);
    expect(editorial().messages.find((m) => m.ts === BOT_MESSAGE)!.text).not.toBe('Published: too late');
    await s.close();
  });

  it('shows a long argument in full, and escapes every requester-controlled value', async () => {
    const s = await startProd(
      scopes((t) =>
        t
          .replace('timeout: 15m }', 'timeout: 20s }')
          .replace(
            /update_message:\n {4}channels: \[C0EDITORIAL\]\n {4}mentions: false/,
            'update_message:\n    channels: [C0EDITORIAL]\n    mentions: false\n    max_length: 20000',
          ),
      ),
    );
    const tail = 'AND-THEN-THE-SECRET-TAIL';
    const long = `Published: long ${'word '.repeat(2400)}${tail}`;
    // broadcasts in the text itself are refused by mentions: false; the rest reaches the approver
    const sneaky = 'x <https://evil.example|release notes> <@U0EDITOR1> <#C0GENERAL>';
    const meta = {
      ...asks('U0WRITER1'),
      'fleet/reason': 'urgent <!everyone> @here <!channel> <https://evil.example|see ticket>',
    };
    const pending = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: `${long} ${sneaky}` },
      meta,
    );
    const req = await request('Published: long');
    const n = Number(/Arguments, part 1 of (\d+):/.exec(req.text)![1]);
    await waitFor(() => (thread(req.ts).length >= n ? true : undefined));
    // every character of the long value is shown: the parts, in order, join into the whole
    const parts = thread(req.ts)
      .map((m) => m.text.split(/Arguments, part \d+ of \d+:\n/)[1])
      .filter((p) => p !== undefined);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.join('')).toContain(
      `text = ${JSON.stringify(`${long} ${sneaky}`).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}`,
    );
    expect(parts.join('')).toContain(tail);
    expect(thread(req.ts).every((m) => m.text.length <= 4000)).toBe(true);
    expect(parts.join('').split('word ').length - 1).toBe(2400);
    // nothing the requester wrote is live markup in a message the approvals identity sent
    const bySystem = thread(req.ts)
      .filter((m) => m.user === 'U0APPROVALS')
      .map((m) => m.text)
      .join('\n');
    expect(bySystem).not.toMatch(/<!(channel|here|everyone)/);
    expect(bySystem).not.toMatch(/<https?:[^>]*\|/);
    expect(bySystem.match(/<@U0EDITOR1>/g)?.length).toBe(1); // the approvers line only
    expect(bySystem).not.toMatch(/(^|[^A-Za-z0-9])@(channel|here|everyone)(?![A-Za-z0-9])/m);
    expect(bySystem).toContain('&lt;!channel&gt;');
    expect(bySystem).toContain('&lt;!everyone&gt;');
    await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'decline' });
    expect((await pending).structuredContent).toMatchObject({ status: 'approval_declined' });
    await s.close();
  });
});

describe('an approval dies with its call', () => {
  const request = (marker: string) =>
    waitFor(() => approvalsChannel().messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes(marker)));

  it.each([
    ['the client cancels', 'cancel'],
    ['the client times out', 'timeout'],
    ['the client disconnects', 'disconnect'],
  ] as const)(
    '%s: the post is withdrawn, a late approval is ignored, nothing reaches the upstream, the key is released',
    async (_what, how) => {
      const stateDir = tempDir();
      const s = await startProd(undefined, {}, { stateDir });
      await s.client.listTools();
      const marker = `doomed ${how} ${Date.now()}`;
      const key = `k-${how}-${Date.now()}`;
      const ac = new AbortController();
      const progress: string[] = [];
      const pending = s.client
        .callTool(
          {
            name: 'update_message',
            arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
            _meta: { ...asks('U0WRITER1'), 'fleet/idempotency-key': key },
          },
          undefined,
          {
            signal: ac.signal,
            timeout: how === 'timeout' ? 1500 : 30_000,
            onprogress: (p) => void progress.push(p.message ?? ''),
          },
        )
        .catch((e: Error) => e);
      const req = await request(marker);
      await waitFor(() => progress.length || undefined); // progress keeps flowing while it waits
      const updatesBefore = sb.emulator.requests.filter(
        (x) => x.route === 'chat.update' && x.params.channel === 'C0EDITORIAL',
      ).length;
      if (how === 'cancel') ac.abort('changed my mind');
      if (how === 'disconnect') await s.close();
      // the client sees an error (cancel, timeout) or, on disconnect, nothing it could act on
      const outcome = await pending;
      if (how !== 'disconnect') expect(outcome).toBeInstanceOf(Error);
      const withdrawn = await waitFor(() =>
        approvalsChannel()
          .messages.find((m) => m.ts === req.ts)!
          .text.includes('Withdrawn')
          ? true
          : undefined,
      );
      expect(withdrawn).toBe(true);
      await waitFor(() =>
        auditRecords(s.auditFile).some((x) => x.phase === 'approval' && x.status === 'withdrawn') ? true : undefined,
      );
      if (how !== 'disconnect') {
        await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
        await waitFor(() =>
          auditRecords(s.auditFile).some(
            (x) => x.phase === 'approval' && x.status === 'ignored' && x.by === 'U0EDITOR1',
          )
            ? true
            : undefined,
        );
        // the key is free again: the same call can be asked anew (and waits for a new approval)
        const again = s.client.callTool(
          {
            name: 'update_message',
            arguments: { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: marker },
            _meta: { ...asks('U0WRITER1'), 'fleet/idempotency-key': key },
          },
          undefined,
          { timeout: 30_000 },
        );
        const second = await waitFor(() =>
          approvalsChannel().messages.find(
            (m) => m.ts !== req.ts && m.text.includes(marker) && m.text.includes('Approval needed'),
          ),
        );
        await as('U0EDITOR2').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: second.ts, text: 'decline' });
        await again;
        await s.close();
      }
      if (how === 'disconnect') {
        // the process ended with its client, but the post stays: two approvers still answer it
        const withdrawal = auditRecords(s.auditFile).find((x) => x.phase === 'approval' && x.status === 'withdrawn')!;
        await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
        await as('U0EDITOR2').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
        const late = () => auditRecords(s.auditFile).filter((x) => x.phase === 'approval' && x.status === 'ignored');
        expect(late()).toEqual([]);
        // whoever runs for the instance next (here: the next start) records each late answer
        const next = await startProd(undefined, {}, { stateDir, auditDir: s.auditDir });
        await waitFor(() => (late().length >= 2 ? true : undefined));
        await next.close();
        // another start (or a replica) reads the approvals channel again and records nothing twice
        const reads = () =>
          sb.emulator.requests.filter((x) => x.route === 'conversations.history' && x.params.channel === 'C0APPROVALS')
            .length;
        const before = reads();
        const third = await startProd(undefined, {}, { stateDir, auditDir: s.auditDir });
        await waitFor(() => (reads() >= before + 2 ? true : undefined)); // two passes: the first has ended
        await third.close();
        expect(late().map((x) => [x.by, x.answer, x.why, x.call, x.digest, x.tool, x.late])).toEqual([
          [
            'U0EDITOR1',
            'approve',
            'the request was withdrawn: its call is gone',
            withdrawal.call,
            withdrawal.digest,
            'update_message',
            true,
          ],
          [
            'U0EDITOR2',
            'approve',
            'the request was withdrawn: its call is gone',
            withdrawal.call,
            withdrawal.digest,
            'update_message',
            true,
          ],
        ]);
        // three processes appended to one trail: its chain holds
        const verified = await runCli(['audit', 'verify', s.auditFile]);
        expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      }
      await sleep(200);
      expect(
        sb.emulator.requests.filter((x) => x.route === 'chat.update' && x.params.channel === 'C0EDITORIAL').length,
      ).toBe(updatesBefore);
      expect(editorial().messages.find((m) => m.ts === BOT_MESSAGE)!.text).not.toBe(marker);
    },
  );
});

describe('chain of custody', () => {
  it('audit show --custody prints one row per call: client, actor and proof, thread, approver, executor, manifest, result', async () => {
    const s = await startProd(undefined, { FLEET_CLIENT: 'blogbot-publish' });
    const meta = asks('U0WRITER2');
    const pending = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: custody' },
      meta,
    );
    const req = await waitFor(() =>
      approvalsChannel().messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes('custody')),
    );
    await as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    expect((await pending).structuredContent).toMatchObject({ status: 'completed' });
    await s.call(
      'read_history',
      { channel: 'C0EDITORIAL' },
      { 'fleet/actor': 'U0WRITER2', 'fleet/thread': 'C0EDITORIAL/1767226200.000110' },
    );
    await s.close();
    const json = await runCli(['audit', 'show', s.auditFile, '--custody', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const rows = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const edit = rows.find((r) => r.tool === 'update_message')!;
    expect(edit).toMatchObject({
      client: 'blogbot-publish',
      actor: 'U0WRITER2',
      proof: 'slack-message',
      thread: meta['fleet/thread'],
      approver: 'U0EDITOR1',
      executor: 'U0PRODBOT',
      credential: 'env:SLACK_BOT_TOKEN_PROD',
      result: 'ok',
    });
    expect(edit.manifest).toMatch(/^[0-9a-f]{64}$/);
    expect(edit.approved_at).toMatch(/^\d{4}-/);
    const refused = rows.find((r) => r.tool === 'read_history')!;
    expect(refused).toMatchObject({ proof: 'slack-message (failed: stale)', result: 'denied (attribution.proof)' });
    const table = await runCli(['audit', 'show', s.auditFile, '--custody']);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^time\s+client\s+actor\s+proof\s+thread\s+approver\s+executor\s+manifest\s+result/,
    );
    expect(table.stdout).toContain('blogbot-publish');
  });
});

describe('try it offline', () => {
  it('fleet sandbox slack prints a token for each seeded human, which acts as that person', async () => {
    const { spawn } = await import('node:child_process');
    const { fleetCommand, ROOT } = await import('../helpers.js');
    const cmd = fleetCommand(['sandbox', 'slack']);
    const child = spawn(cmd.command, cmd.args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => (/U0WRITER2 .*xoxp-\S+/.test(out) ? true : undefined));
      const url = /listening at (\S+)/.exec(out)![1]!;
      const token = /T0BLOGPROD U0EDITOR2\s+.*?(xoxp-\S+)/.exec(out)![1]!;
      expect(out).toMatch(/approvals identity: SLACK_APPROVALS_TOKEN=xoxb-\S+ \(posts to C0APPROVALS\)/);
      expect(out).not.toMatch(/U0FORMER1|U0PRODBOT .*xoxp/);
      const me = await new WebClient(token, { slackApiUrl: url, retryConfig: { retries: 0 } }).auth.test();
      expect(me.user_id).toBe('U0EDITOR2');
      const posted = await new WebClient(token, { slackApiUrl: url, retryConfig: { retries: 0 } }).chat.postMessage({
        channel: 'C0APPROVALS',
        text: 'approve',
      });
      expect(posted.ok).toBe(true);
    } finally {
      child.kill();
    }
  });

  it('fleet demo walks the production flow: proof, another editor approves, custody row; a forged actor is refused', async () => {
    const r = await runCli(['demo'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/15\. The approvals identity asks in #approvals[\s\S]*?Call digest: [0-9a-f]{64}/);
    expect(r.stdout).toMatch(/Sam \(U0EDITOR2\)[^\n]*\n\s+✓ ok \(status: completed\)/);
    expect(r.stdout).toMatch(
      /16\. The same call with a forged actor[\s\S]*?✗ refused \(status: denied\)\n\s+denied: the actor U0EDITOR2 is not proven/,
    );
    expect(r.stdout).toMatch(
      /18\. The chain of custody[^\n]*\n\s+time\s+client[^\n]*\n\s+\S+ \S+\s+blogbot-publish\s+U0EDITOR1\s+slack-message\s+C0EDITORIAL\/\S+\s+U0EDITOR2 at \S+\s+U0PRODBOT \(env:SLACK_BOT_TOKEN_PROD\)\s+[0-9a-f]{12}\s+ok/,
    );
    expect(r.stdout).toMatch(/19\. Its hash chain[^\n]*\n[^\n]*chain intact/);
  });
});

describe('actor proof: slack-message for an instance of another connector', () => {
  it('reads the request through the approvals identity: a proven call runs, a forged one reaches neither upstream', async () => {
    const { startCloudflareSandbox } = await import('../../servers/cloudflare/sandbox/index.js');
    const { ACCOUNT } = await import('../../servers/cloudflare/sandbox/seed.js');
    const cf = await startCloudflareSandbox();
    const dir = tempDir('fleet-scopes-');
    for (const f of ['cloudflare.dev.yaml', 'fleet.yaml']) {
      let t = readFileSync(join(SCOPES, f), 'utf8');
      if (f === 'cloudflare.dev.yaml')
        t = t.replace(
          'attribution: optional',
          'attribution: { proof: slack-message, request_channels: [C0EDITORIAL], max_age: 10m }',
        );
      writeFileSync(join(dir, f), t);
    }
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      upstream: cf.url,
      scopes: dir,
      vars: {
        CLOUDFLARE_API_TOKEN_DEV: cf.issue(ACCOUNT, ['Zone Read', 'DNS Read', 'Account API Tokens Read']),
        ...approvalsIdentity(sb, ['channels:history', 'users:read']),
      },
    });
    try {
      const ok = await s.call('list_zones', {}, asks('U0EDITOR1'));
      expect(ok.isError, text(ok)).toBeFalsy();
      expect(auditRecords(s.auditFile).at(-1)).toMatchObject({
        actor: 'U0EDITOR1',
        actor_proof: { kind: 'slack-message', verified: true, author: 'U0EDITOR1' },
      });
      const cfBefore = cf.emulator.requests.length;
      const forged = await s.call(
        'list_zones',
        {},
        { 'fleet/actor': 'U0EDITOR2', 'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0EDITOR1', 'not Sam') },
      );
      expect(forged.isError).toBe(true);
      expect(text(forged)).toMatch(/the actor U0EDITOR2 is not proven/);
      expect(cf.emulator.requests.length).toBe(cfBefore);
    } finally {
      await s.close();
      await cf.close();
    }
  });
});
