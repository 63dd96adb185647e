// The package as npm ships it: `npm pack` holds what `fleet` needs and nothing of the workshop
// (tests, fixtures, local settings). Everything is bundled but libsql (native: its binary comes in an
// npm package per platform), the one dependency a global install fetches, with nothing to compile.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { IDS } from '../../servers/cloudflare/sandbox/seed.js';
import { ROOT, tempDir } from '../helpers.js';

const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env, encoding: 'utf8' });

describe('npm pack', () => {
  // packed as is (--ignore-scripts: `prepare` would rebuild dist/ under the other suites)
  const out = tempDir('fleet-pack-');
  const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', out], ROOT))[0] as {
    filename: string;
    files: { path: string }[];
  };
  const files = packed.files.map((f) => f.path);

  it('ships the bundle, the launcher, the manifests and docs, and nothing else (the typed client is its own package); one dependency', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/cli.js',
      'dist/fleet',
      'dist/sql-wasm.cjs',
      'dist/sql-wasm.wasm',
      'scopes/slack.dev.yaml',
      'scopes/fleet.yaml',
      'docs/tools.md',
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => !/^(package\.json|README\.md|LICENSE|dist\/|scopes\/|docs\/)/.test(f))).toEqual([]);
    // no start-up snapshot: it belongs to the node binary that built it, never the installer's
    expect(files).not.toContain('dist/snapshot.blob');
    // the bundle holds every other package; a native module cannot be bundled
    expect(
      Object.keys(
        (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: object }).dependencies,
      ),
    ).toEqual(['libsql']);
  });

  it('installs globally, then `fleet demo` (its state in SQLite) and the sql.js-backed D1 check run from the install', async () => {
    const prefix = tempDir('fleet-global-');
    // npm's cache first: after `npm ci` it holds libsql and its platform package
    npm(['install', '--global', '--prefer-offline', '--prefix', prefix, join(out, packed.filename)], out);
    const bin = join(prefix, 'bin', 'fleet');
    const elsewhere = tempDir('fleet-elsewhere-');
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };

    const demo = spawnSync(bin, ['demo'], { cwd: elsewhere, env, encoding: 'utf8' });
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('✗ refused (status: denied)');
    expect(demo.stdout).toContain('the user answers: approve');

    // sql.js's wasm is loaded from beside the installed bundle
    const scopes = join(prefix, 'lib', 'node_modules', 'mcp-fleet', 'scopes');
    const transport = new StdioClientTransport({
      command: bin,
      args: ['serve', 'cloudflare', '--env', 'dev', '--sandbox', '--scopes', scopes],
      cwd: elsewhere,
      env: { ...env, FLEET_AUDIT_DIR: tempDir(), FLEET_STATE_DIR: tempDir() },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'package-test', version: '1' });
    await client.connect(transport);
    try {
      const r = (await client.callTool({
        name: 'd1_query',
        arguments: { database_id: IDS.devDb, sql: 'SELECT slug FROM posts' },
      })) as CallToolResult;
      expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    } finally {
      await client.close();
    }
  }, 180_000);
});
