// An oracle for grants written apart from shared/connector/constraints.ts and shared/base/glob.ts: when a value
// reaches an upstream, these say whether the grant really covers it. It is deliberately stricter
// than the core where meaning is ambiguous (a key is judged after resolving `..` and decoding
// percent-escapes), so a core that let an escape through could not pass by sharing its bug.

/** How each constraint key of every connector is judged. A key missing here fails the suites. */
export const KINDS: Record<string, 'ids' | 'glob' | 'prefix' | 'oneOf'> = {
  channels: 'ids',
  namespaces: 'ids',
  buckets: 'ids',
  databases: 'ids',
  zones: 'ids',
  scripts: 'glob',
  workflows: 'glob',
  names: 'glob',
  configs: 'glob',
  secrets: 'glob',
  key_prefix: 'prefix',
  emoji: 'oneOf',
  types: 'oneOf',
};

/**
 * Glob semantics spelled out as a table filled from the end: `**` any run, `*` a run without `/`,
 * `?` one non-`/`. (A table, not recursion, so a very long value cannot exhaust the stack.)
 */
export function globCovers(glob: string, value: string): boolean {
  const tokens = glob.match(/\*\*|[\s\S]/g) ?? [];
  const V = value.length;
  // next[v]: the tokens after this one match value[v..]
  let next: boolean[] = Array.from({ length: V + 1 }, (_, v) => v === V);
  for (let t = tokens.length - 1; t >= 0; t--) {
    const tok = tokens[t]!;
    const row: boolean[] = new Array(V + 1).fill(false);
    for (let v = V; v >= 0; v--) {
      if (tok === '**') row[v] = next[v]! || (v < V && row[v + 1]!);
      else if (tok === '*') row[v] = next[v]! || (v < V && value[v] !== '/' && row[v + 1]!);
      else if (tok === '?') row[v] = v < V && value[v] !== '/' && next[v + 1]!;
      else row[v] = v < V && tok === value[v] && next[v + 1]!;
    }
    next = row;
  }
  return next[0]!;
}

/** A key as a path store would see it after every decoding a proxy might apply, `.`/`..` resolved. */
export function resolvedKey(key: string): string | undefined {
  let k = key;
  for (let i = 0; i < 4; i++) {
    let d: string;
    try {
      d = decodeURIComponent(k);
    } catch {
      break;
    }
    if (d === k) break;
    k = d;
  }
  const out: string[] = [];
  for (const seg of k.replace(/\\/g, '/').split('/')) {
    if (seg === '.') continue;
    if (seg === '..') {
      if (!out.length) return undefined; // climbs out of the store's root
      out.pop();
    } else out.push(seg);
  }
  return out.join('/');
}

/** True when `granted` (a grant's value for a constraint key, or its default) covers `value`. */
export function covers(key: string, granted: unknown, value: string): boolean {
  const kind = KINDS[key];
  if (!kind) throw new Error(`no oracle for constraint "${key}": add it to test/hardening/oracle.ts`);
  const list = (Array.isArray(granted) ? granted : [granted]).map(String);
  switch (kind) {
    case 'ids':
    case 'oneOf':
      return list.includes('*') || list.includes(value);
    case 'glob':
      return list.some((g) => globCovers(g, value));
    case 'prefix': {
      const r = resolvedKey(value);
      // the raw key and its resolved form must both sit under the prefix
      return r !== undefined && list.some((p) => value.startsWith(p) && r.startsWith(p));
    }
  }
}

/** The constraint defaults the core applies when a grant leaves a key out (read from the manifests' meaning, not the code). */
export const DEFAULTS: Record<string, unknown> = { key_prefix: '', types: ['*'], names: ['**'] };

// any @channel/@here/@everyone/@group not glued to a letter or digit, and every Slack <!…> special
// command but <!date…> (which formats a time and notifies nobody)
export const BROADCAST_WORDS =
  /(?<![A-Za-z0-9])[@＠](channel|here|everyone|group)(?![A-Za-z0-9])|<!(?!date[\^|>])[^>]*>/i;
