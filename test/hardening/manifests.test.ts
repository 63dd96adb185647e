// Fuzzed manifests: every shipped manifest, mutated by fast-check (duplicate keys, anchors and
// aliases, alias bombs, merge keys, huge files, values of the wrong type, cut-off files, stray
// tabs, bytes that are not UTF-8, deleted and repeated lines). The loader either accepts the text
// or throws a ManifestError whose every problem names the file and a line inside it; nothing else
// escapes (no TypeError, no stack overflow, no hang). A sample goes through `fleet serve`: exit 1,
// file:line on stderr, nothing on stdout.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { ManifestError } from '../../shared/base/yaml.js';
import { runCli, SCOPES, tempDir } from '../helpers.js';
import { runs } from './instances.js';

const SHIPPED = readdirSync(SCOPES).filter((f) => /^[a-z]+\.[a-z-]+\.yaml$/.test(f) && CONNECTORS[f.split('.')[0]!]);
const WRONG = [
  '[]',
  '{}',
  '[a, b]',
  '{a: 1}',
  '42',
  '-1',
  '3.5',
  'true',
  'null',
  '~',
  '""',
  "'*'",
  '!!binary aGVsbG8=',
  '2026-01-01',
  '0x1F',
  '.inf',
  '&x 1',
];

type Mutation = { how: string; apply(lines: string[]): string | Buffer };

const at = (lines: string[], i: number) => i % lines.length;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map(
    (i): Mutation => ({
      how: 'duplicate line',
      apply: (l) => {
        const k = at(l, i);
        return [...l.slice(0, k + 1), l[k]!, ...l.slice(k + 1)].join('\n');
      },
    }),
  ),
  fc.nat().map((i): Mutation => ({ how: 'delete line', apply: (l) => l.filter((_, j) => j !== at(l, i)).join('\n') })),
  fc.tuple(fc.nat(), fc.constantFrom(...WRONG)).map(
    ([i, w]): Mutation => ({
      how: `wrong type ${w}`,
      apply: (l) => l.map((x, j) => (j === at(l, i) ? x.replace(/:\s+.*$/, `: ${w}`) : x)).join('\n'),
    }),
  ),
  fc.nat().map(
    (i): Mutation => ({
      how: 'cut off',
      apply: (l) => {
        const t = l.join('\n');
        return t.slice(0, i % t.length);
      },
    }),
  ),
  fc.nat().map(
    (i): Mutation => ({
      how: 'tab indent',
      apply: (l) => l.map((x, j) => (j === at(l, i) ? `\t${x}` : x)).join('\n'),
    }),
  ),
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom(
        Buffer.from([0xff, 0xfe]),
        Buffer.from([0xc3, 0x28]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0]),
      ),
    )
    .map(
      ([i, b]): Mutation => ({
        how: 'bytes that are not UTF-8',
        apply: (l) => {
          const t = Buffer.from(l.join('\n'));
          const k = i % t.length;
          return Buffer.concat([t.subarray(0, k), b, t.subarray(k)]);
        },
      }),
    ),
  fc.constantFrom<Mutation>(
    { how: 'duplicate top-level key', apply: (l) => [...l, l.find((x) => x.startsWith('instance:'))!].join('\n') },
    {
      how: 'duplicate tool',
      apply: (l) => {
        const k = l.findIndex((x) => /^ {2}[a-z_]+:/.test(x));
        return [...l.slice(0, k + 1), l[k]!, ...l.slice(k + 1)].join('\n');
      },
    },
    {
      how: 'anchor and alias for the tools',
      apply: (l) =>
        l
          .join('\n')
          .replace(/^tools:/m, 'tools: &t')
          .concat('\nextra: *t'),
    },
    {
      how: 'merge key',
      apply: (l) => l.join('\n').replace(/^tools:\n/m, 'base: &b\n  list_everything: {}\ntools:\n  <<: *b\n'),
    },
    {
      how: 'alias bomb',
      apply: (l) =>
        [
          'a: &a [x, x, x, x, x, x, x, x, x]',
          ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`),
          ...l,
        ].join('\n'),
    },
    { how: 'undefined alias', apply: (l) => l.join('\n').replace(/^owner: .*$/m, 'owner: *nobody') },
    { how: 'huge file', apply: (l) => `${l.join('\n')}\n${'# padding\n'.repeat(30_000)}` },
    { how: 'huge value', apply: (l) => l.join('\n').replace(/^purpose: .*$/m, `purpose: ${'x'.repeat(250_000)}`) },
    {
      how: 'deep nesting',
      apply: (l) => l.join('\n').replace(/^purpose: .*$/m, `purpose: ${'['.repeat(5000)}${']'.repeat(5000)}`),
    },
    { how: 'many documents', apply: (l) => `${l.join('\n')}\n---\n${l.join('\n')}` },
    { how: 'custom tag', apply: (l) => l.join('\n').replace(/^owner: /m, 'owner: !!js/function ') },
    { how: 'empty', apply: () => '' },
    { how: 'a list, not a mapping', apply: (l) => l.map((x) => `- ${x}`).join('\n') },
  ),
);

function check(file: string, lineCount: number): string {
  try {
    loadManifest(file, CONNECTORS);
    return 'accepted';
  } catch (e) {
    if (!(e instanceof ManifestError))
      throw new Error(`not a ManifestError: ${(e as Error).name}: ${(e as Error).message.slice(0, 200)}`);
    expect(e.problems.length).toBeGreaterThan(0);
    for (const p of e.problems) {
      expect(p.file).toBe(file);
      expect(p.line).toBeGreaterThanOrEqual(1);
      expect(p.line).toBeLessThanOrEqual(lineCount + 1);
      expect(p.message.length).toBeGreaterThan(0);
    }
    expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `));
    return 'refused';
  }
}

describe('fuzzed manifests', () => {
  it(`${runs(2000)} mutations of the shipped manifests: accepted, or refused with file:line`, () => {
    const dir = tempDir('fleet-fuzz-manifests-');
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...SHIPPED), mutation, (name, m) => {
        const original = readFileSync(join(SCOPES, name), 'utf8').split('\n');
        const out = m.apply(original);
        const file = join(dir, name);
        writeFileSync(file, out);
        const lines = (typeof out === 'string' ? out : out.toString('latin1')).split('\n').length;
        seen[check(file, lines) as 'accepted' | 'refused']++;
      }),
      { numRuns: runs(2000) },
    );
    // most mutations break something; the loader is not simply refusing everything either
    expect(seen.refused).toBeGreaterThan(seen.accepted);
    expect(seen.accepted).toBeGreaterThan(0);
  }, 120_000);

  it('refuses duplicate keys, alias bombs, huge files and wrong types at the line that holds them', () => {
    const dir = tempDir('fleet-named-manifests-');
    const base = readFileSync(join(SCOPES, 'slack.dev.yaml'), 'utf8');
    const cases: [string, string, RegExp][] = [
      ['duplicate key', `${base}instance: dev\n`, new RegExp(`:${base.split('\n').length}: .*(unique|duplicate)`, 'i')],
      [
        'alias bomb',
        `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n${base}`,
        /:1: .*alias/i,
      ],
      ['huge file', `${base}${'#'.repeat(300 * 1024)}\n`, /:1: manifest is \d+ bytes; the limit is 262144/],
      [
        'wrong type',
        base.replace(/^timeout: .*$/m, 'timeout: [10s]'),
        new RegExp(`:${base.split('\n').findIndex((l) => l.startsWith('timeout:')) + 1}: timeout: `),
      ],
    ];
    for (const [what, text, expected] of cases) {
      const file = join(dir, 'slack.dev.yaml');
      writeFileSync(file, text);
      expect(() => loadManifest(file, CONNECTORS), what).toThrow(expected);
    }
  });

  it.each([
    ['duplicate key', (t: string) => `${t}\nowner: someone else\n`],
    [
      'alias bomb',
      (t: string) =>
        `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n${t}`,
    ],
    ['huge file', (t: string) => `${t}\n${'# pad\n'.repeat(60_000)}`],
    ['wrong type', (t: string) => t.replace(/^tools:/m, 'tools: 42\nx:')],
    ['cut off', (t: string) => t.slice(0, t.indexOf('tools:') + 12)],
  ])('fleet serve refuses to start: %s', async (_what, mutate) => {
    const dir = tempDir('fleet-serve-manifests-');
    for (const f of readdirSync(SCOPES))
      if (f.endsWith('.yaml')) writeFileSync(join(dir, f), readFileSync(join(SCOPES, f)));
    writeFileSync(
      join(dir, 'cloudflare.prod.yaml'),
      mutate(readFileSync(join(SCOPES, 'cloudflare.prod.yaml'), 'utf8')),
    );
    const r = await runCli(['serve', 'cloudflare', '--env', 'prod', '--sandbox', '--scopes', dir], {
      keepStdin: true,
      timeoutMs: 10_000,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fleet: invalid manifest:\n.*cloudflare\.prod\.yaml:\d+: /);
  });
});
