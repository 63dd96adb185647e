// The Slack instance against a sandbox in this process, so the tests can see every request that
// reached the "upstream", choose the token (a canary), and inject faults.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { pathToFileURL } from 'node:url';
import { auditRecords, rawRpc, ROOT, runCli, serve, tempDir, text, waitFor } from '../helpers.js';

const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
const CANARY = 'canary-7f3a9c1e5b2d4f60-token';

let sb: SlackSandbox;
beforeAll(async () => {
  sb = await startSlackSandbox();
});
afterAll(() => sb.close());

const routes = () => sb.emulator.requests.map((r) => r.route);

describe('start-up identity check', () => {
  const start = (env: string, token: string) =>
    runCli(['serve', 'slack', '--env', env, '--upstream', sb.url], {
      env: { [`SLACK_BOT_TOKEN_${env.toUpperCase()}`]: token, FLEET_AUDIT_DIR: tempDir() },
      keepStdin: true,
      timeoutMs: 10_000,
    });

  it('refuses a prod token holding more scopes than the manifest declares', async () => {
    const r = await start('prod', sb.issue('T0BLOGPROD', [...PROD_SCOPES, 'channels:manage']));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /slack\.prod: cannot start: the token holds channels:manage beyond the manifest's declared permissions \(.*slack\.prod\.yaml:\d+\); refusing/,
    );
  });

  it('warns about an over-scoped dev token, and serves', async () => {
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      upstream: sb.url,
      vars: { SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', [...DEV_SCOPES, 'admin:write']) },
    });
    expect((await s.call('list_users')).isError).toBeFalsy();
    expect(s.stderr()).toMatch(/warning: the token holds admin:write beyond/);
    await s.close();
  });

  it('checks the token at start in a child process: the serving process loads the Slack SDK on its first call', async () => {
    // the chunk of the bundle that holds @slack/web-api and the client that opens it
    const chunks = join(ROOT, 'dist', 'chunks');
    const sdk = readdirSync(chunks).filter((f) => readFileSync(join(chunks, f), 'utf8').includes('auth.test failed'));
    expect(sdk).toHaveLength(1);
    const log = join(tempDir(), 'loads.log');
    writeFileSync(log, '');
    const before = sb.emulator.requests.length;
    const hook = pathToFileURL(join(ROOT, 'test', 'fixtures', 'load-log.mjs')).href;
    // about the bundle's chunks, so through the bundle (the snapshot loads the SDK with require())
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      upstream: sb.url,
      door: 'bundle',
      vars: {
        SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES),
        NODE_OPTIONS: `--import=${hook}`,
        FLEET_LOAD_LOG: log,
      },
    });
    try {
      const loadedHere = () =>
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith(`${s.pid} `) && l.includes(sdk[0]!));
      await s.client.listTools();
      // the identity check reached the upstream at start, before any call...
      await waitFor(() => sb.emulator.requests.slice(before).some((q) => q.route === 'auth.test'));
      // ...from another process: this one has not loaded the SDK
      expect(readFileSync(log, 'utf8')).toContain(`${s.pid} `);
      expect(loadedHere()).toEqual([]);
      expect((await s.call('list_users')).isError).toBeFalsy();
      expect(loadedHere().length).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it('refuses a token of another workspace', async () => {
    const r = await start('prod', sb.issue('T0BLOGDEV', PROD_SCOPES));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the token belongs to workspace T0BLOGDEV, but the manifest pins T0BLOGPROD');
  });

  it('refuses a revoked token', async () => {
    const r = await start('dev', 'xoxb-revoked-0000');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('auth.test failed: invalid_auth');
    expect(r.stderr).not.toContain('xoxb-revoked-0000');
  });

  it('names the missing credential', async () => {
    const r = await runCli(['serve', 'slack', '--env', 'dev'], {
      env: { FLEET_AUDIT_DIR: tempDir() },
      keepStdin: true,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'credential env:SLACK_BOT_TOKEN_DEV is not set: export SLACK_BOT_TOKEN_DEV, or run with --sandbox',
    );
  });

  it('refuses to start on a broken manifest, naming file and line', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'slack.dev.yaml'),
      readFileSync('scopes/slack.dev.yaml', 'utf8').replace('post_message:', 'post_mesage:'),
    );
    const r = await runCli(['serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', dir], { keepStdin: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/slack\.dev\.yaml:\d+: tools\.post_mesage: unknown tool "post_mesage"/);
  });
});

describe('calls against the upstream', () => {
  it('never sends a refused call upstream', async () => {
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      upstream: sb.url,
      vars: { SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES) },
    });
    await s.call('list_users'); // the identity check has run
    const before = sb.emulator.requests.length;
    for (const [tool, args] of [
      ['post_message', { channel: 'C0DEVGENERAL', text: 'x' }],
      ['read_history', { channel: 'C0DEVPRIVATE' }],
      ['post_message', { channel: 'C0DEVBOTTEST', text: '<!here>' }],
      ['delete_message', { channel: 'C0DEVGENERAL', ts: '1767225660.000101' }],
      ['update_message', { channel: 'c0devbottest', ts: '1767225960.000106', text: 'x' }],
    ] as const) {
      expect((await s.call(tool, args)).isError).toBe(true);
    }
    expect(sb.emulator.requests.length).toBe(before);
    await s.close();
  });

  it('reports a 429 at once with its Retry-After, and records the outcome', async () => {
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      upstream: sb.url,
      vars: { SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES) },
    });
    await s.call('list_users');
    const posts = () => routes().filter((r) => r === 'chat.postMessage').length;
    const before = posts();
    sb.emulator.inject({ route: 'chat.postMessage', status: 429, retryAfter: 30 });
    const r = await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'x' });
    expect(r.isError).toBe(true);
    expect(text(r)).toBe('slack error: ratelimited: Slack is rate limiting this token (retry after 30s)');
    expect(posts()).toBe(before + 1); // not retried
    sb.emulator.inject({ route: 'conversations.history', status: 503 });
    expect(text(await s.call('read_history', { channel: 'C0DEVGENERAL' }))).toBe(
      'slack error: http_503: Slack answered HTTP 503',
    );
    const outcomes = auditRecords(s.auditFile)
      .filter((x) => x.phase === 'outcome')
      .slice(-2);
    expect(outcomes.map((o) => [o.outcome, o.error])).toEqual([
      ['error', 'ratelimited'],
      ['error', 'http_503'],
    ]);
    expect((await s.call('read_history', { channel: 'C0DEVGENERAL' })).isError).toBeFalsy();
    await s.close();
  });

  it('fails closed when the audit trail cannot be written: no upstream call', async () => {
    const blocker = join(tempDir(), 'not-a-dir');
    writeFileSync(blocker, '');
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      upstream: sb.url,
      auditDir: join(blocker, 'audit'),
      vars: { SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES) },
    });
    const before = routes().filter((r) => r === 'chat.postMessage').length;
    const r = await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'x' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^refused: audit trail .* cannot be written: ENOTDIR; no upstream call was made$/);
    expect(routes().filter((x) => x === 'chat.postMessage').length).toBe(before);
    await s.close();
  });

  it('keeps a canary token out of stdout, stderr, audit and results', async () => {
    const auditDir = tempDir();
    sb.issue('T0BLOGDEV', DEV_SCOPES, CANARY);
    sb.emulator.inject({ route: 'users.list', status: 500 });
    const session = await rawRpc(
      ['serve', 'slack', '--env', 'dev', '--upstream', sb.url],
      [
        { method: 'tools/list' },
        { method: 'tools/call', params: { name: 'read_history', arguments: { channel: 'C0DEVGENERAL' } } },
        {
          method: 'tools/call',
          params: { name: 'post_message', arguments: { channel: 'C0DEVBOTTEST', text: `leak ${CANARY}` } },
        },
        {
          method: 'tools/call',
          params: { name: 'post_message', arguments: { channel: 'C0DEVGENERAL', text: CANARY } },
        },
        { method: 'tools/call', params: { name: 'list_users', arguments: {} } },
        { method: 'tools/call', params: { name: 'search_messages', arguments: { query: 'leak' } } },
        { method: 'tools/call', params: { name: 'nope', arguments: { x: CANARY } } },
      ],
      { SLACK_BOT_TOKEN_DEV: CANARY, FLEET_AUDIT_DIR: auditDir },
    );
    expect(session.messages.every((m) => m.jsonrpc === '2.0')).toBe(true);
    expect(session.messages).toHaveLength(8);
    expect(session.messages[5]!.result.isError).toBe(true); // the injected 500
    const audit = readdirSync(auditDir)
      .map((f) => readFileSync(join(auditDir, f), 'utf8'))
      .join('');
    expect(audit.length).toBeGreaterThan(0);
    for (const [where, out] of [
      ['stdout', session.stdout],
      ['stderr', session.stderr],
      ['audit', audit],
    ]) {
      expect(out, where).not.toContain(CANARY);
    }
    expect(session.stdout).toContain('[redacted]'); // the search result quoting it was scrubbed
  });
});
