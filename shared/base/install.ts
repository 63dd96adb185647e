// Where things are, found the way npm and git find them: by searching upward.
// - The install folder: the nearest folder above the running code whose package.json is named
//   mcp-fleet. It holds dist/, node_modules/ and the shipped scopes/ wherever the package sits (a
//   clone, a global install, npm link, npx) and whichever file the code was bundled or split into.
// - The project: the nearest folder above the working directory holding scopes/ (as git finds
//   .git), so an instance started from a subfolder reads the project's manifests and writes the
//   project's .fleet/audit and .fleet/state. An explicit --scopes, FLEET_AUDIT_DIR or
//   FLEET_STATE_DIR wins.
// Nothing here is computed at module load: the start-up snapshot must not capture a path.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE = 'mcp-fleet';

let entry: string | undefined;

/** Called by the entry (dist/cli.js, or the snapshot with the launcher's FLEET_DIST) with its own file. */
export function runningFrom(file: string): void {
  entry = resolve(file);
}

function up(from: string, found: (dir: string) => boolean): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (found(dir)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

const isFleetPackage = (dir: string) => {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === PACKAGE;
  } catch {
    return false;
  }
};

/** The folder of the mcp-fleet package the running code belongs to. */
export function installDir(): string {
  const from = entry ? dirname(entry) : dirname(fileURLToPath(import.meta.url));
  const dir = up(from, isFleetPackage);
  if (!dir) throw new Error(`cannot find the ${PACKAGE} package above ${from} (its package.json is missing)`);
  return dir;
}

/** The bundle a child `fleet` process runs (the demo's server). */
export function bundleFile(): string {
  return entry ?? join(installDir(), 'dist', 'cli.js');
}

/** require() resolving from the installation, for files shipped in node_modules (e.g. wasm). */
export function installRequire(): NodeJS.Require {
  return createRequire(join(installDir(), 'package.json'));
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * The scopes folder: the one given, else `scopes/` in the nearest folder above `cwd` holding one,
 * else `scopes` (which then names what is missing). Relative to `cwd` when found, so file:line
 * references read as they do from the project's root (`scopes/slack.dev.yaml:22`).
 */
export function scopesDir(given: string | undefined, cwd = process.cwd()): string {
  if (given) return given;
  const project = up(cwd, (d) => isDir(join(d, 'scopes')));
  return project ? relative(cwd, join(project, 'scopes')) || '.' : 'scopes';
}

/** Where an instance keeps its audit trail or state: FLEET_<KIND>_DIR, else .fleet/<kind> beside its scopes folder. */
export function fleetDir(kind: 'audit' | 'state', scopes: string, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = kind === 'audit' ? env.FLEET_AUDIT_DIR : env.FLEET_STATE_DIR;
  return explicit ? resolve(explicit) : join(dirname(resolve(scopes)), '.fleet', kind);
}
