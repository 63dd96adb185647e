// Every production instance proves its actor, whatever the connector and whatever the transport:
// cloudflare.prod and doppler.prod prove it by the Slack message that asked, read back through the
// approvals identity. The real CLI over stdio and over Streamable HTTP, the sandboxes in this
// process: each refusal is asserted on what the sandboxes received (nothing for a refused call).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT } from '../../servers/cloudflare/sandbox/seed.js';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { tokenHash, mintToken } from '../../shared/transport/http/auth/bearer.js';
import { approvalsIdentity, askedInSlack, auditRecords, serve, text, type Served } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { SAMPLES } from '../hardening/instances.js';

/** cloudflare.prod and doppler.prod, as shipped, mint their tokens at start from a broker */
const cfBroker = () => cf.issue(ACCOUNT, ['Account API Tokens Write'], { name: 'fleet broker' });
const SLACK_PROD = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];

let slack: SlackSandbox;
let cf: CloudflareSandbox;
let doppler: DopplerSandbox;
beforeAll(async () => {
  [slack, cf, doppler] = await Promise.all([startSlackSandbox(), startCloudflareSandbox(), startDopplerSandbox()]);
});
afterAll(() => Promise.all([slack?.close(), cf?.close(), doppler?.close()]));

/** Slack requests made with the approvals identity's token (the proof's reads) since `n`. */
const slackSince = (n: number) => slack.emulator.requests.slice(n).map((r) => r.route);
const asks = (actor: string, author = actor) => ({
  'fleet/actor': actor,
  'fleet/thread': slack.say('T0BLOGPROD', 'C0EDITORIAL', author, 'please run it'),
});

interface Case {
  id: string;
  start: () => Promise<Served>;
  /** requests the instance's own upstream received */
  upstream: () => number;
  tool: string;
  args: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    id: 'cloudflare.prod',
    start: () =>
      serve({
        connector: 'cloudflare',
        env: 'prod',
        upstream: cf.url,
        vars: { CLOUDFLARE_BROKER_TOKEN_PROD: cfBroker(), ...approvalsIdentity(slack) },
      }),
    upstream: () => cf.emulator.requests.length,
    // a production write: it starts the publishing workflow
    tool: 'workflow_create_instance',
    args: SAMPLES['cloudflare.prod']!.workflow_create_instance!,
  },
  {
    id: 'doppler.prod',
    start: () =>
      serve({
        connector: 'doppler',
        env: 'prod',
        upstream: doppler.url,
        vars: { DOPPLER_BROKER_TOKEN_PROD: doppler.issueBroker('blogbot'), ...approvalsIdentity(slack) },
      }),
    upstream: () => doppler.emulator.requests.length,
    tool: 'get_secret',
    args: SAMPLES['doppler.prod']!.get_secret!,
  },
  {
    id: 'slack.prod',
    start: () =>
      serve({
        connector: 'slack',
        env: 'prod',
        upstream: slack.url,
        vars: { SLACK_BOT_TOKEN_PROD: slack.issue('T0BLOGPROD', SLACK_PROD), ...approvalsIdentity(slack) },
      }),
    upstream: () => slack.emulator.requests.length,
    tool: 'post_message',
    args: { channel: 'C0EDITORIAL', text: 'proof test' },
  },
];

describe.each(CASES)('$id over stdio proves its actor', (k) => {
  let s: Served;
  beforeAll(async () => {
    s = await k.start();
    // a proven call opens the upstream (its identity check), so each test sees only its own requests
    const r = await s.call(k.tool, k.args, asks('U0EDITOR1'));
    expect(r.isError, text(r)).toBeFalsy();
    expect(
      auditRecords(s.auditFile)
        .filter((x) => x.phase === 'intent')
        .at(-1),
    ).toMatchObject({
      actor: 'U0EDITOR1',
      actor_via: 'meta',
      actor_proof: { kind: 'slack-message', verified: true, author: 'U0EDITOR1' },
    });
  });
  afterAll(() => s?.close());

  it('refuses an unattributed call before anything reaches any upstream, saying what to pass', async () => {
    const up = k.upstream();
    const sl = slack.emulator.requests.length;
    const r = await s.call(k.tool, k.args);
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(
      new RegExp(
        `^denied: ${k.id.replace('.', '\\.')} requires attribution \\(.*${k.id.replace('.', '\\.')}\\.yaml:\\d+\\); pass _meta "fleet/actor" \\(their Slack user ID\\) and "fleet/thread"`,
      ),
    );
    expect(k.upstream()).toBe(up);
    expect(slackSince(sl)).toEqual([]);
    expect(auditRecords(s.auditFile).at(-1)).toMatchObject({ decision: 'deny', rule: 'attribution' });
  });

  it.each([
    ['an actor with no thread', () => ({ 'fleet/actor': 'U0EDITOR1' }), 'no-thread'],
    ['a made-up actor, with a message someone else wrote', () => asks('U0EDITOR2', 'U0EDITOR1'), 'author-mismatch'],
    ['an actor that does not exist', () => asks('U0NOBODY1', 'U0EDITOR1'), 'author-mismatch'],
    [
      'an e-mail actor',
      () => ({
        'fleet/actor': 'erin@example.com',
        'fleet/thread': slack.say('T0BLOGPROD', 'C0EDITORIAL', 'U0EDITOR1', 'hi'),
      }),
      'actor-not-slack-user',
    ],
    ['a bot as the actor', () => asks('U0PRODBOT'), 'bot-authored'],
  ])('refuses %s; nothing reaches the upstream', async (_what, meta, failure) => {
    const up = k.upstream();
    const r = await s.call(k.tool, k.args, meta());
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^denied: the actor \S+ is not proven \(.*\.yaml:\d+\): pass _meta "fleet\/thread"/);
    // slack.prod's own reads of the request message are its upstream's; the others' go to Slack only
    if (k.id !== 'slack.prod') expect(k.upstream()).toBe(up);
    const rec = auditRecords(s.auditFile).at(-1)!;
    expect(rec).toMatchObject({
      decision: 'deny',
      rule: 'attribution.proof',
      actor_proof: { kind: 'slack-message', verified: false },
    });
    expect(rec.actor_proof.failure).toContain(failure);
  });
});

describe('over Streamable HTTP, the client cannot name the human either', () => {
  const token = mintToken();
  let h: HttpServed;
  let asked: Record<string, string>;
  const url = () => `${h.url}/mcp/cloudflare/prod`;
  beforeAll(async () => {
    const scopes = httpScopes(`clients:
  publish:
    owner: content-platform <content@example.com>
    purpose: The bot's publish step starts the publishing workflow.
    instances: [cloudflare.prod]
    token: sha256:${tokenHash(token)}
`);
    // the server's own environment names a proven human: over HTTP it must count for no client
    asked = askedInSlack(slack, 'U0EDITOR1', 'server-wide request');
    h = await serveHttp(['--instance', 'cloudflare.prod', '--upstream', cf.url, '--scopes', scopes], {
      vars: { CLOUDFLARE_BROKER_TOKEN_PROD: cfBroker(), ...asked },
    });
  });
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  it("admits a call whose _meta proves its actor, and refuses one with none, a forged one, or the server environment's", async () => {
    const c = await connect(url(), token);
    const { tool, args } = CASES[0]!;
    const ok = await c.callTool({ name: tool, arguments: args, _meta: asks('U0EDITOR2') });
    expect(ok.isError, text(ok as never)).toBeFalsy();
    const records = () => auditRecords(join(h.auditDir, 'cloudflare.prod.jsonl'));
    expect(
      records()
        .filter((x) => x.phase === 'intent')
        .at(-1),
    ).toMatchObject({
      actor: 'U0EDITOR2',
      client_id: 'publish',
      client_via: 'http-bearer',
      actor_proof: { kind: 'slack-message', verified: true, author: 'U0EDITOR2' },
    });
    const before = cf.emulator.requests.length;
    // no _meta: FLEET_ACTOR/FLEET_THREAD of the server name nobody's human over HTTP
    const none = await c.callTool({ name: tool, arguments: args });
    expect(none.isError).toBe(true);
    expect(text(none as never)).toMatch(/^denied: cloudflare\.prod requires attribution/);
    expect(text(none as never)).not.toContain('FLEET_ACTOR');
    // naming the human the server's environment names, with another's message
    const borrowed = await c.callTool({
      name: tool,
      arguments: args,
      _meta: {
        'fleet/actor': 'U0EDITOR1',
        'fleet/thread': slack.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'not Erin'),
      },
    });
    expect(borrowed.isError).toBe(true);
    expect(text(borrowed as never)).toMatch(/^denied: the actor U0EDITOR1 is not proven/);
    // a made-up actor with no message at all
    const forged = await c.callTool({ name: tool, arguments: args, _meta: { 'fleet/actor': 'U0EDITOR1' } });
    expect(forged.isError).toBe(true);
    expect(cf.emulator.requests.length).toBe(before);
    const denials = records()
      .filter((x) => x.decision === 'deny')
      .slice(-3);
    expect(denials.map((x) => [x.rule, x.actor ?? null, x.client_id])).toEqual([
      ['attribution', null, 'publish'],
      ['attribution.proof', 'U0EDITOR1', 'publish'],
      ['attribution.proof', 'U0EDITOR1', 'publish'],
    ]);
    await c.close();
  });
});
