// The canonical identifier parser (shared/base/identity.ts) against generated near-misses: every
// string that imitates a listed approver or a requester — an invisible or bidi character slipped
// in, a look-alike letter, a fullwidth or combining form, spaces, a changed case, a stray dot — is
// either refused or parses to something else; never to the ID it imitates.
// FLEET_IDENTITY_SEED replays a run; FLEET_FUZZ_RUNS scales it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { actor, BadIdentifier, canonical, email, registerPeople, sameId, thread } from '../../shared/base/identity.js';
import { SLACK_PEOPLE, slackUser } from '../../servers/slack/ids.js';

// Slack's user IDs are the person kind the Slack connector adds (servers/fleet/connectors.ts registers them)
registerPeople([SLACK_PEOPLE]);

const SEED = Number(process.env.FLEET_IDENTITY_SEED) || Date.now() % 2 ** 31;
const RUNS = Math.max(100, Math.round((2000 * (Number(process.env.FLEET_FUZZ_RUNS) || 100)) / 100));

const APPROVERS = ['U0EDITOR1', 'U0EDITOR2', 'W0ADMIN77'];
const REQUESTERS = ['U0WRITER1', 'erin@example.com', 'sam.sub+blog@news.example.org'];

const INVISIBLE = [
  '\u200b',
  '\u200c',
  '\u200d',
  '\u2060',
  '\ufeff',
  '\u00ad',
  '\u180e',
  '\u034f',
  '\u061c',
  '\u200e',
  '\u200f',
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\u0000',
  '\u0007',
  '\u001b',
  '\u007f',
  '\u0085',
  '\t',
  '\n',
  '\r',
  ' ',
  '\u00a0',
  '\u2007',
  '\u3000',
];
// letters that look like Latin ones: Cyrillic, Greek, fullwidth, mathematical, Cherokee...
const LOOKALIKE: Record<string, string[]> = {
  A: ['\u0410', '\u0391', '\uff21', '\u13aa'],
  B: ['\u0412', '\u0392', '\uff22'],
  C: ['\u0421', '\u216d', '\uff23'],
  D: ['\u216e', '\uff24', '\u13a0'],
  E: ['\u0415', '\u0395', '\uff25', '\u13ac'],
  I: ['\u0406', '\u0399', '\u04c0', '\u2160', 'l', '|', '\uff29'],
  K: ['\u041a', '\u039a', '\u212a'],
  M: ['\u041c', '\u039c', '\u216f'],
  N: ['\u039d', '\uff2e'],
  O: ['\u041e', '\u039f', '0', '\uff2f', '\u2c9e'],
  P: ['\u0420', '\u03a1', '\uff30'],
  R: ['\u13a1', '\uff32', '\u211b'],
  S: ['\u0405', '\uff33', '\u13da'],
  T: ['\u0422', '\u03a4', '\uff34'],
  U: ['\u054d', '\u222a', '\uff35'],
  W: ['\u051c', '\u13b3', '\uff37'],
  X: ['\u0425', '\u03a7', '\u2169'],
  '0': ['O', '\u041e', '\u039f', '\uff10', '\u06f0'],
  '1': ['l', 'I', '\u0406', '\uff11', '\u0661'],
  '2': ['\uff12', '\u01a7'],
  '7': ['\uff17'],
  a: ['\u0430', '\u03b1', '\uff41'],
  e: ['\u0435', '\uff45', '\u212e'],
  o: ['\u043e', '\u03bf', '0', '\uff4f'],
  i: ['\u0456', '\u0131', '1', 'l'],
  l: ['1', 'I', '\u04cf', '\u217c'],
  m: ['\u217f', 'rn'],
  n: ['\u0578', '\u057c'],
  p: ['\u0440', '\u03c1'],
  r: ['\u0433'],
  s: ['\u0455', '\uff53'],
  x: ['\u0445', '\u00d7'],
  c: ['\u0441', '\u03f2'],
  '.': ['\u2024', '\uff0e', '\u3002'],
  '@': ['\uff20', '\ufe6b'],
};
const COMBINING = ['\u0301', '\u0300', '\u0308', '\u0335', '\u0338', '\u20dd'];

/** One near-miss of `id`: each generator is one way a person could be fooled. */
function nearMiss(id: string): fc.Arbitrary<{ how: string; value: string }> {
  const at = fc.nat({ max: id.length });
  const ch = fc.nat({ max: Math.max(0, id.length - 1) });
  return fc
    .oneof(
      fc.tuple(at, fc.constantFrom(...INVISIBLE)).map(([i, c]) => ({
        how: `insert U+${c.codePointAt(0)!.toString(16)} at ${i}`,
        value: id.slice(0, i) + c + id.slice(i),
      })),
      ch
        .filter((i) => !!LOOKALIKE[id[i]!])
        .chain((i) =>
          fc.constantFrom(...LOOKALIKE[id[i]!]!).map((c) => ({
            how: `look-alike ${JSON.stringify(c)} for ${id[i]} at ${i}`,
            value: id.slice(0, i) + c + id.slice(i + 1),
          })),
        ),
      fc.tuple(ch, fc.constantFrom(...COMBINING)).map(([i, c]) => ({
        how: `combining U+${c.codePointAt(0)!.toString(16)} after ${i}`,
        value: id.slice(0, i + 1) + c + id.slice(i + 1),
      })),
      fc.constantFrom(' ', '\t', '\u00a0', '.', '_', '-', '0', 'x').chain((c) =>
        fc.boolean().map((front) => ({
          how: `${JSON.stringify(c)} ${front ? 'before' : 'after'}`,
          value: front ? c + id : id + c,
        })),
      ),
      ch.map((i) => ({ how: `drop ${i}`, value: id.slice(0, i) + id.slice(i + 1) })),
      ch.map((i) => ({ how: `double ${i}`, value: id.slice(0, i + 1) + id.slice(i) })),
      fc.constant({ how: 'lower case', value: id.toLowerCase() }),
      fc.constant({
        how: 'fullwidth',
        value: [...id]
          .map((c) => (c >= '!' && c <= '~' ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c))
          .join(''),
      }),
      fc.constant({ how: 'NFD', value: `${id.normalize('NFD')}\u0301` }),
    )
    .filter((n) => n.value !== id && !(id.includes('@') && n.value.toLowerCase() === id.toLowerCase()));
}

/** The canonical form of a candidate, or undefined when it is refused. */
function parsed(value: string): string | undefined {
  try {
    return canonical(value);
  } catch (e) {
    if (!(e instanceof BadIdentifier)) throw e;
    return undefined;
  }
}

describe('canonical identifiers against generated near-misses', () => {
  it.each([...APPROVERS, ...REQUESTERS])(`no near-miss of %s is ever equal to it (seed ${SEED})`, (target) => {
    const listed = new Set<string>([...APPROVERS, ...REQUESTERS].map((x) => canonical(x)));
    try {
      fc.assert(
        fc.property(nearMiss(target), ({ value }) => {
          const c = parsed(value);
          if (c === undefined) return true;
          // a near-miss that parses names someone else: never the target, never another listed principal it could pass for
          return c !== canonical(target) && !sameId(value, target) && (!listed.has(c) || c === value);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\nreplay with FLEET_IDENTITY_SEED=${SEED}`);
    }
  });

  it('e-mail addresses are one address whatever their case, and nothing else folds', () => {
    expect(email('Erin@Example.COM')).toBe('erin@example.com');
    expect(sameId('ERIN@example.com', 'erin@example.com')).toBe(true);
    expect(sameId('U0EDITOR1', 'u0editor1')).toBe(false);
    expect(() => email('erin@example.com\u200b')).toThrow(BadIdentifier);
    expect(() => email('\uff45rin@example.com')).toThrow(/non-ASCII/);
    expect(() => slackUser('U0EDITOR1\u202e')).toThrow(/bidi/);
    expect(actor('U0EDITOR1')).toEqual({ id: 'U0EDITOR1', kind: 'slack-user' });
  });

  it('threads: a Slack message reference, or a plain reference; nothing invisible', () => {
    expect(thread('C0EDITORIAL/1767226200.000110')).toBe('C0EDITORIAL/1767226200.000110');
    expect(thread('ticket-42')).toBe('ticket-42');
    for (const bad of ['C0EDITORIAL/1767226200.000110\u200b', ' ticket', 'a b', '', 'x'.repeat(300), '<!here>'])
      expect(() => thread(bad), JSON.stringify(bad)).toThrow(BadIdentifier);
  });
});
