// Slack's token rotation: a production Slack instance whose credential is a refresh token (with the
// app's client id and secret), exchanged at start for an access token that expires, renewed before
// it does, the next refresh token kept in the instance's state folder. The real CLI over stdio; the
// Slack sandbox in this process hands out expiring tokens and single-use refresh tokens, and judges.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebClient } from '@slack/web-api';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, runCli, scopesCopy, serve, tempDir, text, waitFor } from '../helpers.js';

const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
let sb: SlackSandbox;
let scopes: string;

/** The shipped scopes, with slack.prod's credential rotating (timeout 3s, so a renewal is never held up). */
const rotatingScopes = () =>
  scopesCopy({
    'slack.prod.yaml': (y) =>
      y
        .replace(
          /^credential: .*$/m,
          'credential:\n  rotate:\n    refresh_token: env:SLACK_REFRESH_TOKEN_PROD\n    client_id: env:SLACK_CLIENT_ID_PROD\n    client_secret: env:SLACK_CLIENT_SECRET_PROD',
        )
        .replace(/^timeout: .*$/m, 'timeout: 3s'),
  });

type App = ReturnType<SlackSandbox['rotating']>;
const vars = (app: App) => ({
  SLACK_REFRESH_TOKEN_PROD: app.refresh_token,
  SLACK_CLIENT_ID_PROD: app.client_id,
  SLACK_CLIENT_SECRET_PROD: app.client_secret,
  // slack.prod proves its actor by the Slack message that asked
  FLEET_ACTOR: 'U0WRITER1',
  FLEET_THREAD: sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'rotation run, please'),
});
const chain = (stateDir: string) =>
  JSON.parse(readFileSync(join(stateDir, 'slack.prod.rotation.json'), 'utf8')) as {
    refresh_token: string;
    access_token: string;
    expires_at: number;
  };
const credentialRecords = (file: string) => auditRecords(file).filter((r) => r.phase === 'credential');
const web = (token: string) =>
  new WebClient(token, { slackApiUrl: sb.url, retryConfig: { retries: 0 }, timeout: 3000 });

beforeAll(async () => {
  sb = await startSlackSandbox();
  scopes = rotatingScopes();
});
afterAll(() => sb.close());

describe('Slack token rotation', () => {
  it('exchanges the refresh token at start, renews before expiry, keeps the rotated refresh token in the state folder, and shows no token', async () => {
    const app = sb.rotating('T0BLOGPROD', PROD_SCOPES, { ttlSeconds: 9 });
    const stateDir = tempDir('fleet-state-');
    const auditDir = tempDir('fleet-audit-');
    const s = await serve({
      connector: 'slack',
      env: 'prod',
      scopes,
      upstream: sb.url,
      stateDir,
      auditDir,
      vars: vars(app),
    });
    const seen = new Set<string>([app.refresh_token, app.client_secret]);
    const results: string[] = [];
    try {
      const r1 = await s.call('list_channels');
      expect(r1.isError, text(r1)).toBeFalsy();
      results.push(JSON.stringify(r1));
      const first = chain(stateDir);
      seen.add(first.access_token).add(first.refresh_token);
      // the refresh token the reference holds was used once: it is dead, the chain's is live
      expect(sb.refreshable(app.refresh_token)).toBe(false);
      expect(sb.refreshable(first.refresh_token)).toBe(true);
      expect(statSync(join(stateDir, 'slack.prod.rotation.json')).mode & 0o077).toBe(0);

      // renewed when a third of its 9 s is left (3 s before it expires): a second exchange
      await waitFor(() => sb.exchanges >= 2 && chain(stateDir).access_token !== first.access_token);
      expect(Date.now()).toBeLessThan(first.expires_at);
      const second = chain(stateDir);
      seen.add(second.access_token).add(second.refresh_token);
      // the first token stops working once it expires; the instance is on the renewed one
      await waitFor(() => Date.now() > first.expires_at + 50 || undefined);
      await expect(web(first.access_token).auth.test()).rejects.toMatchObject({ data: { error: 'token_expired' } });
      const r2 = await s.call('read_history', { channel: 'C0EDITORIAL', limit: 2 });
      expect(r2.isError, text(r2)).toBeFalsy();
      results.push(JSON.stringify(r2));
      // a call that fails shows no token either
      results.push(JSON.stringify(await s.call('read_history', { channel: 'C0NOSUCHCHAN' })));
    } finally {
      await s.close();
    }
    const recs = credentialRecords(s.auditFile);
    expect(recs.map((r) => r.action).slice(0, 2)).toEqual(['rotate', 'renew']);
    expect(recs[0]).toMatchObject({ source: 'reference', outcome: 'ok', scopes: PROD_SCOPES });
    expect(recs[1]).toMatchObject({ source: 'state', outcome: 'ok' });
    expect(Date.parse(recs[0]!.expires_on)).toBeGreaterThan(Date.now() - 60_000);
    const written = [readFileSync(s.auditFile, 'utf8'), s.stderr(), ...results].join('\n');
    for (const secret of seen) expect(written).not.toContain(secret);
    expect(written).not.toMatch(/xoxe/);
    // the security team's view: each exchange, its expiry and where its refresh token came from
    const shown = await runCli(['audit', 'show', s.auditFile]);
    expect(shown.stdout).toMatch(
      /\(credential\)\s+rotate\s+ok\s+access token from the reference's refresh token until /,
    );
    expect(shown.stdout).toMatch(/\(credential\)\s+renew\s+ok\s+access token from the state's refresh token until /);
    expect(shown.stdout).not.toMatch(/xoxe/);
  });

  it('the next start continues the chain from the state folder, though the reference still holds the spent refresh token', async () => {
    const app = sb.rotating('T0BLOGPROD', PROD_SCOPES);
    const stateDir = tempDir('fleet-state-');
    const a = await serve({ connector: 'slack', env: 'prod', scopes, upstream: sb.url, stateDir, vars: vars(app) });
    expect((await a.call('list_channels')).isError).toBeFalsy();
    await a.close();
    expect(sb.refreshable(app.refresh_token)).toBe(false);
    // a second process (a restart, or a sibling) with the very same environment
    const b = await serve({ connector: 'slack', env: 'prod', scopes, upstream: sb.url, stateDir, vars: vars(app) });
    const r = await b.call('list_channels');
    await b.close();
    expect(r.isError, text(r)).toBeFalsy();
    // the access token the first process obtained is still fresh: adopted, no second exchange
    expect(credentialRecords(b.auditFile).map((x) => x.action)).toEqual(['adopt']);
  });

  it('refuses to start when the rotated token holds more than the manifest declares, and stops when a renewed one does', async () => {
    const over = sb.rotating('T0BLOGPROD', [...PROD_SCOPES, 'search:read']);
    const r = await runCli(['serve', 'slack', '--env', 'prod', '--scopes', scopes, '--upstream', sb.url], {
      env: { FLEET_AUDIT_DIR: tempDir(), ...vars(over) },
      keepStdin: true,
      timeoutMs: 15_000,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /the token holds search:read beyond the manifest's declared permissions \(.*slack\.prod\.yaml:\d+\); refusing to start a production instance with an over-scoped token/,
    );
    expect(r.stderr).not.toContain(over.refresh_token);

    // the app is reinstalled with one more scope while the instance runs: its next token is refused
    const app = sb.rotating('T0BLOGPROD', PROD_SCOPES, { ttlSeconds: 3 });
    const running = runCli(['serve', 'slack', '--env', 'prod', '--scopes', scopes, '--upstream', sb.url], {
      env: { FLEET_AUDIT_DIR: tempDir(), ...vars(app) },
      keepStdin: true,
      timeoutMs: 20_000,
    });
    await waitFor(() => sb.exchanges > 0 && !sb.refreshable(app.refresh_token));
    sb.rescope(app.client_id, [...PROD_SCOPES, 'search:read']);
    const stopped = await running;
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(
      /the renewed token was refused: the token holds search:read beyond the manifest's declared permissions/,
    );
  });

  it('runs on its own --sandbox, which hands it an app with rotation on', async () => {
    const s = await serve({
      connector: 'slack',
      env: 'prod',
      scopes,
      sandbox: true,
      vars: { FLEET_ACTOR: 'U0WRITER1' },
    });
    try {
      // the call is refused for its proof (no FLEET_THREAD), after the upstream opened with a rotated token
      await s.call('list_channels');
      await waitFor(() => credentialRecords(s.auditFile).find((x) => x.action === 'rotate'));
      expect(s.stderr()).not.toMatch(/cannot start/);
    } finally {
      await s.close();
    }
  });
});
