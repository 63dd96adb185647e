// `fleet verify` and `fleet surface` as CI runs them: the real CLI on the shipped scopes folder,
// and on copies of it broken one way at a time.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, SCOPES, runCli, tempDir } from '../helpers.js';
import { manifestFiles } from '../../shared/review/verify.js';

/**
 * A copy of scopes/ and docs/tools.md to break, its generated files brought up to date first so
 * each test sees only the break it makes (the shipped folder's own drift is the first test's job).
 */
async function copyScopes(): Promise<string> {
  const dir = tempDir('fleet-verify-');
  cpSync(SCOPES, join(dir, 'scopes'), { recursive: true });
  cpSync(join(ROOT, 'docs', 'tools.md'), join(dir, 'docs', 'tools.md'));
  expect((await runCli(['surface', '--scopes', join(dir, 'scopes'), '--update'])).code).toBe(0);
  return join(dir, 'scopes');
}

function edit(file: string, from: string | RegExp, to: string): void {
  const text = readFileSync(file, 'utf8');
  const next = text.replace(from, to);
  expect(next, `edit of ${file}`).not.toBe(text);
  writeFileSync(file, next);
}

const lineOf = (file: string, needle: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(needle)) + 1;

describe('fleet verify', () => {
  it('passes on the shipped scopes/, generated files included', async () => {
    const r = await runCli(['verify']);
    expect(r.stdout).toMatch(/^(\d+ manifest\(s\) ok|0 error\(s\), \d+ warning\(s\) in \d+ manifest\(s\))$/m);
    expect(r.code).toBe(0);
  });

  it('--format github prints one workflow annotation per finding and exits 1', async () => {
    const scopes = await copyScopes();
    const file = join(scopes, 'slack.prod.yaml');
    edit(file, '  required: true\n', '  required: false\n');
    const r = await runCli(['verify', '--scopes', scopes, '--format', 'github']);
    expect(r.code).toBe(1);
    const line = lineOf(file, 'attribution:');
    expect(r.stdout).toContain(
      `::error file=${file},line=${line},title=fleet verify%3A prod-attribution::slack.prod must set attribution: required`,
    );
    expect(
      r.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('::error')),
    ).toHaveLength(1);
  });

  it('--format json reports findings as data', async () => {
    const scopes = await copyScopes();
    edit(join(scopes, 'slack.dev.yaml'), /token_scopes: \[/, 'token_scopes: [files:write, ');
    const r = await runCli(['verify', '--scopes', scopes, '--format', 'json']);
    const out = JSON.parse(r.stdout);
    // dev over-declaring is a warning: CI stays green, the warning is still shown
    expect(out.ok).toBe(true);
    expect(r.code).toBe(0);
    expect(out.findings).toContainEqual(
      expect.objectContaining({
        rule: 'excess-permission',
        severity: 'warning',
        instance: 'slack.dev',
        path: 'upstream.token_scopes.0',
      }),
    );
    expect(out.findings.filter((f: { severity: string }) => f.severity === 'error')).toEqual([]);
  });

  it('fails when a snapshot disagrees with the code, naming the tool; surface --update repairs it', async () => {
    const scopes = await copyScopes();
    const snap = join(scopes, 'surface', 'slack.prod.json');
    edit(snap, '"Post a new message to a channel."', '"Post anything anywhere."');
    const r = await runCli(['verify', '--scopes', scopes]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `${snap}:${lineOf(snap, 'Post anything anywhere.')}: error [surface] the tool surface of slack.prod differs from the code: post_message changed (description)`,
    );
    const check = await runCli(['surface', '--scopes', scopes]);
    expect(check.code).toBe(1);
    const up = await runCli(['surface', '--scopes', scopes, '--update']);
    expect(up.stdout).toBe(`updated ${snap}\n`);
    expect((await runCli(['verify', '--scopes', scopes])).code).toBe(0);
  });

  it('fails on a stale JSON Schema, a stale docs table and a missing modeline', async () => {
    const scopes = await copyScopes();
    edit(join(scopes, 'manifest.schema.json'), '"title": "fleet scope manifest"', '"title": "old"');
    edit(join(scopes, '..', 'docs', 'tools.md'), /\| `post_message` \| write \|/, '| `post_message` | read |');
    edit(join(scopes, 'slack.dev.yaml'), /^# yaml-language-server.*\n/, '');
    const r = await runCli(['verify', '--scopes', scopes]);
    expect(r.code).toBe(1);
    for (const rule of ['schema-drift', 'docs-drift', 'modeline']) expect(r.stdout).toContain(`error [${rule}]`);
  });

  it('surface --update writes nothing while a manifest is broken', async () => {
    const scopes = await copyScopes();
    edit(join(scopes, 'slack.prod.yaml'), 'connector: slack', 'connector: jira');
    const before = readFileSync(join(scopes, 'manifest.schema.json'), 'utf8');
    edit(join(scopes, 'manifest.schema.json'), '"title": "fleet scope manifest"', '"title": "old"');
    const r = await runCli(['surface', '--scopes', scopes, '--update']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('nothing written');
    expect(readFileSync(join(scopes, 'manifest.schema.json'), 'utf8')).not.toBe(before);
  });

  it('--explain lists, per instance, the tools, resources and the permissions they need', async () => {
    const r = await runCli(['verify', '--explain']);
    expect(r.stdout).toMatch(/^slack\.prod \(scopes\/slack\.prod\.yaml\) — production$/m);
    expect(r.stdout).toMatch(/^ {4}post_message +write +channels: C0EDITORIAL; .*\[needs chat:write\]$/m);
    expect(r.stdout).toMatch(
      /upstream permissions needed: channels:history, channels:read, chat:write, reactions:write, users:read/,
    );
    // how each instance holds its token: what a reviewer asks first
    expect(r.stdout).toContain('credential minted from broker (ttl 1h) env:CLOUDFLARE_BROKER_TOKEN_PROD;');
    expect(r.stdout).toContain('credential minted from broker (ttl 1h) env:DOPPLER_BROKER_TOKEN_PROD;');
    expect(r.stdout).toContain('credential standing env:SLACK_BOT_TOKEN_PROD;');
  });

  it('the committed JSON Schema accepts every shipped manifest and rejects an unknown tool', () => {
    const schema = JSON.parse(readFileSync(join(SCOPES, 'manifest.schema.json'), 'utf8'));
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    for (const file of manifestFiles(SCOPES)) {
      expect(validate(parse(readFileSync(file, 'utf8'))), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const bad = parse(readFileSync(join(SCOPES, 'slack.dev.yaml'), 'utf8'));
    bad.tools.kick_user = { channels: ['C0DEVSCRATCH'] };
    expect(validate(bad)).toBe(false);
  });
});

describe('CI workflow', () => {
  it('runs verify with annotations and posts the markdown diff on pull requests touching anything it checks', () => {
    const wf = parse(readFileSync(join(ROOT, '.github', 'workflows', 'scopes.yml'), 'utf8'));
    expect(wf.on.pull_request.paths).toEqual([
      'scopes/**',
      'servers/**',
      'shared/**',
      'docs/tools.md',
      'package.json',
      'package-lock.json',
      '.github/workflows/scopes.yml',
    ]);
    const steps: { run?: string; env?: Record<string, string> }[] = wf.jobs.scopes.steps;
    const runs = steps.map((s) => s.run ?? '');
    expect(runs).toContain('node dist/cli.js verify --format github');
    // against the pull request's own base branch, not a fixed one
    const diff = steps.find((s) =>
      s.run?.includes('node dist/cli.js diff "origin/$BASE" --format markdown > scope-diff.md'),
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template
    expect(diff?.env?.BASE).toBe('${{ github.event.pull_request.base.ref }}');
    expect(JSON.stringify(wf)).not.toContain('origin/main');
    expect(runs.some((r) => r.includes('gh pr comment "$PR" --body-file scope-diff.md'))).toBe(true);
  });
});
