// What `npm install` on a fresh clone brings: the project's own dependencies, and no script npm has
// not been told about. The benchmark's peers and the mutation tooling live in their own package
// folders (bench/peers/, test/mutation/), installed by the scripts that use them; every dependency with an
// install script is reviewed in allowScripts (npm 11 prints a notice for any other), so the
// install is quiet, and none of the program's own runs one: nothing is compiled. `bash .ci/fresh-install.sh` measures the install itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
  scripts?: Record<string, string>;
  workspaces?: string[];
}
interface Lock {
  packages: Record<string, { hasInstallScript?: boolean; version?: string; link?: boolean; dev?: boolean }>;
}
const read = <T>(file: string) => JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as T;
const names = (m: Manifest) => Object.keys({ ...m.dependencies, ...m.devDependencies });
/** name of each package in a lockfile with an install script */
const withScripts = (lock: Lock) =>
  Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
const allowed = (m: Manifest, name: string) =>
  Object.keys(m.allowScripts ?? {}).some((k) => k === name || k.startsWith(`${name}@`));

describe('npm install', () => {
  const root = read<Manifest>('package.json');

  it('installs neither the benchmark peers nor the mutation tooling: their own folders, installed by their scripts', () => {
    for (const [folder, script] of [
      // not bench/ itself: the bench's scripts there would resolve the peers' own, older SDK
      ['bench/peers', 'bench:peers'],
      ['test/mutation', 'mutation'],
    ] as const) {
      const own = names(read<Manifest>(`${folder}/package.json`));
      expect(own.length).toBeGreaterThan(0);
      expect(
        names(root).filter((n) => own.includes(n)),
        folder,
      ).toEqual([]);
      expect(root.workspaces ?? []).not.toContain(folder);
      expect(root.scripts?.[script]).toContain(`--prefix ${folder}`);
    }
    expect(root.scripts?.bench).toContain('npm run bench:peers');
    expect(root.scripts?.['bench:smoke']).toContain('npm run bench:peers');
  });

  it('runs only install scripts that allowScripts reviewed (npm prints no notice), in every package folder', () => {
    for (const folder of ['', 'bench/peers/', 'test/mutation/']) {
      const m = read<Manifest>(`${folder}package.json`);
      const pending = withScripts(read<Lock>(`${folder}package-lock.json`)).filter((n) => !allowed(m, n));
      expect(pending, `${folder || 'the project'}: add to allowScripts (true to run, false to skip)`).toEqual([]);
    }
  });

  it("compiles nothing: no package the installed program depends on has an install script (the SQLite driver's binary is an npm package)", () => {
    const lock = read<Lock>('package-lock.json');
    // what `npm install --omit=dev` keeps: the program's own dependencies and theirs
    const program = Object.entries(lock.packages).filter(([path, p]) => path && !p.dev);
    expect(program.map(([path]) => path)).toContain('node_modules/libsql');
    expect(program.filter(([, p]) => p.hasInstallScript).map(([path]) => path)).toEqual([]);
    expect(Object.keys(root.allowScripts ?? {})).not.toContain('better-sqlite3');
  });
});
