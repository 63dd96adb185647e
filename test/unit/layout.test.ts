// The layout's import rules (.dependency-cruiser.cjs, docs/architecture.md): the project's own
// sources break none, and a tree built to break each one is caught on every rule.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const depcruise = join(root, 'node_modules/.bin/depcruise');
const CRUISED = ['servers', 'shared', 'client', 'bench', 'examples'];

/** Runs dependency-cruiser as a user would, from `cwd`; rules match paths relative to it. */
function cruise(cwd: string) {
  let out: string;
  try {
    out = execFileSync(
      depcruise,
      [
        ...CRUISED,
        '--config',
        join(root, '.dependency-cruiser.cjs'),
        '--ts-config',
        join(root, 'tsconfig.json'),
        '--output-type',
        'json',
      ],
      { cwd, encoding: 'utf8', maxBuffer: 64 << 20 },
    );
  } catch (e) {
    out = (e as { stdout: string }).stdout; // exits non-zero on violations
  }
  const { summary } = JSON.parse(out) as {
    summary: {
      totalCruised: number;
      totalDependenciesCruised: number;
      violations: { rule: { name: string }; from: string; to: string }[];
    };
  };
  return { ...summary, found: summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`) };
}

describe('layout', () => {
  it('the sources break no import rule', () => {
    const r = cruise(root);
    // the imports were resolved (.js specifiers to .ts files), so the rules had edges to judge
    expect(r.totalCruised).toBeGreaterThan(100);
    expect(r.totalDependenciesCruised).toBeGreaterThan(250);
    // no folder cycle is tolerated either: shared/'s folders sit on layers (docs/architecture.md)
    expect(r.found).toEqual([]);
  }, 60_000);

  it('every rule fires on a tree that breaks it', () => {
    expect(cruise(join(root, 'test/fixtures/layout')).found.sort()).toEqual([
      'base-is-a-leaf: shared/base/leaf.ts -> shared/core/x.ts',
      'bench-measures-the-build: bench/run.mjs -> shared/beta/b.ts',
      'client-stands-alone: client/index.ts -> shared/beta/b.ts',
      'connectors-import-no-command: servers/beta/c.ts -> servers/fleet/list.ts',
      'connectors-stay-apart: servers/alpha/a.ts -> servers/beta/b.ts',
      'core-imports-no-server: shared/core/up.ts -> servers/fleet/list.ts',
      'examples-use-the-public-client: examples/bot.ts -> client/index.ts',
      'no-cycles: shared/core/x.ts -> shared/core/y.ts',
      'no-folder-cycles: shared/alpha -> shared/beta',
      'no-folder-cycles: shared/beta -> shared/alpha',
      'wire-imports-nothing: shared/base/wire.ts -> path',
    ]);
  }, 60_000);
});
