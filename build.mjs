// Bundles the CLI into dist/cli.js (ESM, minified). Upstream SDKs and sandboxes are split into
// chunks that load on first use, so `fleet serve` starts from one small file.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

// FLEET_OUTDIR lets parallel work build beside dist/ without pulling it from under running tests.
const outdir = process.env.FLEET_OUTDIR || 'dist';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { cli: 'servers/cli.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies (axios, form-data, ...) call require() on Node built-ins.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  logLevel: 'warning',
});
