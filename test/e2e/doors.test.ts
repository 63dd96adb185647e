// The doors a newcomer walks through, as they would: `fleet demo` (what `npm start` runs) from the
// bundle and from the launcher, from a folder outside the repository; and a `.mcp.json` server
// started the way Claude Code starts it, from a subfolder of the project.
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { startSlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, CLI, ROOT, SCOPES, tempDir } from '../helpers.js';

const LAUNCHER = join(dirname(CLI), 'fleet');

/** A PATH whose `node` is another binary (as with nvm, Homebrew, volta): the launcher runs the bundle. */
function otherNodePath(): string {
  const dir = tempDir('fleet-node-');
  symlinkSync(process.execPath, join(dir, 'node'));
  return `${dir}:${process.env.PATH}`;
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** What every demo run must show: a denial naming its rule, an approval asked and given, a verified chain. */
function expectDemo(r: { code: number | null; out: string; err: string }): void {
  expect(r.code, r.err).toBe(0);
  expect(r.out).toMatch(
    /5\. A post to a channel outside the grant[\s\S]*?✗ refused \(status: denied\)\n\s+denied: channel C0DEVGENERAL is not in post_message\.channels/,
  );
  expect(r.out).toMatch(
    /the server asks the user \(MCP elicitation\)[\s\S]*?the user answers: approve\n\s+✓ ok \(status: completed\)/,
  );
  expect(r.out).toMatch(/13\. Its hash chain.*\n.*chain intact/);
  // its temporary audit folder is gone
  const folder = /audit: (\S+) \(removed when the demo ends\)/.exec(r.out)?.[1];
  expect(folder).toBeTruthy();
  expect(existsSync(folder!)).toBe(false);
}

describe('fleet demo', () => {
  it('runs from the bundle, started from a folder outside the repository', async () => {
    expectDemo(
      await run(process.execPath, [CLI, 'demo'], { PATH: process.env.PATH ?? '' }, tempDir('fleet-elsewhere-')),
    );
  });

  it.each([
    ['the snapshot', () => process.env.PATH ?? ''],
    ['the bundle, when node is another binary', otherNodePath],
  ])('runs from the launcher, through %s', async (_how, path) => {
    expectDemo(await run(LAUNCHER, ['demo'], { PATH: path() }, tempDir('fleet-elsewhere-')));
  });
});

describe('.mcp.json, as Claude Code starts it', () => {
  it('serves from a subfolder of the project, reading its scopes/ and writing its .fleet/audit', async () => {
    // a copy of the repository: what a clone holds (node_modules shared, not copied)
    const project = tempDir('fleet-project-');
    for (const f of ['package.json', '.mcp.json', 'scopes', 'dist'])
      cpSync(join(ROOT, f), join(project, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
    const sub = join(project, 'servers', 'slack');
    mkdirSync(sub, { recursive: true });

    const entry = JSON.parse(readFileSync(join(project, '.mcp.json'), 'utf8')).mcpServers['slack-dev'] as {
      command: string;
      args: string[];
    };
    // Claude Code expands ${VAR} and ${VAR:-default} in .mcp.json before it spawns (a shell
    // parameter expansion written that way would reach sh mangled), so the entry must hold none
    for (const a of [entry.command, ...entry.args]) expect(a).not.toMatch(/\$\{/);
    const transport = new StdioClientTransport({
      command: entry.command,
      args: entry.args,
      cwd: sub,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'claude-code-like', version: '1' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('post_message');
      const r = (await client.callTool({
        name: 'read_history',
        arguments: { channel: 'C0DEVGENERAL', limit: 1 },
      })) as CallToolResult;
      expect(r.isError).toBeFalsy();
    } finally {
      await client.close();
    }
    const trail = auditRecords(join(project, '.fleet', 'audit', 'slack.dev.jsonl'));
    expect(trail.map((x) => [x.tool, x.phase])).toEqual([
      ['read_history', 'intent'],
      ['read_history', 'outcome'],
    ]);
    expect(existsSync(join(sub, '.fleet'))).toBe(false);
  });
});

describe('a production instance that cannot serve', () => {
  const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];

  it.each([
    [
      'a token of another workspace',
      (issue: (ws: string) => string) => ({ SLACK_BOT_TOKEN_PROD: issue('T0BLOGDEV') }),
      'the token belongs to workspace T0BLOGDEV',
    ],
    ['no credential at all', () => ({}), 'SLACK_BOT_TOKEN_PROD'],
  ])('with %s fails where the client looks (connect or tools/list) and exits 1', async (_what, vars, phrase) => {
    const sb = await startSlackSandbox();
    try {
      // through sh, only to keep the server's exit code
      const codeFile = join(tempDir(), 'code');
      const transport = new StdioClientTransport({
        command: 'sh',
        args: [
          '-c',
          `"$0" "$@"; echo $? > ${codeFile}`,
          process.execPath,
          CLI,
          'serve',
          'slack',
          '--env',
          'prod',
          '--upstream',
          sb.url,
          '--scopes',
          SCOPES,
        ],
        env: {
          PATH: process.env.PATH ?? '',
          FLEET_AUDIT_DIR: tempDir(),
          FLEET_STATE_DIR: tempDir(),
          ...vars((ws) => sb.issue(ws, PROD_SCOPES)),
        },
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => (transport.onclose = () => resolve()));
      const client = new Client({ name: 'claude-code-like', version: '1' });
      // a check that fails within 1 s ends the process before it answers initialize; a slower one
      // is the answer to tools/list
      const told = await client.connect(transport).then(
        () =>
          client.listTools().then(
            () => 'listed',
            (e: Error) => e.message,
          ),
        (e: Error) => e.message,
      );
      expect(told).not.toBe('listed');
      if (!/Connection closed/.test(told)) expect(told).toMatch(new RegExp(`slack\\.prod cannot serve: .*${phrase}`));
      await exited;
      await expect.poll(() => (existsSync(codeFile) ? readFileSync(codeFile, 'utf8').trim() : '')).toBe('1');
      expect(stderr).toContain('slack.prod: cannot start:');
      expect(stderr).toContain(phrase);
    } finally {
      await sb.close();
    }
  });
});
