// YAML read with its lines: manifests, fleet.yaml, clients.yaml and `fleet diff` revisions are
// parsed here, and every error names file:line and the offending key (ManifestError).
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

export interface ManifestProblem {
  file: string;
  line: number;
  path: string;
  message: string;
}

export class ManifestError extends Error {
  constructor(readonly problems: ManifestProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n'));
    this.name = 'ManifestError';
  }
}

/** dotted path → line of its key (or item), for every node of the document */
function indexLines(root: Node | null, lc: LineCounter): Map<string, number> {
  const lines = new Map<string, number>();
  const lineAt = (offset: number) => lc.linePos(offset).line;
  const walk = (node: unknown, path: string, depth: number) => {
    if (depth > 64) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key) || !pair.key.range) continue;
        const p = path ? `${path}.${String(pair.key.value)}` : String(pair.key.value);
        if (!lines.has(p)) lines.set(p, lineAt(pair.key.range[0]));
        walk(pair.value, p, depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const p = `${path}.${i}`;
        const r = (item as Node | null)?.range;
        if (r) lines.set(p, lineAt(r[0]));
        walk(item, p, depth + 1);
      });
    }
  };
  walk(root, '', 0);
  return lines;
}

function lineFinder(lines: Map<string, number>) {
  return (path: string): number => {
    let p = path;
    for (;;) {
      const l = lines.get(p);
      if (l !== undefined) return l;
      const cut = p.lastIndexOf('.');
      if (cut < 0) return 1;
      p = p.slice(0, cut);
    }
  };
}

/** A parsed YAML file: its data and where each dotted path's key is. */
export interface YamlDoc {
  data: unknown;
  line: (path: string) => number;
}

const parsedYaml = new Map<string, YamlDoc>();

/**
 * Parses YAML text with a line finder, without a schema (manifests, fleet.yaml, `fleet diff`
 * revisions). Memoised by file and content like manifests: callers must not modify `data`.
 */
export function readYaml(text: string, file: string): YamlDoc {
  const key = `${basename(file)}\0${createHash('sha256').update(text).digest('hex')}`;
  let parsed = parsedYaml.get(key);
  if (!parsed) parsedYaml.set(key, (parsed = parseYaml(text, file)));
  return parsed;
}

function parseYaml(text: string, file: string): YamlDoc {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ManifestError(
      doc.errors.map((e) => ({ file, line: lc.linePos(e.pos[0]).line, path: '', message: e.message.split('\n')[0]! })),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    throw new ManifestError([{ file, line: 1, path: '', message: (e as Error).message }]);
  }
  return { data, line: lineFinder(indexLines(doc.contents as Node | null, lc)) };
}

const derived = new WeakMap<YamlDoc, Map<unknown, unknown>>();

/**
 * What `make` (a pure function of `doc.data`, such as a schema's safeParse) gives for this document,
 * computed once per document and `key`. Documents are memoised by content, and the start-up snapshot
 * carries the shipped files' already, so a start re-checks an unchanged fleet.yaml for nothing.
 */
export function fromDoc<T>(doc: YamlDoc, key: unknown, make: () => T): T {
  let m = derived.get(doc);
  if (!m) derived.set(doc, (m = new Map()));
  if (!m.has(key)) m.set(key, make());
  return m.get(key) as T;
}
