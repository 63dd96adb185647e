// Sealed versus torn on every reader of a trail: `audit show` (table, --custody, --json) and
// `fleet review` read the one verified stream (shared/audit/trail.ts). For each alteration of a
// trail holding every record kind (calls, an HTTP refusal, an aggregated edge record, a call with no
// outcome), nothing unsealed, unchained or after a problem is shown or counted, what is wrong is
// said plainly on stderr, and the exit code says whether the trail vouched for what was shown.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { genesis, seal } from '../../shared/audit/chain.js';
import { runCli, SCOPES, tempDir } from '../helpers.js';

const I = 'slack.dev';
const FORGED = 'U0FORGED';
const now = () => new Date().toISOString();
const base = (call: string) => ({
  v: 1,
  time: now(),
  instance: I,
  owner: 'blog-team <blog@example.com>',
  manifest: 'f'.repeat(64),
  call,
});

/** Every record kind a reader meets: a call, an HTTP refusal, an aggregated edge record, a call never ended. */
function records(): Record<string, unknown>[] {
  return [
    {
      ...base('c1'),
      phase: 'intent',
      tool: 'get_user',
      actor: 'U0DEVALICE',
      decision: 'allow',
      rule: 'tools.get_user',
    },
    { ...base('c1'), phase: 'outcome', tool: 'get_user', outcome: 'ok', duration_ms: 3 },
    {
      ...base('h1'),
      phase: 'decision',
      decision: 'deny',
      rule: 'client',
      message: 'unauthorized: unknown bearer token',
      http: { status: 401, method: 'POST', path: '/mcp/slack/dev', remote: '127.0.0.1' },
    },
    {
      ...base('e1'),
      phase: 'edge',
      rule: 'client',
      count: 300,
      interval_s: 10,
      sources: [{ status: 401, remote: '127.0.0.1', why: 'unknown bearer token', count: 300 }],
    },
    {
      ...base('c2'),
      phase: 'intent',
      tool: 'read_history',
      actor: 'U0DEVALICE',
      decision: 'allow',
      rule: 'tools.read_history',
    },
    { ...base('c3'), phase: 'intent', tool: 'get_user', actor: 'U0DEVBOB', decision: 'allow', rule: 'tools.get_user' },
    { ...base('c3'), phase: 'outcome', tool: 'get_user', outcome: 'ok', duration_ms: 2 },
  ];
}
const forged = (call = 'forged') => ({
  ...base(call),
  phase: 'decision',
  tool: 'post_message',
  actor: FORGED,
  decision: 'allow',
  rule: 'tools.post_message',
});

function chain(recs: Record<string, unknown>[], instance = I): string[] {
  let prev = genesis(instance);
  return recs.map((r, i) => {
    const s = seal(r, i + 1, prev);
    prev = s.hash;
    return s.line;
  });
}

/** [what, the trail's text, exit code of a reader, what stderr must say] */
const VARIANTS: [string, () => string, number, RegExp][] = [
  ['intact', () => chain(records()).join(''), 0, /^$/],
  [
    'a torn last line with a forged hash',
    () =>
      chain(records()).join('') +
      chain([...records(), forged()])
        .at(-1)!
        .slice(0, -1)
        .replace(/"hash":"[0-9a-f]{64}"/, `"hash":"${'a'.repeat(64)}"`),
    0,
    /:8: an interrupted write/,
  ],
  [
    'a sealed, chained last line without its newline',
    () =>
      chain([...records(), forged()])
        .join('')
        .slice(0, -1),
    0,
    /:8: an interrupted write/,
  ],
  [
    'a record edited in place',
    () =>
      chain(records())
        .map((l, i) => (i === 4 ? l.replace('U0DEVALICE', FORGED) : l))
        .join(''),
    1,
    /:5: TAMPERED \(modified\)/,
  ],
  [
    'an unsealed line inserted',
    () => {
      const ls = chain(records());
      ls.splice(3, 0, `${JSON.stringify(forged())}\n`);
      return ls.join('');
    },
    1,
    /:4: TAMPERED \(malformed\)/,
  ],
  [
    'a record deleted mid-trail',
    () =>
      chain([...records().slice(0, 3), forged(), ...records().slice(3)])
        .filter((_, i) => i !== 3)
        .join(''),
    1,
    /:4: TAMPERED \(deleted\)/,
  ],
  ['the file emptied', () => '', 1, /holds no record/],
];

const trailFile = (text: string) => {
  const dir = tempDir('fleet-readers-');
  const file = join(dir, `${I}.jsonl`);
  writeFileSync(file, text);
  return { dir, file };
};

describe.each(VARIANTS)('readers of a trail: %s', (what, make, code, says) => {
  it.each([
    ['audit show', []],
    ['audit show --custody', ['--custody']],
    ['audit show --json', ['--json']],
    ['audit show --custody --json', ['--custody', '--json']],
  ])(
    '%s shows only sealed, chained records and says what is wrong',
    async (_r, extra) => {
      const { file } = trailFile(make());
      const r = await runCli(['audit', 'show', file, ...extra]);
      expect(r.stdout).not.toContain(FORGED);
      expect(r.stderr).not.toMatch(/TypeError|Cannot read properties|RangeError/);
      if (what === 'intact' || code === 0) expect(r.stdout).toContain('U0DEVBOB');
      if (what === 'intact') expect(r.stdout).toMatch(/HTTP POST \/mcp\/slac|"call":"h1"/);
      expect(r.stderr).toMatch(says);
      expect(r.code, r.stderr).toBe(code);
    },
    30_000,
  );

  it('fleet review counts only sealed, chained records and says what is wrong', async () => {
    const { dir } = trailFile(make());
    const r = await runCli(['review', I, '--scopes', SCOPES, '--audit-dir', dir, '--format', 'json']);
    expect(r.stdout).not.toContain(FORGED);
    expect(r.stdout).not.toMatch(/"post_message"[^}]*"calls": [1-9]/);
    expect(r.stderr).toMatch(says);
    expect(r.code, r.stderr).toBe(code);
  }, 30_000);
});

describe('readers of a missing or foreign trail', () => {
  it('fleet review says there is no trail, and does not pass it off as no use', async () => {
    const dir = tempDir('fleet-readers-none-');
    const r = await runCli(['review', I, '--scopes', SCOPES, '--audit-dir', dir, '--format', 'json']);
    expect(r.stderr).toMatch(
      /slack\.dev\.jsonl: there is no audit trail there: nothing from it is shown or counted: slack\.dev is reviewed as if it made no call/,
    );
  }, 30_000);

  it("fleet review refuses another instance's chain under this instance's name", async () => {
    const { dir } = trailFile(
      chain(
        records().map((r) => ({ ...r, instance: 'slack.prod' })),
        'slack.prod',
      ).join(''),
    );
    const r = await runCli(['review', I, '--scopes', SCOPES, '--audit-dir', dir, '--format', 'json']);
    expect(r.stderr).toMatch(/:1: TAMPERED \(foreign\)/);
    expect(r.code).toBe(1);
  }, 30_000);

  it('audit verify takes the instance from the records, whatever the file is called', async () => {
    const { file } = trailFile(chain(records()).join(''));
    const other = join(tempDir('fleet-readers-'), 'exported.jsonl');
    copyFileSync(file, other);
    const r = await runCli(['audit', 'verify', other]);
    expect(r.stdout).toMatch(/chain intact, 7 records of slack\.dev/);
    expect(r.code).toBe(0);
    const asserted = await runCli(['audit', 'verify', other, '--instance', 'slack.prod']);
    expect(asserted.stdout).toMatch(/TAMPERED \(foreign\)/);
    expect(asserted.code).toBe(1);
  }, 30_000);

  it('audit show --custody streams 200,000 calls that never ended', async () => {
    const recs = Array.from({ length: 200_000 }, (_, i) => ({
      v: 1,
      time: '2026-12-01T00:00:00.000Z',
      instance: I,
      call: `c${i}`,
      phase: 'intent',
      tool: 'get_user',
      actor: 'U0DEVALICE',
      decision: 'allow',
    }));
    const { file } = trailFile(chain(recs).join(''));
    const r = await runCli(['audit', 'show', file, '--custody'], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/RangeError|stack/);
    expect(r.code, r.stderr.slice(-500)).toBe(0);
    expect(r.stdout.trim().split('\n').length).toBe(200_001);
  }, 150_000);
});
