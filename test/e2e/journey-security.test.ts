// Journey: a security team, through the bin (dist/fleet), on the sandboxes. Two replicas of
// slack.prod on PostgreSQL serve proven calls, a replayed key, a denial, an approval, an HTTP
// probe with a wrong credential, and lose their OTLP export to a collector that is down → `audit
// export` to a file under a name of the team's choosing → `audit verify` of that file (the instance
// comes from the records; --instance asserts it) → `audit show` and `--custody` → `review
// --propose` → the proposal applied, with a token holding exactly its scopes → the same production
// calls still pass.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken, tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { runCli, tempDir, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { BOT_MESSAGE, PROD_SCOPES, workspace } from '../slack-prod.js';
import { PG_URL } from '../state/pg.js';

const status = (r: CallToolResult) => (r.structuredContent as { status?: string } | undefined)?.status;

describe.skipIf(!PG_URL)('journey: a security team', () => {
  let sb: SlackSandbox;
  let scopes: string;
  let url: string;
  const db = `fleet_security_${process.pid}`;
  const bearer = mintToken();
  const replicas: HttpServed[] = [];
  const admin = () => new pg.Client({ connectionString: PG_URL });
  const env = () => ({ FLEET_STATE_PG: url });
  /** a port nothing listens on: the collector is down */
  let deadCollector = '';

  const start = async (token = PROD_SCOPES, dir = scopes) =>
    serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', dir], {
      vars: {
        SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', token),
        SLACK_APPROVALS_TOKEN: sb.issue('T0BLOGPROD', ['chat:write', 'channels:history', 'users:read'], undefined, 'U0APPROVALS'),
        FLEET_APPROVAL_POLL_MS: '100',
        FLEET_STATE_PG: url,
        OTEL_EXPORTER_OTLP_ENDPOINT: deadCollector,
        OTEL_BLRP_SCHEDULE_DELAY: '50',
      },
    });
  const call = (c: Client, name: string, args: Record<string, unknown>, meta: Record<string, string>) =>
    c.callTool({ name, arguments: args, _meta: meta }, undefined, { timeout: 60_000 }) as Promise<CallToolResult>;
  /** the production calls of the journey, each asked in #editorial by an editor */
  const prodCalls = async (c: Client, tag: string) => {
    const w = workspace(sb);
    const read = await call(c, 'read_history', { channel: 'C0EDITORIAL', limit: 2 }, w.asks('U0EDITOR1'));
    const post = await call(c, 'post_message', { channel: 'C0EDITORIAL', text: `draft ${tag}` }, { ...w.asks('U0EDITOR2'), 'fleet/idempotency-key': `post-${tag}` });
    return { read, post };
  };

  beforeAll(async () => {
    sb = await startSlackSandbox();
    const a = admin();
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await a.query(`CREATE DATABASE ${db}`);
    await a.end();
    url = PG_URL.replace(/\/[^/?]+(\?|$)/, `/${db}$1`);
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    deadCollector = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    scopes = httpScopes(
      `clients:
  editorial-bot:
    owner: content-platform <content@example.com>
    purpose: The editorial bot, calling every replica of slack.prod behind the load balancer.
    instances: [slack.prod]
    token: sha256:${tokenHash(bearer)}
    review_by: '2027-05-31'
`,
      (f, t) => (f === 'fleet.yaml' ? `${t}\nstore:\n  engine: postgres\n  url: env:FLEET_STATE_PG\n` : f === 'slack.prod.yaml' ? t.replace('timeout: 15m }', 'timeout: 1m }') : t),
    );
    const migrate = await runCli(['state', 'migrate', '--scopes', scopes], { env: env() });
    expect(migrate.code, migrate.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
    await sb?.close();
    const a = admin();
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    await a.end();
  });

  it('serves, exports, verifies, shows, reviews, narrows, and still serves', async () => {
    // 1. two replicas on PostgreSQL, the collector down
    replicas.push(await start(), await start());
    const [a, b] = await Promise.all(replicas.map((r) => connect(`${r.url}/mcp/slack/prod`, bearer)));
    const first = await prodCalls(a!, 'one');
    expect(first.read.isError, text(first.read)).toBeFalsy();
    expect(status(first.post), text(first.post)).toBe('completed');
    // the same key on the other replica: replayed, not posted twice
    const w = workspace(sb);
    const again = await call(b!, 'post_message', { channel: 'C0EDITORIAL', text: 'draft one' }, { ...w.asks('U0EDITOR2'), 'fleet/idempotency-key': 'post-one' });
    expect(status(again)).toBe('replayed');
    // outside the grant: denied
    expect((await call(b!, 'post_message', { channel: 'C0APPROVALS', text: 'no' }, w.asks('U0EDITOR1'))).isError).toBe(true);
    // an edit needs an editor's yes in #approvals
    const edit = call(a!, 'update_message', { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Release notes 5.0' }, { ...w.asks('U0WRITER1'), 'fleet/idempotency-key': 'edit-5' });
    const req = await waitFor(() => w.channel('C0APPROVALS').messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes('Release notes 5.0')), 20_000);
    await w.as('U0EDITOR1').reactions.add({ channel: 'C0APPROVALS', timestamp: req.ts, name: 'white_check_mark' });
    expect(status(await edit)).toBe('completed');
    // a probe with a credential the fleet never issued: refused at the door, on the record
    await expect(connect(`${replicas[1]!.url}/mcp/slack/prod`, mintToken())).rejects.toThrow();
    await Promise.all([a!.close(), b!.close()]);
    await Promise.all(replicas.splice(0).map((r) => r.stop()));

    // 2. export to a file named as the team files evidence
    const file = join(tempDir('fleet-evidence-'), 'incident-4711-prod-trail.jsonl');
    const exported = await runCli(['audit', 'export', '--instance', 'slack.prod', '--scopes', scopes, '--out', file], { env: env() });
    expect(exported.code, exported.stderr).toBe(0);
    const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const kinds = new Set(records.map((r) => (r.http ? 'http-refusal' : r.phase === 'approval' ? 'approval' : r.decision === 'replay' ? 'replay' : r.decision === 'deny' ? 'deny' : r.action === 'export' || r.export ? 'export' : r.phase)));
    for (const k of ['intent', 'outcome', 'approval', 'replay', 'deny', 'http-refusal']) expect(kinds, `record kinds: ${[...kinds].join(', ')}`).toContain(k);

    // 3. verify under any name: the instance comes from the records; --instance asserts it
    const verify = await runCli(['audit', 'verify', file]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect((await runCli(['audit', 'verify', file, '--instance', 'slack.prod'])).code).toBe(0);
    expect((await runCli(['audit', 'verify', file, '--instance', 'slack.dev'])).code).toBe(1);

    // 4. show and custody on that trail, HTTP refusal included
    const show = await runCli(['audit', 'show', file]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/update_message/);
    const custody = await runCli(['audit', 'show', file, '--custody']);
    expect(custody.code, custody.stderr).toBe(0);
    expect(custody.stdout).toMatch(/U0EDITOR1/);

    // 5. review from the shared trail, and a proposal
    const proposal = join(tempDir('fleet-proposal-'), 'p');
    const review = await runCli(['review', 'slack.prod', '--scopes', scopes, '--propose', proposal], { env: env() });
    expect(review.code, review.stdout + review.stderr).toBe(0);
    expect(review.stdout).toMatch(/replay: \d+ call\(s\) allowed in the window, all still allowed/);
    const proposed = parse(readFileSync(join(proposal, 'slack.prod.yaml'), 'utf8'));
    expect(proposed.upstream.token_scopes).toEqual(expect.arrayContaining(['channels:history', 'users:read', 'chat:write']));

    // 6. applied (the proposal is the whole scopes folder, narrowed), with a token holding exactly
    // the proposed scopes: the same production calls pass
    expect((await runCli(['verify', '--scopes', proposal, '--no-docs'])).code).toBe(0);
    replicas.push(await start(proposed.upstream.token_scopes, proposal));
    const c = await connect(`${replicas[0]!.url}/mcp/slack/prod`, bearer);
    const after = await prodCalls(c, 'two');
    expect(after.read.isError, text(after.read)).toBeFalsy();
    expect(status(after.post), text(after.post)).toBe('completed');
    await c.close();
  }, 240_000);
});
