// No two exported functions in servers/, shared/ or client/ share a name: a name says what one
// thing does, and a reader who finds it imported somewhere knows which one it is.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

/**
 * Names still exported twice, each waiting on the change that reshapes its files (#23): this list
 * only shrinks. A name that is no longer doubled must leave it (the second test says which).
 */
const KNOWN = new Set<string>([
  'admits', // the HTTP edge's share check (shared/transport/http/limits.ts) and the Cloudflare sandbox's token scope
]);

/** Exported functions of one file: `export function f`, `export const f = (…) =>` or `= function`. */
function exportedFunctions(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest);
  const exported = (n: ts.Node) =>
    ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const names: string[] = [];
  for (const s of source.statements) {
    if (!exported(s)) continue;
    if (ts.isFunctionDeclaration(s) && s.name) names.push(s.name.text);
    if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) {
        const init =
          d.initializer && ts.isSatisfiesExpression(d.initializer) ? d.initializer.expression : d.initializer;
        if (ts.isIdentifier(d.name) && init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init)))
          names.push(d.name.text);
      }
    }
  }
  return names;
}

function doubled(): Record<string, string[]> {
  const where = new Map<string, string[]>();
  for (const dir of ['servers', 'shared', 'client']) {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true, recursive: true })) {
      if (
        !e.isFile() ||
        !e.name.endsWith('.ts') ||
        e.name.endsWith('.d.ts') ||
        e.parentPath.includes('node_modules') ||
        e.parentPath.includes(`${dir}/dist`)
      )
        continue;
      const file = relative(root, join(e.parentPath, e.name));
      for (const name of exportedFunctions(file)) where.set(name, [...(where.get(name) ?? []), file]);
    }
  }
  return Object.fromEntries(
    [...where].filter(([, files]) => files.length > 1).map(([name, files]) => [name, files.sort()]),
  );
}

describe('exported function names', () => {
  const found = doubled();
  it('no two exported functions share a name (beyond the known list)', () => {
    const fresh = Object.fromEntries(Object.entries(found).filter(([name]) => !KNOWN.has(name)));
    expect(fresh).toEqual({});
  });
  it('the known list holds only names still doubled', () => {
    // a name listed here that is exported once at most: take it out of KNOWN
    expect([...KNOWN].filter((name) => !found[name])).toEqual([]);
  });
});
