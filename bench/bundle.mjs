// The bench's reference servers are bundled the way the fleet's CLI is (build.mjs: one minified
// ESM bundle, every package inside, Node built-ins through require), so a comparison with them
// measures the servers, not how many files node_modules makes Node read. The bench's own view of
// the project's source (bench/*lib.ts) is bundled here too.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** Bundles `entry` into `outfile` as build.mjs bundles dist/cli.js; returns outfile. @param {string} entry @param {string} outfile */
export async function bundleLikeTheFleet(entry, outfile) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    format: 'esm',
    logLevel: 'warning',
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  });
  return outfile;
}

/**
 * The bench's view of the project's source: `bench/<name>.ts` bundled (unminified) into `outfile`,
 * with `external` left to node_modules, and imported.
 * @param {string} name @param {string} outfile @param {string[]} [external]
 */
export async function benchLib(name, outfile, external = []) {
  await build({
    entryPoints: [join(import.meta.dirname, `${name}.ts`)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    logLevel: 'warning',
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  });
  return import(pathToFileURL(outfile).href);
}
