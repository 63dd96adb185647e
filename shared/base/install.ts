// Where the fleet is installed: the folder of dist/cli.js (the sources, under tests). A start-up
// snapshot has no module URL of its own, so its launcher says where it is in FLEET_DIST.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function distDir(): string {
  return process.env.FLEET_DIST ? resolve(process.env.FLEET_DIST) : dirname(fileURLToPath(import.meta.url));
}

/** require() resolving from the installation, for files shipped in node_modules (e.g. wasm). */
export function installRequire(): NodeJS.Require {
  return createRequire(join(distDir(), 'cli.js'));
}
