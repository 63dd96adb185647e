// Journey: a developer in Claude Code. The servers of .mcp.json and the README's own `claude mcp
// add` commands, run as written from the root and from a subfolder of a clone (the SDK's stdio
// Client spawns exactly the command Claude Code would); the README's names never collide with
// .mcp.json's; a production instance refuses every call Claude Code can make on its own, and takes
// the one path the README gives (the session's actor and the Slack message that asked). With the
// `claude` CLI installed, `claude mcp list` health-checks them too (it needs no model).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { approvalsIdentity, auditRecords, ROOT, tempDir, text } from '../helpers.js';
import { PROD_SCOPES } from '../slack-prod.js';

interface Entry {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** docs/claude-code.md's `claude mcp add NAME [-e K=V]... -- COMMAND ARGS...` lines, with $PWD as the project. */
function readmeAdds(project: string): Map<string, Entry> {
  const readme = readFileSync(join(ROOT, 'docs', 'claude-code.md'), 'utf8').replace(/\\\n\s*/g, '');
  const adds = new Map<string, Entry>();
  for (const m of readme.matchAll(/^claude mcp add (\S+) (.*?) -- (.*)$/gm)) {
    const env = Object.fromEntries([...m[2]!.matchAll(/-e (\w+)=(\S+)/g)].map((e) => [e[1]!, e[2]!]));
    const words = [...m[3]!.matchAll(/"([^"]*)"|(\S+)/g)].map((w) => (w[1] ?? w[2]!).replaceAll('$PWD', project));
    adds.set(m[1]!, { command: words[0]!, args: words.slice(1), env });
  }
  return adds;
}

async function session(e: Entry, cwd: string, env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({
    command: e.command,
    args: e.args,
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...e.env, ...env },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'claude-code', version: '2.1.197' });
  await client.connect(transport);
  return client;
}

describe('journey: a developer in Claude Code', () => {
  let project: string;
  let sub: string;
  let mcp: Record<string, Entry>;
  let sb: SlackSandbox;
  beforeAll(async () => {
    // a clone: what the repository holds, built (node_modules shared, not copied)
    project = tempDir('fleet-clone-');
    for (const f of ['package.json', 'README.md', '.mcp.json', 'scopes', 'dist'])
      cpSync(join(ROOT, f), join(project, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
    execFileSync('git', ['init', '-q'], { cwd: project }); // Claude Code reads a project's settings in a repository
    sub = join(project, 'servers', 'slack');
    mkdirSync(sub, { recursive: true });
    mcp = JSON.parse(readFileSync(join(project, '.mcp.json'), 'utf8')).mcpServers;
    sb = await startSlackSandbox();
  });
  afterAll(() => sb?.close());

  it("the README's claude mcp add names never collide with .mcp.json's", () => {
    const adds = readmeAdds(project);
    expect([...adds.keys()].sort()).toEqual(['slack-dev-me', 'slack-prod']);
    expect([...adds.keys()].filter((n) => n in mcp)).toEqual([]);
  });

  it.each([
    ['the root', () => project],
    ['a subfolder', () => sub],
  ])(
    'every .mcp.json server serves from %s',
    async (_where, cwd) => {
      const calls: [string, string, Record<string, unknown>][] = [
        ['slack-dev', 'read_history', { channel: 'C0DEVGENERAL', limit: 1 }],
        ['cloudflare-dev', 'list_workers', {}],
        ['doppler-dev', 'list_projects', {}],
      ];
      expect(Object.keys(mcp).sort()).toEqual(calls.map((c) => c[0]).sort());
      for (const [name, tool, args] of calls) {
        const client = await session(mcp[name]!, cwd(), { FLEET_ACTOR: 'dev@example.com' });
        try {
          const r = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
          expect(r.isError, `${name} ${tool}: ${text(r)}`).toBeFalsy();
        } finally {
          await client.close();
        }
      }
      expect(auditRecords(join(project, '.fleet', 'audit', 'slack.dev.jsonl')).length).toBeGreaterThan(0);
    },
    90_000,
  );

  it("the README's dev entry serves as you, from a subfolder", async () => {
    const e = readmeAdds(project).get('slack-dev-me')!;
    const client = await session(e, sub);
    try {
      const r = (await client.callTool({
        name: 'read_history',
        arguments: { channel: 'C0DEVGENERAL', limit: 1 },
      })) as CallToolResult;
      expect(r.isError, text(r)).toBeFalsy();
    } finally {
      await client.close();
    }
    const last = auditRecords(join(project, '.fleet', 'audit', 'slack.dev.jsonl')).at(-1)!;
    expect(last).toMatchObject({ actor: 'you@example.com', actor_via: 'env' });
  }, 60_000);

  it('production: refused without a proof Claude Code can give; the session proof of the README works', async () => {
    const e = readmeAdds(project).get('slack-prod')!;
    // against the sandbox instead of Slack itself, with the bot's token in the environment claude starts in
    const against = { ...e, args: [...e.args, '--upstream', sb.url] };
    const token = { SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', PROD_SCOPES), ...approvalsIdentity(sb) };
    const read = { name: 'read_history', arguments: { channel: 'C0EDITORIAL', limit: 1 } };

    // added with a client name only: nothing Claude Code sends proves anyone
    const bare = await session({ ...against, env: { FLEET_CLIENT: e.env!.FLEET_CLIENT! } }, sub, token);
    try {
      const r = (await bare.callTool(read)) as CallToolResult;
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/actor/);
    } finally {
      await bare.close();
    }
    // as the README says: the session names you and the message in which you asked
    const asked = sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0EDITOR1', 'please read me the latest');
    const proven = await session(
      { ...against, env: { ...e.env, FLEET_ACTOR: 'U0EDITOR1', FLEET_THREAD: asked } },
      sub,
      token,
    );
    try {
      const r = (await proven.callTool(read)) as CallToolResult;
      expect(r.isError, text(r)).toBeFalsy();
    } finally {
      await proven.close();
    }
    const last = auditRecords(join(project, '.fleet', 'audit', 'slack.prod.jsonl')).at(-1)!;
    expect(last).toMatchObject({ actor: 'U0EDITOR1', actor_proof: { kind: 'slack-message', verified: true } });
  }, 60_000);

  const claude = spawnSync('claude', ['--version'], { encoding: 'utf8' });
  it.skipIf(claude.status !== 0)(
    'claude mcp list: approved per folder, Connected from the root and a subfolder',
    () => {
      const home = tempDir('fleet-claude-home-');
      const env = { PATH: process.env.PATH ?? '', HOME: home };
      const list = (cwd: string) =>
        execFileSync('claude', ['mcp', 'list'], { cwd, env, encoding: 'utf8', timeout: 120_000 });
      // not yet approved in this folder
      expect(list(project)).toMatch(/slack-dev: .*Pending approval/);
      // the developer approves the project's servers in the root (what accepting the prompt writes)
      mkdirSync(join(project, '.claude'), { recursive: true });
      writeFileSync(
        join(project, '.claude', 'settings.local.json'),
        JSON.stringify({ enabledMcpjsonServers: Object.keys(mcp) }),
      );
      const root = list(project);
      for (const name of Object.keys(mcp)) expect(root).toMatch(new RegExp(`${name}: .*✔ Connected`));
      // the README's dev entry, added from the root, with no collision and no approval needed
      const dev = readmeAdds(project).get('slack-dev-me')!;
      execFileSync(
        'claude',
        ['mcp', 'add', 'slack-dev-me', '-e', 'FLEET_ACTOR=you@example.com', '--', dev.command, ...dev.args],
        { cwd: project, env, encoding: 'utf8' },
      );
      const after = list(project);
      expect(after).not.toContain('Conflicting scopes');
      expect(after).toMatch(/slack-dev-me: .*✔ Connected/);
      // a subfolder: the added entry works there; the project's servers wait for that folder's approval
      const below = list(sub);
      expect(below).toMatch(/slack-dev-me: .*✔ Connected/);
      expect(below).toMatch(/slack-dev: .*Pending approval/);
    },
    300_000,
  );
});
