// Serve enforces what verify enforces: for generated one-line edits that break a fleet rule in a
// production manifest (or in one that reaches production under another name), `fleet verify`
// fails and `fleet serve` of that instance does not start, naming the same rule; the development
// instances of the same folder still start. And a production token that reaches a second
// Cloudflare account does not start where a development one is warned about.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, OTHER_ACCOUNT } from '../../servers/cloudflare/sandbox/seed.js';
import { runCli, SCOPES, tempDir } from '../helpers.js';

function scopesWith(file: string, edit: (t: string) => string, as = file): string {
  const dir = join(tempDir('fleet-serve-rules-'), 'scopes');
  cpSync(SCOPES, dir, { recursive: true });
  const text = readFileSync(join(dir, file), 'utf8');
  const next = edit(text);
  if (next === text) throw new Error(`${file}: the edit changed nothing`);
  writeFileSync(join(dir, as), next);
  return dir;
}

// [what, file, edit, rule, written as]
const BREAKS: [string, string, (t: string) => string, string, string?][] = [
  [
    'slack.prod made attribution optional',
    'slack.prod.yaml',
    (t) =>
      t.replace(
        /attribution:\n {2}required: true\n {2}proof: slack-message\n {2}request_channels: \[C0EDITORIAL\]\n {2}max_age: 1h\n/,
        'attribution: optional\n',
      ),
    'prod-attribution',
  ],
  [
    'slack.prod granted a forbidden tool',
    'slack.prod.yaml',
    (t) => t.replace(/^tools:\n/m, 'tools:\n  list_users: {}\n'),
    'prod-forbidden-tools',
  ],
  [
    'slack.prod past its review date',
    'slack.prod.yaml',
    (t) => t.replace(/review_by: \S+/, 'review_by: 2020-01-31'),
    'review-by',
  ],
  [
    'cloudflare.prod on a standing token',
    'cloudflare.prod.yaml',
    (t) => t.replace(/^credential:[\s\S]*?\n(?=\S)/m, 'credential: env:CLOUDFLARE_API_TOKEN_PROD\n'),
    'prod-minted-credentials',
  ],
  [
    'doppler.prod on a standing token',
    'doppler.prod.yaml',
    (t) => t.replace(/^credential:[\s\S]*?\n(?=\S)/m, 'credential: env:DOPPLER_TOKEN_PROD\n'),
    'prod-minted-credentials',
  ],
  [
    'slack.dev renamed live and pinned to the production workspace',
    'slack.dev.yaml',
    (t) =>
      t
        .replace('instance: dev', 'instance: live')
        .replace('workspace: T0BLOGDEV', 'workspace: T0BLOGPROD')
        .replace('SLACK_BOT_TOKEN_DEV', 'SLACK_BOT_TOKEN_LIVE'),
    'prod-attribution',
    'slack.live.yaml',
  ],
];

describe.each(BREAKS)('%s', (_what, file, edit, rule, as) => {
  let dir: string;
  const id = (as ?? file).replace(/\.yaml$/, '');
  const [connector, env] = id.split('.') as [string, string];
  beforeAll(() => {
    dir = scopesWith(file, edit, as);
  });

  it(`fleet verify fails with ${rule}`, async () => {
    const r = await runCli(['verify', '--scopes', dir, '--no-docs']);
    expect(r.stdout + r.stderr).toMatch(new RegExp(`${id.replace('.', '\\.')}\\.yaml:\\d+: error \\[${rule}\\]`));
    expect(r.code).toBe(1);
  }, 30_000);

  it(`fleet serve ${connector} --env ${env} does not start, naming ${rule}`, async () => {
    const r = await runCli(['serve', connector, '--env', env, '--scopes', dir], { timeoutMs: 20_000 });
    expect(r.stderr).toMatch(
      new RegExp(`breaks the fleet's rules, so this production instance does not start[\\s\\S]*\\[${rule}\\]`),
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
  }, 30_000);
});

describe('a production token that reaches a second account', () => {
  let sb: CloudflareSandbox;
  beforeAll(async () => {
    sb = await startCloudflareSandbox();
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('does not start in production (standing token exempted from the minted rule, so only the reach decides)', async () => {
    const dir = scopesWith('cloudflare.prod.yaml', (t) =>
      t.replace(/^credential:[\s\S]*?\n(?=\S)/m, 'credential: env:CLOUDFLARE_API_TOKEN_PROD\n'),
    );
    const fleet = join(dir, 'fleet.yaml');
    writeFileSync(
      fleet,
      readFileSync(fleet, 'utf8').replace(
        '    max_ttl: 1h\n',
        '    max_ttl: 1h\n    exempt: { cloudflare.prod: the suite needs a standing token to show the reach check on its own }\n',
      ),
    );
    const perms = readFileSync(join(dir, 'cloudflare.prod.yaml'), 'utf8')
      .match(/^ {4}- (.+?)\s*(?:#.*)?$/gm)!
      .map((l) =>
        l
          .replace(/^ {4}- /, '')
          .replace(/\s*#.*$/, '')
          .trim(),
      );
    const token = sb.issue(ACCOUNT, [...perms, 'Account API Tokens Read'], { accounts: [ACCOUNT, OTHER_ACCOUNT] });
    // the instance checks its token at start and exits on its own: stdin stays open, as a client's would
    const r = await runCli(['serve', 'cloudflare', '--env', 'prod', '--scopes', dir, '--upstream', sb.url], {
      env: { CLOUDFLARE_API_TOKEN_PROD: token, FLEET_AUDIT_DIR: tempDir('fleet-audit-') },
      keepStdin: true,
      timeoutMs: 20_000,
    });
    expect(r.stderr).toMatch(
      new RegExp(
        `the token also reaches account ${OTHER_ACCOUNT}, beyond what the manifest pins .*refusing to start a production instance`,
      ),
    );
    expect(r.code).toBe(1);
  }, 30_000);
});
