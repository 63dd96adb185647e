// dist/fleet, the installed command: it starts from the V8 snapshot built at install when that
// snapshot belongs to the node on PATH, and from dist/cli.js otherwise — with the same behaviour.
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { auditRecords, CLI, ROOT, tempDir } from '../helpers.js';
import { manifestOf } from '../hardening/instances.js';
import { CONNECTORS } from '../../servers/fleet/connectors.js';

const LAUNCHER = join(dirname(CLI), 'fleet');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

/** A PATH whose `node` is a symlink elsewhere: the launcher must not trust the snapshot for it. */
function otherNodePath(): string {
  const dir = tempDir('fleet-node-');
  symlinkSync(process.execPath, join(dir, 'node'));
  return `${dir}:${process.env.PATH}`;
}

async function session(PATH: string) {
  const auditDir = tempDir('fleet-audit-');
  const transport = new StdioClientTransport({
    command: LAUNCHER,
    args: ['serve', 'slack', '--env', 'dev', '--sandbox'],
    env: { PATH, HOME: process.env.HOME ?? '', FLEET_AUDIT_DIR: auditDir, FLEET_STATE_DIR: tempDir() },
    cwd: ROOT,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'launcher-test', version: '1' });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const read = (await client.callTool({
    name: 'read_history',
    arguments: { channel: 'C0DEVGENERAL', limit: 1 },
  })) as CallToolResult;
  const post = (await client.callTool({
    name: 'post_message',
    arguments: { channel: 'C0DEVBOTTEST', text: 'from the launcher' },
  })) as CallToolResult;
  await client.close();
  return { tools, read, post, audit: auditRecords(join(auditDir, 'slack.dev.jsonl')) };
}

describe('the fleet launcher', () => {
  it('has a start-up snapshot built at install', () => {
    expect(existsSync(join(dirname(CLI), 'snapshot.blob'))).toBe(true);
  });

  it.each([
    ['from the snapshot', () => process.env.PATH ?? ''],
    ['from the bundle, when node is another binary', otherNodePath],
  ])('serves %s', async (_how, path) => {
    const s = await session(path());
    expect(s.tools.map((t) => t.name).sort()).toEqual(Object.keys(manifestOf('slack', 'dev').tools).sort());
    expect(s.read.isError).toBeFalsy();
    expect(s.post.structuredContent).toMatchObject({ status: 'completed' });
    expect(s.audit.map((r) => r.phase)).toEqual(['intent', 'outcome', 'intent', 'outcome']);
  });

  it("prints the fleet's own version, not node's, from the snapshot or the bundle", () => {
    for (const [PATH, from] of [
      [process.env.PATH ?? '', 'snapshot \\(snapshot\\.blob\\)'],
      [otherNodePath(), 'bundle'],
    ] as const) {
      const run = spawnSync(LAUNCHER, ['--version'], { env: { PATH, FLEET_TRACE_START: '1' } });
      expect(run.stdout.toString().trim()).toBe(VERSION);
      expect(run.stderr.toString()).toMatch(new RegExp(`^fleet: started from the ${from} at \\d+\\.\\d ms\\n$`));
    }
  });

  it('starts `serve <connector>` from the snapshot warmed for that connector, anything else from the one warmed for all', () => {
    /** The snapshot a command started from (its first FLEET_TRACE_START line); stdin closed, so serve ends at once. */
    const startsFrom = (args: string[]) =>
      /started from the snapshot \(([^)]+)\)/.exec(
        spawnSync(LAUNCHER, args, {
          input: '',
          cwd: ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            FLEET_TRACE_START: '1',
            FLEET_AUDIT_DIR: tempDir(),
            FLEET_STATE_DIR: tempDir(),
          },
        }).stderr.toString(),
      )?.[1];
    for (const connector of Object.keys(CONNECTORS))
      expect(startsFrom(['serve', connector, '--env', 'dev', '--sandbox'])).toBe(`snapshot-${connector}.blob`);
    expect(startsFrom(['--version'])).toBe('snapshot.blob');
    expect(startsFrom(['verify'])).toBe('snapshot.blob');
    // an option first, or a name no snapshot file could have: the one warmed for all (still the same fleet)
    expect(startsFrom(['serve', '--env', 'dev', 'slack', '--sandbox'])).toBe('snapshot.blob');
    expect(startsFrom(['serve', '../slack', '--env', 'dev'])).toBe('snapshot.blob');
    expect(startsFrom(['serve', 'nosuch', '--env', 'dev'])).toBe('snapshot.blob');
  });
});
