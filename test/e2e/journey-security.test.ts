// Journey: a security team, through the bin (dist/fleet), on the sandboxes. Two replicas of
// slack.prod on PostgreSQL serve proven calls, a replayed key, a denial, an approval and an HTTP
// probe with a credential the fleet never issued, while their OTLP collector is down → `audit
// export` to a file named as the team files evidence → `audit verify` of it under that name (the
// instance comes from the records) → `audit show` and `--custody` → `review` and `review
// --propose` → the proposal applied with a token of exactly its scopes: the same production calls
// pass, and the collector, back, receives what it missed from the trail. Then the same readers on
// a 1,000,000-record trail of every record kind, with the heap capped.
import { linkSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { writeTrail } from '../fixtures/trail-writer.js';
import { runCli, tempDir, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { Collector } from '../otlp-collector.js';
import { BOT_MESSAGE, PROD_SCOPES, workspace } from '../slack-prod.js';
import { freshDatabase, PG_STORE, PG_URL } from '../state/pg.js';

const status = (r: CallToolResult) => (r.structuredContent as { status?: string } | undefined)?.status;
/** what kind of record a line of the trail is, as the team asks for them */
const kindOf = (r: Record<string, any>) =>
  r.http
    ? 'http-refusal'
    : r.phase === 'approval'
      ? 'approval'
      : r.decision === 'replay'
        ? 'replay'
        : r.decision === 'deny'
          ? 'deny'
          : r.phase;
const KINDS = ['intent', 'outcome', 'approval', 'replay', 'deny', 'http-refusal', 'export'];

describe.skipIf(!PG_URL)('journey: a security team', () => {
  let sb: SlackSandbox;
  let scopes: string;
  let url: string;
  let evidence = '';
  const db = 'fleet_security';
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  const bearer = mintToken();
  const replicas: HttpServed[] = [];
  const collector = new Collector();
  // one host: the replicas share the state folder, where what the collector missed is kept
  const stateDir = tempDir('fleet-state-');
  const env = () => ({ FLEET_STATE_PG: url });

  const start = async (token = PROD_SCOPES, dir = scopes) =>
    serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', dir], {
      stateDir,
      vars: {
        SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', token),
        SLACK_APPROVALS_TOKEN: sb.issue(
          'T0BLOGPROD',
          ['chat:write', 'channels:history', 'users:read'],
          undefined,
          'U0APPROVALS',
        ),
        FLEET_APPROVAL_POLL_MS: '100',
        FLEET_STATE_PG: url,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BLRP_SCHEDULE_DELAY: '50',
        OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      },
    });
  const call = (c: Client, name: string, args: Record<string, unknown>, meta: Record<string, string>) =>
    c.callTool({ name, arguments: args, _meta: meta }, undefined, { timeout: 60_000 }) as Promise<CallToolResult>;
  /** the production calls of the journey, each asked in #editorial by an editor */
  const prodCalls = async (c: Client, tag: string) => {
    const w = workspace(sb);
    const read = await call(c, 'read_history', { channel: 'C0EDITORIAL', limit: 2 }, w.asks('U0EDITOR1'));
    const post = await call(
      c,
      'post_message',
      { channel: 'C0EDITORIAL', text: `draft ${tag}` },
      { ...w.asks('U0EDITOR2'), 'fleet/idempotency-key': `post-${tag}` },
    );
    return { read, post };
  };

  beforeAll(async () => {
    sb = await startSlackSandbox();
    database = await freshDatabase(db);
    url = database.url;
    // a port for the collector, which is then down
    await collector.up();
    await collector.down();
    scopes = httpScopes(
      `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, calling every replica of slack.prod behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer)}
    review_by: '2027-05-31'
`,
      (f, t) =>
        f === 'fleet.yaml'
          ? `${t}${PG_STORE}`
          : f === 'slack.prod.yaml'
            ? t.replace('timeout: 15m }', 'timeout: 1m }')
            : t,
    );
    const migrate = await runCli(['state', 'migrate', '--scopes', scopes], { env: env() });
    expect(migrate.code, migrate.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
    await collector.down();
    await sb?.close();
    await database?.drop();
  });

  it('serves, exports, verifies, shows, reviews, narrows, and still serves; the collector gets what it missed', async () => {
    // 1. two replicas on PostgreSQL, the collector down
    replicas.push(await start(), await start());
    const [a, b] = await Promise.all(replicas.map((r) => connect(`${r.url}/mcp/slack/prod`, bearer)));
    const first = await prodCalls(a!, 'one');
    expect(first.read.isError, text(first.read)).toBeFalsy();
    expect(status(first.post), text(first.post)).toBe('completed');
    const w = workspace(sb);
    // the same key on the other replica: replayed, not posted twice
    const again = await call(
      b!,
      'post_message',
      { channel: 'C0EDITORIAL', text: 'draft one' },
      { ...w.asks('U0EDITOR2'), 'fleet/idempotency-key': 'post-one' },
    );
    expect(status(again)).toBe('replayed');
    // outside the grant: denied
    expect((await call(b!, 'post_message', { channel: 'C0APPROVALS', text: 'no' }, w.asks('U0EDITOR1'))).isError).toBe(
      true,
    );
    // an edit needs an editor's yes in #approvals
    const edit = call(
      a!,
      'update_message',
      { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Release notes 5.0' },
      { ...w.asks('U0WRITER1'), 'fleet/idempotency-key': 'edit-5' },
    );
    const req = await waitFor(
      () =>
        w.channel('C0APPROVALS').messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes('Release notes 5.0')),
      20_000,
    );
    await w.as('U0EDITOR1').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    expect(status(await edit)).toBe('completed');
    // a probe with a credential the fleet never issued: refused at the door, on the record
    await expect(connect(`${replicas[1]!.url}/mcp/slack/prod`, mintToken())).rejects.toThrow();
    await Promise.all([a!.close(), b!.close()]);
    await Promise.all(replicas.splice(0).map((r) => r.stop()));

    // 2. the shared trail exported to a file named as the team files evidence
    evidence = join(tempDir('fleet-evidence-'), 'incident-4711-prod-trail.jsonl');
    const exported = await runCli(
      ['audit', 'export', '--instance', 'slack.prod', '--scopes', scopes, '--out', evidence],
      { env: env() },
    );
    expect(exported.code, exported.stderr).toBe(0);
    const records = readFileSync(evidence, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const kinds = new Set(records.map(kindOf));
    expect([...kinds].sort(), 'the record kinds of the journey').toEqual(expect.arrayContaining(KINDS));
    expect(records.filter((r) => r.phase === 'export').every((r) => r.owed > 0)).toBe(true);

    // 3. verified under that name: the instance comes from the records; --instance asserts it
    const verify = await runCli(['audit', 'verify', evidence]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`chain intact, ${records.length} records of slack\\.prod`));
    expect((await runCli(['audit', 'verify', evidence, '--instance', 'slack.prod'])).code).toBe(0);
    const wrong = await runCli(['audit', 'verify', evidence, '--instance', 'slack.dev']);
    expect(wrong.code).toBe(1);

    // 4. shown, and its chain of custody, the HTTP refusal among the calls
    const show = await runCli(['audit', 'show', evidence]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/update_message/);
    expect(show.stdout).toMatch(/replay/);
    const custody = await runCli(['audit', 'show', evidence, '--custody']);
    expect(custody.code, custody.stderr).toBe(0);
    expect(custody.stdout).toMatch(/U0EDITOR1/);
    const json = (await runCli(['audit', 'show', evidence, '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json.some((c) => c.records.some((r: Record<string, unknown>) => r.http))).toBe(true);

    // 5. reviewed from the shared trail, and a proposal
    const review = await runCli(['review', 'slack.prod', '--scopes', scopes], { env: env() });
    expect(review.code, review.stdout + review.stderr).toBe(0);
    const proposal = join(tempDir('fleet-proposal-'), 'p');
    const propose = await runCli(['review', 'slack.prod', '--scopes', scopes, '--propose', proposal], { env: env() });
    expect(propose.code, propose.stdout + propose.stderr).toBe(0);
    expect(propose.stdout).toMatch(/replay: \d+ call\(s\) allowed in the window, all still allowed/);
    const proposed = parse(readFileSync(join(proposal, 'slack.prod.yaml'), 'utf8'));
    expect(proposed.upstream.token_scopes).toEqual(
      expect.arrayContaining(['channels:history', 'users:read', 'chat:write']),
    );
    expect(proposed.upstream.token_scopes.length).toBeLessThan(PROD_SCOPES.length);

    // 6. applied (the proposal is the whole scopes folder, narrowed) with a token holding exactly the
    // proposed scopes: the same production calls pass; the collector, back, gets what it missed
    expect((await runCli(['verify', '--scopes', proposal, '--no-docs'])).code).toBe(0);
    await collector.up();
    replicas.push(await start(proposed.upstream.token_scopes, proposal));
    const c = await connect(`${replicas[0]!.url}/mcp/slack/prod`, bearer);
    const after = await prodCalls(c, 'two');
    expect(after.read.isError, text(after.read)).toBeFalsy();
    expect(status(after.post), text(after.post)).toBe('completed');
    await c.close();
    const missed = records.filter((r) => r.phase !== 'export').map((r) => r.seq as number);
    await waitFor(() => missed.every((s) => collector.seqs().all.has(s)), 60_000);
    expect(collector.seqs().resent.size).toBeGreaterThan(0);
  }, 300_000);

  it('reads a 1,000,000-record trail of every record kind with the heap capped at 128 MB: verify, show, custody, review --propose', async () => {
    expect(evidence, 'the journey above wrote the evidence').not.toBe('');
    const dir = tempDir('fleet-million-');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // the journey's own records, every kind among them, again and again, chained anew
    const kinds = readFileSync(evidence, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const { seq: _s, prev: _p, hash: _h, ...r } = JSON.parse(l) as Record<string, unknown>;
        return r;
      });
    const end = Date.now();
    const rounds = Math.ceil(1_000_000 / kinds.length);
    // one round a minute: the newest 90 days hold them all
    const trail = join(dir, 'slack.prod.jsonl');
    const n = writeTrail(
      trail,
      'slack.prod',
      (function* () {
        for (let i = 0; i < rounds; i++) {
          const time = new Date(end - (rounds - i) * 60_000).toISOString();
          for (const r of kinds) yield { ...r, ...(r.call ? { call: `${String(r.call)}-${i}` } : {}), time };
        }
      })(),
    );
    expect(n).toBeGreaterThanOrEqual(1_000_000);
    const capped = { timeoutMs: 400_000, env: { NODE_OPTIONS: '--max-old-space-size=128' } };
    const renamed = join(dir, 'incident-4711-prod-trail.jsonl');
    linkSync(trail, renamed);

    const verify = await runCli(['audit', 'verify', renamed], capped);
    expect(verify.code, `verify: ${verify.stdout}${verify.stderr.slice(-2000)}`).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`chain intact, ${n} records of slack\\.prod`));
    const custody = await runCli(['audit', 'show', renamed, '--custody'], capped);
    expect(custody.code, `custody: ${custody.stderr.slice(-2000)}`).toBe(0);
    expect(custody.stdout.split('\n').filter((l) => /U0EDITOR1/.test(l)).length).toBeGreaterThan(rounds);
    const show = await runCli(['audit', 'show', renamed, '--tool', 'update_message'], capped);
    expect(show.code, `show: ${show.stderr.slice(-2000)}`).toBe(0);
    expect(show.stdout.split('\n').filter((l) => /update_message/.test(l)).length).toBeGreaterThanOrEqual(rounds);
    // the review counts as the trail streams past, and the proposal's replay reads it again
    const review = await runCli(
      ['review', 'slack.prod', '--scopes', scopes, '--audit-dir', dir, '--propose', join(dir, 'proposal')],
      capped,
    );
    expect(review.code, `review: ${review.stdout}${review.stderr.slice(-2000)}`).toBe(0);
    const replayed = Number(
      /replay: (\d+) call\(s\) allowed in the window, all still allowed/.exec(review.stdout)?.[1],
    );
    expect(replayed).toBeGreaterThanOrEqual(3 * rounds);
  }, 600_000);
});
