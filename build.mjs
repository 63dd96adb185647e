// Builds what `fleet` runs from:
// - dist/cli.js: the CLI as one minified ESM bundle; upstream SDKs and sandboxes are split into
//   chunks that load on first use.
// - dist/snapshot.blob: a V8 start-up snapshot of the same CLI with everything `serve` needs
//   before its first answer already evaluated (servers/fleet/snapshot.ts); dist/snapshot-<connector>.blob,
//   the same warmed for one connector only, which `serve <connector>` starts from; and dist/fleet, the
//   launcher that starts from them. A snapshot only loads on the exact node binary that built it, so
//   the launcher falls back to dist/cli.js when the blob is missing or older than that binary.
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

// FLEET_OUTDIR lets parallel work build beside dist/ without pulling it from under running tests.
const outdir = process.env.FLEET_OUTDIR || 'dist';
rmSync(outdir, { recursive: true, force: true });
// zod's namespace re-exports its 40-odd error-message locales (`z.locales`), so no bundler can leave
// them out, and each is evaluated at every start; fleet speaks English (zod's default) and names no
// other, so that namespace is English alone here.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) =>
      /[\\/]zod[\\/]v4[\\/]/.test(a.importer)
        ? { path: join(dirname(a.importer), '..', 'locales', 'en-only.js'), namespace: 'zod-en' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-en' }, (a) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: dirname(a.path),
    }));
  },
};
const common = {
  bundle: true,
  plugins: [zodEnglishOnly],
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: { cli: 'servers/fleet/cli.ts' },
  outdir,
  splitting: true,
  format: 'esm',
  chunkNames: 'chunks/[name]-[hash]',
  // Everything is bundled, so an installed package needs no dependency but one: libsql is native
  // (a prebuilt .node per platform, from its npm packages), so it stays a dependency and loads from
  // node_modules on first use. pg's optional native binding is never used.
  external: ['libsql', 'pg-native'],
  // CommonJS dependencies (axios, form-data, ...) call require() on Node built-ins.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
});

// client/dist: the bot's typed client, its own package (mcp-fleet-client, the workspace client/)
await import('./client/build.mjs');

// sql.js (SQLite as wasm) loads at run time from beside the bundle, not from node_modules: with
// everything else bundled, the package needs no dependency installed (servers/cloudflare/sql.ts).
const sqljs = dirname(createRequire(import.meta.url).resolve('sql.js'));
copyFileSync(join(sqljs, 'sql-wasm.js'), join(outdir, 'sql-wasm.cjs'));
copyFileSync(join(sqljs, 'sql-wasm.wasm'), join(outdir, 'sql-wasm.wasm'));

const snapshotJs = join(outdir, 'snapshot.cjs');
await build({
  ...common,
  entryPoints: ['servers/fleet/snapshot.ts'],
  outfile: snapshotJs,
  format: 'cjs',
  // A snapshot has no dynamic import() (no callback to load a module with: every import() fails with
  // ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so every import() in it becomes the require() below,
  // which loads what is external (pg, the upstream SDKs) from the installation.
  supported: { 'dynamic-import': false },
  // Upstream SDKs are loaded on first use, so they need not weigh on every start: they stay out of
  // the snapshot and load from node_modules, through a require() rooted at the install folder (a
  // snapshot's own require() reaches only Node's built-in modules).
  external: [
    'cloudflare',
    '@dopplerhq/node-sdk',
    '@slack/web-api',
    '@slack/socket-mode',
    '@opentelemetry/*',
    'libsql',
    'pg',
    'pg-native',
  ],
  // No module URL in CommonJS: the launcher names the install folder in FLEET_DIST instead.
  define: { 'import.meta.url': '__fleet_module_url' },
  banner: {
    js: [
      "var __fleet_module_url=require('node:url').pathToFileURL(__filename).href;",
      'var __fleet_builtin=require;',
      "require=function(id){return id.startsWith('node:')||__fleet_builtin('node:module').isBuiltin(id)?__fleet_builtin(id):__fleet_builtin('node:module').createRequire(__fleet_builtin('node:path').resolve(process.env.FLEET_DIST||__dirname,'cli.js'))(id)};",
    ].join(''),
  },
});

// The class of bug the flag above closes: a dynamic import() left in the snapshot fails only when
// that path first runs (a PostgreSQL store, an OTLP export), so the build refuses one here.
const leftover = /\bimport\((?!\))/.exec(readFileSync(snapshotJs, 'utf8'));
if (leftover)
  throw new Error(
    `build: a dynamic import() is left in the snapshot (${snapshotJs} at ${leftover.index}): it would fail at run time`,
  );

// V8 keeps a script's source in the snapshot, one byte per character while every character is
// Latin-1: one other character anywhere (a regex literal is not escaped) doubles the whole bundle's
// share of the heap, resident in every process.
const wide = /[\u0100-\uffff]/.exec(readFileSync(snapshotJs, 'utf8'));
if (wide)
  throw new Error(
    `build: a character beyond Latin-1 (${JSON.stringify(wide[0])}) in the snapshot (${snapshotJs} at ${wide.index}): escape it in the source`,
  );

/**
 * Takes the snapshot into `blob`, warmed for `connector` (all when undefined): what it printed (the
 * one warmed for all prints the connectors' names), or undefined, with a warning, when it cannot.
 */
async function snapshot(blob, connector) {
  try {
    const args = ['--snapshot-blob', blob, '--build-snapshot', snapshotJs, ...(connector ? [connector] : [])];
    return (await promisify(execFile)(process.execPath, args)).stdout;
  } catch (e) {
    rmSync(blob, { force: true });
    process.stderr.write(
      `build: no start-up snapshot ${blob} (fleet starts from ${connector ? 'snapshot.blob' : 'dist/cli.js'} instead): ${
        String(e.stderr || e.message)
          .split('\n')
          .find((l) => l.trim()) ?? ''
      }\n`,
    );
    return undefined;
  }
}

const connectors = await snapshot(join(outdir, 'snapshot.blob'));
if (connectors) await Promise.all(JSON.parse(connectors).map((c) => snapshot(join(outdir, `snapshot-${c}.blob`), c)));
rmSync(snapshotJs, { force: true });

// The launcher: the snapshot when it was built by this very node binary, else the bundle. A V8 option
// in NODE_OPTIONS (--max-old-space-size, --stack-size) makes a snapshot refuse to load (exit 14 or 9,
// "Expected tag"), so with NODE_OPTIONS set the bundle starts: slower, never broken.
const launcher = join(outdir, 'fleet');
writeFileSync(
  launcher,
  `#!/bin/sh
# fleet: starts from the V8 start-up snapshot built by ${resolve(process.execPath)} (for "serve <connector>",
# the one warmed for that connector), or from cli.js.
p=$0
case $p in */*) ;; *) p=$(command -v "$p") ;; esac
[ -L "$p" ] && p=$(readlink -f "$p")
d=\${p%/*}
case $d in /*) ;; *) d=$PWD/$d ;; esac
n=$(command -v node)
b=$d/snapshot.blob
if [ "$1" = serve ]; then
  case $2 in *[!a-z0-9_-]* | '') ;; *) [ -f "$d/snapshot-$2.blob" ] && b=$d/snapshot-$2.blob ;; esac
fi
if [ -z "$NODE_OPTIONS" ] && [ "$n" = "${resolve(process.execPath)}" ] && [ -f "$b" ] && [ "$b" -nt "$n" ]; then
  FLEET_DIST="$d" exec "$n" --snapshot-blob "$b" -- "$@"
fi
exec node "$d/cli.js" "$@"
`,
);
chmodSync(launcher, 0o755);
