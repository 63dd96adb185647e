// Near-misses of granted values, as fast-check arbitraries: what an attacker (or a confused model)
// would try to slip past an allowlist that holds `seed`.
import fc from 'fast-check';

const LOOKALIKES: Record<string, string[]> = {
  a: ['а', 'ɑ', 'ａ'],
  c: ['с', 'ϲ'],
  e: ['е', 'ё', 'ｅ'],
  i: ['і', 'ı', 'ｉ'],
  o: ['о', 'ο', '０', 'ｏ'],
  p: ['р'],
  s: ['ѕ'],
  x: ['х'],
  y: ['у'],
  d: ['ԁ'],
  l: ['ӏ', '1', 'I'],
  A: ['А', 'Α'],
  B: ['В', 'Β'],
  C: ['С', 'Ϲ'],
  E: ['Е', 'Ε'],
  H: ['Н'],
  I: ['І', 'l', '1'],
  K: ['К', 'Κ'],
  M: ['М'],
  O: ['О', '0', 'Ο'],
  P: ['Р'],
  T: ['Т', 'Τ'],
  X: ['Х'],
  0: ['O', 'О'],
  1: ['l', 'I'],
  '-': ['‐', '−', '–'],
  '.': ['․', '。'],
  '/': ['∕', '⁄'],
  _: ['＿'],
};
const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e', '\u202e', '\u0000'];
const SPACES = [' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\v'];
const SEPARATORS = [
  '/',
  '../',
  '/..',
  '/../',
  '%2F',
  '%2f',
  '%2e%2e',
  '%2E%2E%2F',
  '%252F',
  '%252e%252e',
  '..%2F',
  '\\',
  '..\\',
  '%5C',
  '%00',
  '?',
  '#',
  ';',
  '&',
  '=',
  '@',
];
const META = ['*', '**', '?', '.*', '.+', '[a-z]*', '[^x]', '^', '$', '|', '(', ')', '{a,b}', '\\*', '%', '_', '+'];

const at = (s: string, i: number) => (s.length ? i % (s.length + 1) : 0);
const insert = (s: string, i: number, x: string) => s.slice(0, at(s, i)) + x + s.slice(at(s, i));
const replaceAt = (s: string, i: number, x: string) =>
  s.length ? s.slice(0, i % s.length) + x + s.slice((i % s.length) + 1) : x;

/** One mutation of `seed`, labelled for the failure report. */
export function nearMiss(seed: string, others: string[] = []): fc.Arbitrary<{ how: string; value: string }> {
  const pos = fc.nat(4096);
  const one = <T>(xs: T[]) => fc.constantFrom(...xs);
  const m = (how: string, arb: fc.Arbitrary<string>) => arb.map((value) => ({ how, value }));
  const lookalikeable = [...seed].map((ch, i) => [ch, i] as const).filter(([ch]) => LOOKALIKES[ch]);
  const cases: fc.Arbitrary<{ how: string; value: string }>[] = [
    m('upper', fc.constant(seed.toUpperCase())),
    m('lower', fc.constant(seed.toLowerCase())),
    m(
      'flip case',
      pos.map((i) => (seed.length ? replaceAt(seed, i, flip(seed[i % seed.length]!)) : seed)),
    ),
    m(
      'invisible',
      fc.tuple(pos, one(INVISIBLE)).map(([i, x]) => insert(seed, i, x)),
    ),
    m(
      'whitespace',
      fc
        .tuple(one(SPACES), fc.constantFrom('lead', 'trail', 'both', 'inside'), pos)
        .map(([w, where, i]) =>
          where === 'lead'
            ? w + seed
            : where === 'trail'
              ? seed + w
              : where === 'both'
                ? w + seed + w
                : insert(seed, i, w),
        ),
    ),
    m(
      'separator',
      fc
        .tuple(one(SEPARATORS), pos, fc.constantFrom('x', '', 'etc/passwd', seed))
        .map(([s, i, tail]) => insert(seed, i, s) + tail),
    ),
    m(
      'traversal',
      fc
        .tuple(
          one(['../', '..%2F', '%2e%2e/', '%2e%2e%2f', '%252e%252e%252f', './', '.%2F', '..\\']),
          fc.constantFrom(seed, 'x', ''),
        )
        .map(([t, x]) => `${seed}/${t}${x}`),
    ),
    m(
      'climb',
      fc.tuple(fc.integer({ min: 1, max: 4 }), one(['../', '..%2F', '%2e%2e/'])).map(([n, t]) => t.repeat(n) + seed),
    ),
    m(
      'glob or regex',
      fc.tuple(one(META), pos, fc.boolean()).map(([x, i, repl]) => (repl ? replaceAt(seed, i, x) : insert(seed, i, x))),
    ),
    m('whole glob', one(['*', '**', '?', '.*', '%', '*/*', `${seed.slice(0, 1)}*`, `*${seed.slice(-1)}`])),
    m(
      'truncated',
      pos.map((i) => seed.slice(0, Math.max(0, seed.length - 1 - (i % Math.max(1, seed.length))))),
    ),
    m(
      'extended',
      fc
        .tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.boolean())
        .map(([x, front]) => (front ? x + seed : seed + x)),
    ),
    m(
      'very long',
      fc
        .tuple(fc.integer({ min: 300, max: 70_000 }), fc.constantFrom('a', 'A', '/', '.', '9'))
        .map(([n, c]) => seed + c.repeat(n)),
    ),
    m('unicode normal form', fc.constant(`${seed.normalize('NFKD')}\u0301`)),
    m(
      'null or control',
      fc.tuple(pos, one(['\u0000', '\u0001', '\u001b', '\u007f', '\u0085'])).map(([i, c]) => insert(seed, i, c)),
    ),
  ];
  if (lookalikeable.length) {
    cases.push(
      m(
        'look-alike',
        fc.tuple(fc.constantFrom(...lookalikeable), pos).map(([[ch, i], k]) => {
          const alts = LOOKALIKES[ch]!;
          return seed.slice(0, i) + alts[k % alts.length]! + seed.slice(i + 1);
        }),
      ),
    );
  }
  if (others.length) cases.push(m('other environment', one(others)));
  return fc.oneof(...cases);
}

function flip(ch: string): string {
  const u = ch.toUpperCase();
  return u === ch ? ch.toLowerCase() : u;
}

/** Broadcast mentions in disguise, for message texts. */
export const sneakyMentions: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(
      '<!here>',
      '<!channel>',
      '<!everyone>',
      '<!here|here>',
      '<!subteam^S0123ABCD>',
      '<!subteam^S0123ABCD|@team>',
      '@here',
      '@channel',
      '@everyone',
      '@HERE',
      '<!HERE>',
      '@Channel',
      '<!channel|@channel>',
      'hi @everyone!',
      '(@here)',
      '<!group>',
      '<!GROUP|group>',
      '@group',
      '<!here^x|now>',
      '<!channel|>',
      '<! channel>',
      '＠here',
    ),
    fc.constantFrom('', 'hey ', 'a\n', '`', '*', '_', '~'),
    fc.constantFrom('', ' please', '.', '\n', '!', '_', '*', '~', '`'),
  )
  .map(([m, a, b]) => a + m + b);
