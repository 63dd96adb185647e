// The two sides of `fleet diff`: the scopes folder as of a git revision (`git show REV:path`), a
// folder on disk, or the working tree.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Side } from '../../../shared/review/diff.js';

const WANTED = (name: string) =>
  /^[a-z0-9-]+(\.[a-z0-9-]+)?\.ya?ml$/.test(name) || /^surface\/[a-z0-9-]+\.[a-z0-9-]+\.json$/.test(name);

function fromDir(dir: string, label: string): Side {
  const files = new Map<string, string>();
  const add = (name: string) => WANTED(name) && files.set(name, readFileSync(join(dir, name), 'utf8'));
  for (const f of readdirSync(dir)) add(f);
  if (existsSync(join(dir, 'surface'))) for (const f of readdirSync(join(dir, 'surface'))) add(`surface/${f}`);
  return { label, files, display: (name) => join(dir, name) };
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

function fromRevision(rev: string, scopes: string, cwd: string): Side {
  if (rev.startsWith('-')) throw new Error(`"${rev}" is not a git revision or a folder`);
  try {
    git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], cwd);
  } catch {
    throw new Error(`"${rev}" is neither a folder nor a git revision of the repository at ${cwd}`);
  }
  const prefix = scopes.replace(/\/+$/, '');
  const files = new Map<string, string>();
  // ls-tree prints paths relative to cwd, like the --scopes argument.
  for (const path of git(['ls-tree', '-r', '--name-only', rev, '--', `${prefix}/`], cwd)
    .split('\n')
    .filter(Boolean)) {
    const name = path.slice(prefix.length + 1);
    if (WANTED(name)) files.set(name, git(['show', `${rev}:./${path}`], cwd));
  }
  return { label: rev, files, display: (name) => `${prefix}/${name}` };
}

/** A folder when `spec` names one, else a git revision; undefined means the working tree. */
export function readSide(spec: string | undefined, scopes: string, cwd = process.cwd()): Side {
  if (spec === undefined) {
    if (!existsSync(scopes)) throw new Error(`no scopes folder at ${scopes}`);
    return fromDir(scopes, 'working tree');
  }
  if (existsSync(spec) && statSync(spec).isDirectory()) return fromDir(spec, spec);
  return fromRevision(spec, scopes, cwd);
}
