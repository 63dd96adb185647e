// docs/cli.md, the command-line and environment-variable reference, is generated from the program
// (scripts/docs-cli.mjs runs the built CLI's --help for every command): it fails here when the
// program changed and the doc was not regenerated, and when the code reads a FLEET_* variable that
// `fleet --help` (and so the doc) does not name.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'sandbox' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('docs/cli.md', () => {
  it('is what the program prints (npm run docs:cli)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/docs-cli.mjs'), '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('names every FLEET_* variable the program reads', () => {
    const doc = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
    const documented = new Set(
      /## Environment variables\n\n```\n([\s\S]*?)```/.exec(doc)?.[1]?.match(/\bFLEET_[A-Z_]+/g) ?? [],
    );
    expect(documented.size).toBeGreaterThan(5);
    const read = new Set<string>();
    for (const f of [...sources(join(ROOT, 'servers')), ...sources(join(ROOT, 'shared'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/(?:process\.env|env)(?:\.|\[['"])(FLEET_[A-Z_]+)/g))
        read.add(m[1]!);
    }
    expect(read.size).toBeGreaterThan(5);
    expect([...read].filter((v) => !documented.has(v)).sort()).toEqual([]);
  });
});
