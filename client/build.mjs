// Builds the package mcp-fleet-client into client/dist: index.js (one ES module for a neutral
// platform, so a Node built-in creeping in fails the build: it must run on Workers) and the .d.ts
// files, emitted by tsc under this folder's tsconfig (the strictest common consumer settings), and
// the project's LICENSE.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [join(here, 'index.ts')],
  outfile: join(out, 'index.js'),
  bundle: true,
  platform: 'neutral',
  format: 'esm',
  target: 'es2022',
  logLevel: 'warning',
});
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
// the project's license travels with the package
copyFileSync(join(here, '..', 'LICENSE'), join(out, 'LICENSE'));
