// The typed client as a bot installs it: `npm pack` of the workspace client/ (mcp-fleet-client)
// holds JavaScript and .d.ts only, no dependency and no server code; its types compile in a
// consumer under the strictest common settings (NodeNext with exactOptionalPropertyTypes,
// noPropertyAccessFromIndexSignature, verbatimModuleSyntax; and moduleResolution bundler), and it
// bundles for a Worker (esbuild, platform neutral: no Node built-in may be imported).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// packed as built (--ignore-scripts: `prepack` would rebuild client/dist under the other suites)
const out = tempDir('fleet-client-pack-');
const packed = JSON.parse(
  execFileSync(
    'npm',
    ['pack', '--workspace', 'client', '--json', '--ignore-scripts', '--pack-destination', out, '--loglevel=error'],
    { cwd: ROOT, encoding: 'utf8' },
  ),
)[0] as { filename: string; files: { path: string }[] };

/** A consumer project with the packed client in its node_modules and the example bot as its code. */
function consumer(compilerOptions: Record<string, unknown>): string {
  const dir = tempDir('fleet-client-consumer-');
  const pkg = join(dir, 'node_modules', 'mcp-fleet-client');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['xzf', join(out, packed.filename), '-C', pkg, '--strip-components=1']);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  copyFileSync(join(ROOT, 'examples/bot/publish.ts'), join(dir, 'publish.ts'));
  writeFileSync(
    join(dir, 'uses.ts'),
    `import { callTool, fleetClient, fleetMeta, FleetError, type CallContext, type ToolResult } from 'mcp-fleet-client';
const ctx: CallContext = { actor: 'U0EDITOR1', thread: undefined };
const slack = fleetClient('slack.prod', { url: 'https://fleet.example.com/mcp/slack/prod', token: async () => 't' });
export async function run(): Promise<string> {
  const r: ToolResult<{ messages: Array<{ text?: string }> }> = await slack.read_history({ channel: 'C0EDITORIAL' }, ctx);
  // @ts-expect-error text must be a string (were the types any, this unused directive would fail the compile)
  void slack.post_message({ channel: 'C0EDITORIAL', text: 42 });
  const raw = await callTool({ url: 'x', token: 't' }, 'get_user', { user: 'U0EDITOR1' }, 'read');
  return [r.ok ? String(r.data.messages.length) : r.status, String(raw.ok), Object.keys(fleetMeta(ctx)).join(), new FleetError('x', 401).name].join();
}
`,
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: 'ES2022',
        lib: ['ES2022', 'DOM', 'DOM.Iterable'],
        types: [],
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        noPropertyAccessFromIndexSignature: true,
        verbatimModuleSyntax: true,
        isolatedModules: true,
        ...compilerOptions,
      },
      files: ['publish.ts', 'uses.ts'],
    }),
  );
  return dir;
}

const compile = (dir: string) => spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });

describe('the client package (mcp-fleet-client)', () => {
  it('packs JavaScript, .d.ts, a README and the license: no source, no server code, no dependency', () => {
    expect(packed.files.map((f) => f.path).sort()).toEqual([
      'README.md',
      'dist/LICENSE',
      'dist/index.d.ts',
      'dist/index.js',
      'dist/tools.d.ts',
      'package.json',
    ]);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'client/package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.name).toBe('mcp-fleet-client');
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'])
      expect(manifest[field]).toBeUndefined();
    const js = readFileSync(join(ROOT, 'client/dist/index.js'), 'utf8');
    expect(js).not.toMatch(/\bfrom\s*["'](node:|[a-z@])/);
    expect(js).not.toMatch(/\brequire\(/);
  });

  it('compiles in a strict NodeNext consumer (exactOptionalPropertyTypes, noPropertyAccessFromIndexSignature, verbatimModuleSyntax)', () => {
    const r = compile(consumer({ module: 'NodeNext', moduleResolution: 'NodeNext' }));
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('compiles in a bundler consumer (moduleResolution bundler)', () => {
    const r = compile(consumer({ module: 'ESNext', moduleResolution: 'bundler' }));
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('bundles into a Worker for a neutral platform (no Node built-ins)', async () => {
    const dir = consumer({});
    const b = await build({
      entryPoints: [join(dir, 'publish.ts')],
      bundle: true,
      platform: 'neutral',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    const code = b.outputFiles[0]!.text;
    expect(code).toContain('mcp-protocol-version');
    expect(code).not.toMatch(/\bimport\b[^;]*["']node:|\brequire\(/);
    // a Node built-in in the bundle fails the build on this platform: the check above can fail
    writeFileSync(join(dir, 'node.ts'), `import { readFileSync } from 'node:fs';\nexport default readFileSync;\n`);
    await expect(
      build({
        entryPoints: [join(dir, 'node.ts')],
        bundle: true,
        platform: 'neutral',
        write: false,
        logLevel: 'silent',
      }),
    ).rejects.toThrow(/node:fs/);
  }, 120_000);
});
