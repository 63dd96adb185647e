// The Doppler instances over stdio, as Claude Code and the bot run them: the real CLI as a child
// process, the SDK Client, and a Doppler sandbox in this process (so the tests choose the values,
// see every request, and inject faults) or the CLI's own --sandbox.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { askedInSlack, auditRecords, runCli, SCOPES, serve, tempDir, text } from '../helpers.js';

let sb: DopplerSandbox;
/** where the editor asks: doppler.prod proves its actor by that message, read by the approvals identity */
let slack: SlackSandbox;
let devToken: string;
let prodBroker: string;
beforeAll(async () => {
  sb = await startDopplerSandbox();
  slack = await startSlackSandbox();
  devToken = sb.issueAccount('blogbot', true);
  prodBroker = sb.issueBroker('blogbot');
});
afterAll(() => Promise.all([sb.close(), slack?.close()]));

const dev = (vars: Record<string, string> = {}, scopes?: string) =>
  serve({ connector: 'doppler', env: 'dev', upstream: sb.url, scopes, vars: { DOPPLER_TOKEN_DEV: devToken, ...vars } });
const prod = () =>
  serve({
    connector: 'doppler',
    env: 'prod',
    upstream: sb.url,
    vars: { DOPPLER_BROKER_TOKEN_PROD: prodBroker, ...askedInSlack(slack) },
  });

/** Runs `fleet serve ...` with stdin held open until it exits on its own (a start-up failure). */
function start(args: string[], env: Record<string, string>) {
  return runCli(['serve', ...args], {
    env: { FLEET_AUDIT_DIR: tempDir(), ...env },
    keepStdin: true,
    timeoutMs: 15_000,
  });
}

/** A scopes folder with copies of the shipped manifests, edited by `edit`. */
function scopesWith(edit: Record<string, (yaml: string) => string>): string {
  const dir = tempDir('fleet-scopes-');
  for (const f of ['doppler.dev.yaml', 'doppler.prod.yaml', 'slack.dev.yaml', 'slack.prod.yaml']) {
    const yaml = readFileSync(join(SCOPES, f), 'utf8');
    writeFileSync(join(dir, f), edit[f] ? edit[f](yaml) : yaml);
  }
  return dir;
}

describe('doppler dev over stdio', () => {
  it('lists its eight tools with explicit annotations, on its own --sandbox too', async () => {
    const s = await serve({ connector: 'doppler', env: 'dev', sandbox: true });
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'list_projects',
      'list_configs',
      'list_secret_names',
      'get_secret',
      'compare_configs',
      'config_activity',
      'set_secret',
      'delete_secret',
    ]);
    expect(tools.find((t) => t.name === 'delete_secret')!.annotations).toEqual({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
      openWorldHint: true,
    });
    expect(text(await s.call('list_projects'))).toContain('blogbot');
    await s.close();
  });

  it('masks get_secret by default and reveals only when asked, under its reveal grant', async () => {
    sb.setSecret('blogbot', 'dev', 'API_BASE_URL', 'http://localhost:8080/v2');
    const s = await dev();
    const masked = await s.call('get_secret', { config: 'dev', name: 'API_BASE_URL' });
    expect(masked.structuredContent).toMatchObject({ set: true, length: 24 });
    expect(JSON.stringify(masked)).not.toContain('localhost:8080');
    const shown = await s.call('get_secret', { config: 'dev', name: 'API_BASE_URL', reveal: true });
    expect((shown.structuredContent as { value: string }).value).toBe('http://localhost:8080/v2');
    await s.close();
  });

  it('refuses names and configs outside the grant, saying which the grant covers, before any request', async () => {
    const s = await dev();
    await s.call('list_projects'); // the upstream is open: any later request would be the refused call's
    const before = sb.emulator.requests.length;
    const r = await s.call('set_secret', { config: 'dev', name: 'DATABASE_URL', value: 'postgres://evil' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(
      /^denied: secret "DATABASE_URL" matches nothing in set_secret\.secrets of doppler\.dev \(\S*scopes\/doppler\.dev\.yaml:\d+\); allowed secrets: FEATURE_FLAGS, API_BASE_URL, AGENT_\*$/,
    );
    expect(text(r)).not.toContain('postgres://evil');
    const other = await s.call('list_secret_names', { config: 'prd' });
    expect(text(other)).toMatch(
      /config "prd" matches nothing in list_secret_names\.configs .*; allowed configs: dev, dev_\*/,
    );
    expect(sb.emulator.requests.length).toBe(before);
    await s.close();
  });

  it('writes and deletes with the value kept out of the audit trail (its length only)', async () => {
    const s = await dev();
    const value = 'agent-written-value-0c1d';
    expect(text(await s.call('set_secret', { config: 'dev_ci', name: 'AGENT_TOKEN', value }))).toBe(
      `set dev_ci/AGENT_TOKEN (${value.length} characters)`,
    );
    expect(sb.secretsOf('blogbot', 'dev_ci').get('AGENT_TOKEN')).toBe(value);
    expect(text(await s.call('delete_secret', { config: 'dev_ci', name: 'AGENT_TOKEN' }))).toBe(
      'deleted dev_ci/AGENT_TOKEN',
    );
    await s.close();
    const intent = auditRecords(s.auditFile).find((r) => r.tool === 'set_secret' && r.phase === 'intent')!;
    expect(intent.args).toEqual({ config: 'dev_ci', name: 'AGENT_TOKEN', value: { len: value.length } });
    expect(readFileSync(s.auditFile, 'utf8')).not.toContain(value);
    expect(
      auditRecords(s.auditFile)
        .filter((r) => r.phase === 'outcome')
        .map((r) => r.outcome),
    ).toEqual(['ok', 'ok']);
  });

  it('survives a body that is not JSON: the call fails at once, the body is never printed, the next call works', async () => {
    const s = await dev();
    sb.emulator.inject({ route: 'secrets.names', status: 502, body: '<html>bad gateway SECRET-IN-PAGE</html>' });
    const r = await s.call('list_secret_names', { config: 'dev' });
    expect(text(r)).toMatch(/^doppler error: bad_response: Doppler answered with a body that is not JSON/);
    expect((await s.call('list_secret_names', { config: 'dev' })).isError).toBeFalsy();
    expect(s.stderr()).not.toContain('SECRET-IN-PAGE');
    await s.close();
  });

  it('reports an upstream error code without retrying the write', async () => {
    const s = await dev();
    sb.emulator.inject({ route: 'secrets.update', status: 500 });
    const mark = sb.emulator.requests.length;
    const r = await s.call('set_secret', { config: 'dev', name: 'AGENT_RETRY', value: 'v1-value' });
    expect(text(r)).toBe('doppler error: upstream_error: Doppler answered HTTP 500: Internal server error');
    expect(sb.emulator.requests.slice(mark).filter((q) => q.route === 'secrets.update')).toHaveLength(1);
    await s.close();
  });
});

describe('doppler prod over stdio', () => {
  it('grants names and masked reads only, and refuses reveal naming its rule', async () => {
    const s = await prod();
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'list_projects',
      'list_configs',
      'list_secret_names',
      'get_secret',
      'compare_configs',
      'config_activity',
    ]);
    expect(tools.every((t) => t.annotations?.readOnlyHint)).toBe(true);
    const r = await s.call('get_secret', { config: 'prd', name: 'STRIPE_KEY', reveal: true });
    expect(text(r)).toMatch(
      /^denied: secret value STRIPE_KEY is not allowed by get_secret\.reveal of doppler\.prod \(default, \S*scopes\/doppler\.prod\.yaml:\d+\); call get_secret without reveal/,
    );
    const masked = await s.call('get_secret', { config: 'prd', name: 'STRIPE_KEY' });
    expect(masked.structuredContent).toMatchObject({
      config: 'prd',
      name: 'STRIPE_KEY',
      set: true,
      length: 'sk_live_51prdSandboxKey'.length,
    });
    const cdn = await s.call('get_secret', { config: 'prd', name: 'CDN_PURGE_KEY' });
    expect(text(cdn)).toContain(
      'allowed secrets: API_BASE_URL, DATABASE_URL, FEATURE_FLAGS, SLACK_BOT_TOKEN, STRIPE_KEY',
    );
    const cmp = await s.call('compare_configs', { from: 'stg', to: 'prd' });
    expect(text(cmp)).toContain(`only in prd: CDN_PURGE_KEY`);
    expect(JSON.stringify(cmp)).not.toContain('sk_live');
    await s.close();
  });

  it('refuses to start a prod manifest that grants reveal, naming file and line', async () => {
    const dir = scopesWith({ 'doppler.prod.yaml': (y) => y.replace('STRIPE_KEY] }', 'STRIPE_KEY], reveal: true }') });
    const r = await start(['doppler', '--env', 'prod', '--scopes', dir, '--upstream', sb.url], {
      DOPPLER_BROKER_TOKEN_PROD: prodBroker,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // the line of the edited grant, found in the file the server read
    const line =
      readFileSync(join(dir, 'doppler.prod.yaml'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('reveal: true')) + 1;
    expect(line).toBeGreaterThan(0);
    expect(r.stderr).toContain(
      `doppler.prod.yaml:${line}: tools.get_secret.reveal: reveal is refused in a production manifest (instance prod)`,
    );
  });
});

describe('doppler: credential references', () => {
  const ref = 'doppler:blogbot/dev/SLACK_BOT_TOKEN';
  const slackScopes = (r: string) => scopesWith({ 'slack.dev.yaml': (y) => y.replace('env:SLACK_BOT_TOKEN_DEV', r) });

  it('fails with one line naming the reference when DOPPLER_TOKEN is missing, the secret absent, or Doppler silent', async () => {
    const noToken = await start(['slack', '--env', 'dev', '--scopes', slackScopes(ref)], { DOPPLER_API_URL: sb.url });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr.trim().split('\n')).toEqual([
      `fleet slack.dev: cannot start: credential ${ref} cannot be resolved: DOPPLER_TOKEN is not set (a Doppler service token for blogbot/dev)`,
    ]);

    const missing = 'doppler:blogbot/dev/NO_SUCH_TOKEN';
    const absent = await start(['slack', '--env', 'dev', '--scopes', slackScopes(missing)], {
      DOPPLER_API_URL: sb.url,
      DOPPLER_TOKEN: sb.issueServiceToken('blogbot', 'dev'),
    });
    expect(absent.stderr).toContain(
      `credential ${missing} cannot be resolved: Doppler has no secret NO_SUCH_TOKEN in blogbot/dev`,
    );

    const scoped = sb.issueServiceToken('blogbot', 'dev');
    const elsewhere = await start(
      ['slack', '--env', 'dev', '--scopes', slackScopes('doppler:blogbot/prd/SLACK_BOT_TOKEN')],
      { DOPPLER_API_URL: sb.url, DOPPLER_TOKEN: scoped },
    );
    expect(elsewhere.stderr).toContain('credential doppler:blogbot/prd/SLACK_BOT_TOKEN cannot be resolved: forbidden');
    expect(elsewhere.stderr).not.toContain(scoped);

    sb.emulator.inject({ route: 'secrets.get', hang: true, times: 3 });
    const dir = scopesWith({
      'slack.dev.yaml': (y) => y.replace('env:SLACK_BOT_TOKEN_DEV', ref).replace('timeout: 10s', 'timeout: 1s'),
    });
    const silent = await start(['slack', '--env', 'dev', '--scopes', dir], {
      DOPPLER_API_URL: sb.url,
      DOPPLER_TOKEN: scoped,
    });
    sb.emulator.clearFaults();
    expect(silent.code).toBe(1);
    expect(silent.stderr).toContain(`credential ${ref} cannot be resolved: timeout: Doppler did not answer within 1s`);
  });

  it('refuses a dev instance drawing on the secret a prod instance uses, however the slugs are cased', async () => {
    const dir = scopesWith({
      'slack.dev.yaml': (y) => y.replace('env:SLACK_BOT_TOKEN_DEV', 'doppler:Blogbot/PRD/SLACK_BOT_TOKEN'),
      'slack.prod.yaml': (y) => y.replace('env:SLACK_BOT_TOKEN_PROD', 'doppler:blogbot/prd/SLACK_BOT_TOKEN'),
    });
    const r = await start(['slack', '--env', 'dev', '--scopes', dir], {
      DOPPLER_API_URL: sb.url,
      DOPPLER_TOKEN: sb.issueServiceToken('blogbot', 'prd'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /credential doppler:Blogbot\/PRD\/SLACK_BOT_TOKEN \(.*slack\.dev\.yaml:\d+\) is also the credential of slack\.prod \(.*slack\.prod\.yaml:\d+\); a dev and a prod instance never share a secret/,
    );
    expect(sb.emulator.requests.some((q) => q.params.config === 'PRD')).toBe(false);
  });
});
