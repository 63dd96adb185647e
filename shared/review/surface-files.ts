// Files generated from the code and committed so reviewers see changes in a diff:
// scopes/surface/<connector>.<env>.json (exactly the tools/list result a client of that instance
// sees), scopes/manifest.schema.json, and the tool table in docs/tools.md. `fleet surface
// --update` writes them; `fleet verify` fails when they disagree with the code.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { grantedTools } from '../instance/instance.js';
import { clientsJsonSchema, fileSchema, manifestJsonSchema } from '../manifest/json-schema.js';
import { fleetSchema } from './rules.js';
import { extensionsOf } from '../connector/extensions.js';
import type { Manifest } from '../base/manifest.js';
import { surface } from '../transport/surface.js';
import type { Connector } from '../connector/tool.js';
import type { Finding } from './findings.js';
import { clientTypes } from './client-types.js';
import { withToolTable } from './surface-docs.js';

export const MODELINE = '# yaml-language-server: $schema=./manifest.schema.json';
const UPDATE = 'run `fleet surface --update` and commit the result';

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);

export const surfaceFile = (dir: string, id: string) => join(dir, 'surface', `${id}.json`);

/** The tools/list result of an instance, as its snapshot file holds it. */
export function snapshot(m: Manifest, connector: Connector): string {
  return json({ tools: surface(grantedTools(connector, m).values(), m.tools) });
}

interface Generated {
  file: string;
  content: string;
  /** merges the generated part into the current file (docs keep their hand-written prose) */
  merge?: (current: string | undefined) => string;
  instance?: string;
}

function generated(
  dir: string,
  manifests: Manifest[],
  connectors: Record<string, Connector>,
  docs?: string,
): Generated[] {
  const list = Object.values(connectors);
  const out: Generated[] = manifests.map((m) => ({
    file: surfaceFile(dir, m.id),
    content: snapshot(m, connectors[m.connector]!),
    instance: m.id,
  }));
  out.push({ file: join(dir, 'manifest.schema.json'), content: json(manifestJsonSchema(list)) });
  // fleet.yaml's (approvals are checked by their connector) and clients.yaml's, for editors and CI
  out.push({
    file: join(dir, 'fleet.schema.json'),
    content: json(
      fileSchema(fleetSchema(extensionsOf(connectors)), 'fleet rules (scopes/fleet.yaml)', 'shared/review/rules.ts'),
    ),
  });
  out.push({ file: join(dir, 'clients.schema.json'), content: json(clientsJsonSchema()) });
  if (docs) out.push({ file: docs, content: '', merge: (current) => withToolTable(current, list) });
  // the bot's typed client, when this scopes folder sits in the project beside client/
  const types = join(dirname(dir), 'client', 'tools.ts');
  if (existsSync(dirname(types)) && existsSync(join(dirname(types), 'index.ts')))
    out.push({ file: types, content: clientTypes(manifests, connectors) });
  return out;
}

const firstDifference = (a: string, b: string) => {
  const x = a.split('\n');
  const y = b.split('\n');
  const i = x.findIndex((l, n) => l !== y[n]);
  return (i < 0 ? x.length : i) + 1;
};

/** Which tools a snapshot and the code disagree on, for the message. */
function toolsChanged(current: string, expected: string): string {
  let before: { name: string }[];
  try {
    before = JSON.parse(current).tools;
    if (!Array.isArray(before)) throw new Error();
  } catch {
    return 'the snapshot is not a tools/list result';
  }
  const after: { name: string }[] = JSON.parse(expected).tools;
  const byName = new Map(before.map((t) => [t.name, JSON.stringify(t)]));
  const parts: string[] = [];
  for (const t of after) {
    const old = byName.get(t.name);
    if (old === undefined) parts.push(`${t.name} is listed by the code but not the snapshot`);
    else if (old !== JSON.stringify(t)) {
      const o = JSON.parse(old);
      const keys = Object.keys({ ...o, ...t }).filter(
        (k) => JSON.stringify(o[k]) !== JSON.stringify((t as Record<string, unknown>)[k]),
      );
      parts.push(`${t.name} changed (${keys.join(', ')})`);
    }
    byName.delete(t.name);
  }
  for (const name of byName.keys()) parts.push(`${name} is in the snapshot but no longer listed`);
  return parts.join('; ') || 'tool order or formatting differs';
}

export function checkGenerated(
  dir: string,
  manifests: Manifest[],
  connectors: Record<string, Connector>,
  docs?: string,
): Finding[] {
  const findings: Finding[] = [];
  for (const g of generated(dir, manifests, connectors, docs)) {
    const current = read(g.file);
    const expected = g.merge ? g.merge(current) : g.content;
    const rule = g.instance ? 'surface' : g.merge ? 'docs-drift' : 'schema-drift';
    if (current === undefined) {
      findings.push({
        rule,
        severity: 'error',
        file: g.file,
        line: 1,
        instance: g.instance,
        message: `missing generated file; ${UPDATE}`,
      });
    } else if (current !== expected) {
      const what = g.instance
        ? `the tool surface of ${g.instance} differs from the code: ${toolsChanged(current, expected)}`
        : 'out of date with the code';
      findings.push({
        rule,
        severity: 'error',
        file: g.file,
        line: firstDifference(current, expected),
        instance: g.instance,
        message: `${what}; ${UPDATE}`,
      });
    }
  }
  const ids = new Set(
    readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => f.replace(/\.ya?ml$/, '')),
  );
  const surfaces = join(dir, 'surface');
  if (existsSync(surfaces)) {
    for (const f of readdirSync(surfaces)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      if (!ids.has(basename(f, '.json'))) {
        findings.push({
          rule: 'surface',
          severity: 'error',
          file: join(surfaces, f),
          line: 1,
          message: `snapshot of an instance with no manifest; delete it or ${UPDATE}`,
        });
      }
    }
  }
  for (const m of manifests) {
    if (readFileSync(m.file, 'utf8').split('\n', 1)[0]!.trim() !== MODELINE) {
      findings.push({
        rule: 'modeline',
        severity: 'error',
        file: m.file,
        line: 1,
        instance: m.id,
        message: `the first line must be "${MODELINE}" so editors check the manifest against its schema`,
      });
    }
  }
  return findings;
}

/** Rewrites every generated file; returns those whose content changed. */
export function writeGenerated(
  dir: string,
  manifests: Manifest[],
  connectors: Record<string, Connector>,
  docs?: string,
): string[] {
  const changed: string[] = [];
  for (const g of generated(dir, manifests, connectors, docs)) {
    const current = read(g.file);
    const content = g.merge ? g.merge(current) : g.content;
    if (current === content) continue;
    mkdirSync(dirname(g.file), { recursive: true });
    writeFileSync(g.file, content);
    changed.push(g.file);
  }
  return changed;
}
