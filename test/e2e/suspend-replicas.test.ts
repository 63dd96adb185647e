// `fleet suspend` across machines: two `fleet serve --http` replicas of slack.dev share one
// PostgreSQL state store (`store:` in fleet.yaml), each with its own state and audit folders as on
// two machines, and the command runs from a third. Both replicas refuse calls within the stated
// bound, naming the suspension; `fleet resume` restores them; the shared trail holds it all.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { mintToken } from '../../shared/transport/http/auth/bearer.js';
import { SUSPENSION_CACHE_MS } from '../../shared/state/suspension.js';
import { runCli, tempDir, text } from '../helpers.js';
import { connect, httpScopes, serveHttp, stagingClient, type HttpServed } from '../http-helpers.js';
import { freshDatabase, PG_STORE, PG_URL } from '../state/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// a replica may use what it read for SUSPENSION_CACHE_MS: a call that starts after that sees the change
const BOUND = SUSPENSION_CACHE_MS + 50;
const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];

describe.skipIf(!PG_URL)('fleet suspend with replicas on one PostgreSQL', () => {
  const db = 'fleet_suspend17';
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let url = '';
  const token = mintToken();
  let sb: SlackSandbox;
  let scopes: string;
  let replicas: HttpServed[] = [];
  let clients: Client[] = [];
  /** the command line of a third machine: its own state and audit folders, the same database */
  const cli = (args: string[]) =>
    runCli([...args, '--scopes', scopes], {
      env: { FLEET_STATE_PG: url, FLEET_STATE_DIR: tempDir(), FLEET_AUDIT_DIR: tempDir(), FLEET_ACTOR: 'U0SECOPS' },
    });
  const read = async (i: number) =>
    (await clients[i]!.callTool({
      name: 'read_history',
      arguments: { channel: 'C0DEVGENERAL' },
      _meta: { 'fleet/actor': i ? 'U0DEVBOB' : 'U0DEVALICE' },
    })) as CallToolResult;
  const trail = async (): Promise<Record<string, any>[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query("SELECT line FROM fleet_audit WHERE instance = 'slack.dev' ORDER BY seq")).rows.map((r) =>
        JSON.parse(r.line),
      );
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    database = await freshDatabase(db);
    url = database.url;
    scopes = httpScopes(stagingClient(token), (name, t) => (name === 'fleet.yaml' ? `${t}${PG_STORE}` : t));
    const m = await cli(['state', 'migrate']);
    expect(m.code, m.stderr).toBe(0);
    sb = await startSlackSandbox();
    const vars = { FLEET_STATE_PG: url, SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES) };
    replicas = await Promise.all(
      [0, 1].map(() => serveHttp(['--instance', 'slack.dev', '--upstream', sb.url, '--scopes', scopes], { vars })),
    );
    clients = await Promise.all(replicas.map((r) => connect(`${r.url}/mcp/slack/dev`, token)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all(replicas.map((r) => r.stop()));
    await sb?.close();
    await database?.drop();
  });

  it('both replicas refuse within the bound, resume restores them, and the shared trail holds it all', async () => {
    for (const i of [0, 1]) {
      const r = await read(i);
      expect(r.isError, text(r)).toBeFalsy();
    }

    const s = await cli(['suspend', 'slack.dev', '--reason', 'incident 42: token may have leaked']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('written to the shared PostgreSQL store (every replica)');
    await sleep(BOUND);
    for (const i of [0, 1]) {
      const r = await read(i);
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(
        /^refused: instance slack\.dev is suspended since \S+ by U0SECOPS: incident 42: token may have leaked; nothing was done \(`fleet resume slack.dev` lifts it\)$/,
      );
    }

    const r = await cli(['resume', 'slack.dev', '--reason', 'token rotated']);
    expect(r.code, r.stderr).toBe(0);
    await sleep(BOUND);
    for (const i of [0, 1]) expect((await read(i)).isError).toBeFalsy();

    const recs = await trail();
    const story = recs.filter(
      (x) => x.phase === 'admin' || x.rule === 'suspension' || (x.tool === 'read_history' && x.phase === 'outcome'),
    );
    expect(
      story.map((x) =>
        x.phase === 'admin'
          ? `${x.decision} by ${x.actor}: ${x.reason}`
          : `${x.rule === 'suspension' ? 'refused' : 'ok'} ${x.actor}`,
      ),
    ).toEqual([
      'ok U0DEVALICE',
      'ok U0DEVBOB',
      'suspend by U0SECOPS: incident 42: token may have leaked',
      'refused U0DEVALICE',
      'refused U0DEVBOB',
      'resume by U0SECOPS: token rotated',
      'ok U0DEVALICE',
      'ok U0DEVBOB',
    ]);
    expect(
      recs
        .filter((x) => x.rule === 'suspension')
        .every((x) => x.client_id === 'staging' && x.suspension?.target === 'slack.dev'),
    ).toBe(true);
    // fleet review reads the same shared trail: 4 calls allowed, the 2 refusals denied
    const review = await cli(['review', 'slack.dev', '--format', 'json']);
    expect(review.code, review.stderr).toBe(0);
    const [rev] = JSON.parse(review.stdout).instances;
    expect(rev.tools.find((t: { tool: string }) => t.tool === 'read_history')).toMatchObject({
      allowed: 4,
      denied: 2,
      by: [
        { who: 'U0DEVALICE', calls: 2 },
        { who: 'U0DEVBOB', calls: 2 },
      ],
    });
    const verify = await cli(['audit', 'verify', '--instance', 'slack.dev']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 60_000);
});
