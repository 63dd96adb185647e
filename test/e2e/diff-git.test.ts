// `fleet diff` between two commits of a repository: a temporary git repo holding a copy of this
// one's scopes/, changed and committed, read back with the real CLI.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, runCli, tempDir } from '../helpers.js';

let repo: string;
const git = (...args: string[]) =>
  execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  });
const edit = (file: string, from: string, to: string) => {
  const path = join(repo, 'scopes', file);
  const text = readFileSync(path, 'utf8');
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
};

beforeAll(() => {
  repo = tempDir('fleet-diff-git-');
  git('init', '-q', '-b', 'main');
  cpSync(SCOPES, join(repo, 'scopes'), { recursive: true });
  git('add', '.');
  git('commit', '-q', '-m', 'base');
  // The change under review: prod now takes a dev channel and drops attribution; dev loses a tool.
  edit(
    'slack.prod.yaml',
    'read_thread:     { channels: [C0EDITORIAL] }',
    'read_thread:     { channels: [C0EDITORIAL, C0DEVSCRATCH] }',
  );
  edit('slack.prod.yaml', '  required: true\n', '  required: false\n');
  edit('slack.dev.yaml', '  get_user:\n', '');
  git('commit', '-q', '-am', 'widen prod');
});

describe('fleet diff between git revisions', () => {
  it('classifies the commit, escalations first, with file:line in the head revision', async () => {
    const r = await runCli(['diff', 'HEAD~1', 'HEAD'], { cwd: repo });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('fleet diff HEAD~1 → HEAD: 2 escalation(s), 1 reduction(s), 0 neutral');
    const prod = readFileSync(join(repo, 'scopes', 'slack.prod.yaml'), 'utf8').split('\n');
    const at = (needle: string) => prod.findIndex((l) => l.includes(needle)) + 1;
    expect(lines.slice(1)).toEqual([
      `ESCALATION slack.prod: attribution required, proven by slack-message → optional, proven by slack-message [scopes/slack.prod.yaml:${at('attribution:')}]`,
      expect.stringMatching(
        new RegExp(
          `^ESCALATION slack\\.prod read_thread: read_thread\\.channels .*now also admits "C0DEVSCRATCH" — moved from dev: .* \\[scopes/slack\\.prod\\.yaml:${at('read_thread:')}\\]$`,
        ),
      ),
      expect.stringMatching(
        /^REDUCTION {2}slack\.dev get_user: revokes get_user \(read\) \[scopes\/slack\.dev\.yaml:\d+ \(base\)\]$/,
      ),
    ]);
  });

  it('--fail-on escalation exits 1; HEAD defaults to the working tree', async () => {
    expect((await runCli(['diff', 'HEAD~1', '--fail-on', 'escalation'], { cwd: repo })).code).toBe(1);
    expect((await runCli(['diff', 'HEAD', '--fail-on', 'escalation'], { cwd: repo })).stdout).toContain(
      'no change to what the fleet grants',
    );
  });

  it('markdown fits a pull-request comment', async () => {
    const r = await runCli(['diff', 'main~1', 'main', '--format', 'markdown'], { cwd: repo });
    expect(r.stdout).toMatch(
      /^### Scope changes: main~1 → main\n\n\*\*2 escalation\(s\), 1 reduction\(s\), 0 neutral\*\*/,
    );
    expect(r.stdout).toContain(
      '| slack.prod | — | attribution required, proven by slack-message → optional, proven by slack-message |',
    );
  });

  it('json carries the same changes as data', async () => {
    const out = JSON.parse((await runCli(['diff', 'HEAD~1', 'HEAD', '--format', 'json'], { cwd: repo })).stdout);
    expect(out.changes.map((c: { class: string; tool?: string }) => [c.class, c.tool])).toEqual([
      ['escalation', undefined],
      ['escalation', 'read_thread'],
      ['reduction', 'get_user'],
    ]);
  });

  it('an unknown revision is a clear error that changes nothing', async () => {
    const r = await runCli(['diff', 'no-such-rev'], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`fleet: "no-such-rev" is neither a folder nor a git revision of the repository at ${repo}\n`);
    expect(git('status', '--porcelain')).toBe('');
  });
});
