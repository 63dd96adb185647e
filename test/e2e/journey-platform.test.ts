// Journey: a platform team keeps its scopes in its own repository, through the bin (dist/fleet).
// An empty repository → a clear error instead of a raw ENOENT → `fleet init` → `fleet verify` and
// `fleet surface` pass there (no docs/ of ours to drift from) → every file validates against its
// JSON Schema as a YAML 1.1 reader parses it → a change is committed and `fleet diff` names the
// escalation → a client is declared and `fleet clients mint` changes one line of the reviewed file.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli, tempDir } from '../helpers.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=platform@example.com', '-c', 'user.name=platform', ...args], {
    cwd,
    encoding: 'utf8',
  });

describe('journey: a platform team in its own repository', () => {
  it('init, verify, schemas, diff and mint, each as the team runs it', async () => {
    const repo = tempDir('fleet-platform-');
    git(repo, 'init', '-q');
    const run = (args: string[]) => runCli(args, { cwd: repo, timeoutMs: 30_000 });

    // 1. before init: what is missing, and how to get it
    const none = await run(['verify']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /no scopes folder at .*scopes: run fleet in your project .*or create one with `fleet init <connector>\.\.\.`/,
    );
    expect(none.stderr).not.toContain('ENOENT');

    // 2. init for the connectors the team uses
    const init = await run(['init', 'slack', 'doppler']);
    expect(init.code, init.stderr).toBe(0);
    for (const f of [
      'scopes/slack.dev.yaml',
      'scopes/slack.prod.yaml',
      'scopes/doppler.dev.yaml',
      'scopes/doppler.prod.yaml',
      'scopes/fleet.yaml',
      'scopes/clients.yaml',
      'scopes/manifest.schema.json',
      'scopes/fleet.schema.json',
      'scopes/clients.schema.json',
      'scopes/surface/slack.prod.json',
      '.github/workflows/fleet-scopes.yml',
    ]) {
      expect(init.stdout).toContain(`wrote ${f}`);
    }
    expect(readdirSync(join(repo, 'scopes')).some((f) => f.startsWith('cloudflare.'))).toBe(false);
    expect((await run(['init', 'slack'])).stderr).toMatch(
      /already exists and is not empty: fleet init .* never overwrites/,
    );
    const wf = parse(readFileSync(join(repo, '.github/workflows/fleet-scopes.yml'), 'utf8'));
    expect(wf.jobs.scopes.steps.map((s: { run?: string }) => s.run ?? '')).toContain(
      'npx fleet verify --format github',
    );

    // 3. verify and surface pass in a repository that holds no docs of ours
    const verify = await run(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('4 manifest(s) ok');
    expect((await run(['surface'])).stdout).toContain('all generated files are up to date');

    // 4. a generic validator, reading YAML as 1.1 (dates as dates), accepts every file
    const schema = (f: string) =>
      new Ajv({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync(join(repo, 'scopes', f), 'utf8')));
    for (const f of readdirSync(join(repo, 'scopes')).filter((x) => x.endsWith('.yaml'))) {
      const validate = schema(
        f === 'fleet.yaml'
          ? 'fleet.schema.json'
          : f === 'clients.yaml'
            ? 'clients.schema.json'
            : 'manifest.schema.json',
      );
      expect(
        validate(parse(readFileSync(join(repo, 'scopes', f), 'utf8'), { version: '1.1' })),
        `${f}: ${JSON.stringify(validate.errors)}`,
      ).toBe(true);
    }

    // 5. a change on a branch: diff names the escalation and fails on it
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'fleet init slack doppler');
    const prod = join(repo, 'scopes/slack.prod.yaml');
    writeFileSync(
      prod,
      readFileSync(prod, 'utf8').replace(
        'post_message:    { channels: [C0EDITORIAL]',
        'post_message:    { channels: [C0EDITORIAL, C0GENERAL]',
      ),
    );
    const diff = await run(['diff', 'HEAD', '--fail-on', 'escalation']);
    expect(diff.code, diff.stdout + diff.stderr).toBe(1);
    expect(diff.stdout).toMatch(/ESCALATION.*slack\.prod.*C0GENERAL/s);
    git(repo, 'checkout', '-q', '--', 'scopes/slack.prod.yaml');
    expect((await run(['diff', 'HEAD'])).stdout).toContain('no change to what the fleet grants');

    // 6. a client declared in the team's own style, then minted: one line of the reviewed file changes
    const clients = join(repo, 'scopes/clients.yaml');
    writeFileSync(
      clients,
      readFileSync(clients, 'utf8').replace(
        'clients: {}\n',
        `clients:
  # the release routine; owner on call: #platform
  release-bot:
    owner: platform <platform@example.com>
    purpose: The release routine posts release notes in the editorial channel once a release is tagged and approved.
    instances: [ slack.prod ]
    review_by: '2027-03-31'
`,
      ),
    );
    // declared first (verify says it still needs its credential), then minted
    expect((await run(['verify'])).stdout).toMatch(
      /clients\.release-bot: a client proves itself with exactly one of token: or jwt:/,
    );
    git(repo, 'commit', '-qam', 'a client for the release routine');
    const mint = await run(['clients', 'mint', 'release-bot']);
    expect(mint.code, mint.stderr).toBe(0);
    const changed = git(repo, 'diff', '--unified=0', '--', 'scopes/clients.yaml')
      .split('\n')
      .filter((l) => /^[+-][^+-]/.test(l));
    expect(changed).toEqual([expect.stringMatching(/^\+ {4}token: sha256:[0-9a-f]{64}$/)]);
    expect((await run(['verify'])).code).toBe(0);
  }, 120_000);
});
