// Set algebra over the languages of name globs (shared/glob.ts syntax: `*` any run without `/`,
// `**` any run, `?` one character but `/`). Used to tell whether two grants overlap (dev and prod
// must not) and whether a changed grant matches strictly more (an escalation), exactly rather
// than by looks: `blog-**-prod` is longer than `blog-*` yet matches `blog-a/b-prod`.
type Token = { lit: string } | { one: true } | { star: boolean /* true: `**` */ };

function tokens(glob: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      const double = glob[i + 1] === '*';
      if (double) i++;
      out.push({ star: double });
    } else if (c === '?') out.push({ one: true });
    else out.push({ lit: c });
  }
  return out;
}

/** An NFA over a set of globs; a state is "glob g has consumed its first i tokens". */
class GlobSet {
  readonly globs: Token[][];
  constructor(globs: string[]) {
    this.globs = globs.map(tokens);
  }

  private close(states: Set<string>): Set<string> {
    const todo = [...states];
    while (todo.length) {
      const [g, i] = todo.pop()!.split(':').map(Number) as [number, number];
      const t = this.globs[g]![i];
      if (t && 'star' in t && !states.has(`${g}:${i + 1}`)) {
        states.add(`${g}:${i + 1}`);
        todo.push(`${g}:${i + 1}`);
      }
    }
    return states;
  }

  start(): Set<string> {
    return this.close(new Set(this.globs.map((_, g) => `${g}:0`)));
  }

  step(states: Set<string>, ch: string): Set<string> {
    const next = new Set<string>();
    for (const s of states) {
      const [g, i] = s.split(':').map(Number) as [number, number];
      const t = this.globs[g]![i];
      if (!t) continue;
      if ('lit' in t) {
        if (t.lit === ch) next.add(`${g}:${i + 1}`);
      } else if ('one' in t) {
        if (ch !== '/') next.add(`${g}:${i + 1}`);
      } else if (t.star || ch !== '/') next.add(s);
    }
    return this.close(next);
  }

  accepts(states: Set<string>): boolean {
    for (const s of states) {
      const [g, i] = s.split(':').map(Number) as [number, number];
      if (i === this.globs[g]!.length) return true;
    }
    return false;
  }

  literals(): Set<string> {
    return new Set(this.globs.flatMap((ts) => ts.flatMap((t) => ('lit' in t ? [t.lit] : []))));
  }
}

const key = (s: Set<string>) => [...s].sort().join(',');
const LIMIT = 50_000;

/**
 * A shortest string accepted by `a` whose acceptance by `b` satisfies `wantB`, or undefined.
 * The alphabet is every literal of either side, `/`, and one stand-in for "any other character".
 */
function search(a: GlobSet, b: GlobSet, wantB: boolean): string | undefined {
  const lits = new Set([...a.literals(), ...b.literals(), '/']);
  const other = [...'xyzqkjw0123456789_', '\u0001'].find((c) => !lits.has(c))!;
  const alphabet = [...lits, other];
  const seen = new Set<string>();
  let frontier: [Set<string>, Set<string>, string][] = [[a.start(), b.start(), '']];
  while (frontier.length && seen.size < LIMIT) {
    const next: typeof frontier = [];
    for (const [sa, sb, w] of frontier) {
      const k = `${key(sa)}|${key(sb)}`;
      if (seen.has(k)) continue;
      seen.add(k);
      if (a.accepts(sa) && b.accepts(sb) === wantB) return w;
      for (const ch of alphabet) {
        const na = a.step(sa, ch);
        if (na.size) next.push([na, b.step(sb, ch), w + ch]);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** A name both sets match (dev and prod sharing a resource), or undefined. */
export function overlap(a: string[], b: string[]): string | undefined {
  return search(new GlobSet(a), new GlobSet(b), true);
}

/** A name `a` matches that `b` does not (what a widened grant newly admits), or undefined. */
export function beyond(a: string[], b: string[]): string | undefined {
  return search(new GlobSet(a), new GlobSet(b), false);
}

/** True when the glob uses a wildcard (`*`, `**` or `?`). */
export function isPattern(glob: string): boolean {
  return /[*?]/.test(glob);
}
