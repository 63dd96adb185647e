// `fleet demo` (what `npm start` runs): starts the Slack dev instance on its sandbox as a child
// process, talks to it over stdio with the MCP SDK client exactly as Claude Code would, and walks
// a short session. Then prints the audit trail and verifies its chain.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { auditShow, auditVerify } from './audit.js';
import { VERSION } from '../version.js';

const say = (s = '') => console.log(s);
const first = (r: CallToolResult) => (r.content[0]?.type === 'text' ? r.content[0].text : '');
const indent = (s: string) => s.split('\n').map((l) => `    ${l}`).join('\n');

export async function demo(opts: { scopes: string; cli: string }): Promise<number> {
  const auditDir = mkdtempSync(join(tmpdir(), 'fleet-demo-'));
  try {
    return await session(opts, auditDir);
  } finally {
    rmSync(auditDir, { recursive: true, force: true });
  }
}

async function session(opts: { scopes: string; cli: string }, auditDir: string): Promise<number> {
  const env = { ...process.env, FLEET_AUDIT_DIR: auditDir, FLEET_STATE_DIR: join(auditDir, 'state'), FLEET_ACTOR: 'alice@example.com' } as Record<string, string>;
  const args = [opts.cli, 'serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', opts.scopes];
  say(`fleet demo — the Slack dev instance on its sandbox workspace, driven like Claude Code drives it`);
  say(`  server: fleet ${args.slice(1).join(' ')}`);
  say(`  actor:  FLEET_ACTOR=${env.FLEET_ACTOR}; audit: ${auditDir} (removed when the demo ends)`);
  say();

  const client = new Client({ name: 'fleet-demo', version: VERSION }, { capabilities: { elicitation: {} } });
  // Claude Code would show this question to its user; the demo plays the user and says yes.
  client.setRequestHandler(ElicitRequestSchema, (req) => {
    say('   the server asks the user (MCP elicitation):');
    say(indent(indent(req.params.message)));
    say('   the user answers: approve');
    return { action: 'accept', content: { approve: true } };
  });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'inherit' }));
  try {
    const { tools } = await client.listTools();
    say(`1. tools/list: ${tools.length} tools granted by scopes/slack.dev.yaml`);
    say(indent(tools.map((t) => `${t.name.padEnd(16)} ${t.annotations?.readOnlyHint ? 'read ' : t.annotations?.destructiveHint ? 'destr' : 'write'}  ${t.description}`).join('\n')));

    const step = async (n: number, title: string, name: string, a: Record<string, unknown>, meta?: Record<string, string>) => {
      say();
      say(`${n}. ${title}`);
      say(`   ${name} ${JSON.stringify(a)}${meta ? ` _meta ${JSON.stringify(meta)}` : ''}`);
      const r = (await client.callTool({ name, arguments: a, ...(meta ? { _meta: meta } : {}) })) as CallToolResult;
      const status = (r.structuredContent as { status?: string } | undefined)?.status;
      say(`   ${r.isError ? '✗ refused' : '✓ ok'}${status ? ` (status: ${status})` : ''}`);
      say(indent(first(r)));
      return r;
    };

    await step(2, 'Which channels may the agent use? (the private #hiring channel is filtered out)', 'list_channels', {});
    await step(3, 'A read', 'read_history', { channel: 'C0DEVGENERAL', limit: 3 });
    const posted = await step(4, 'An allowed post, on behalf of a person in a thread', 'post_message',
      { channel: 'C0DEVBOTTEST', text: 'Draft 42 preview is ready.' }, { 'fleet/actor': 'U0DEVALICE', 'fleet/thread': 'C0DEVBOTTEST/1767225900.000105' });
    await step(5, 'A post to a channel outside the grant', 'post_message', { channel: 'C0DEVGENERAL', text: 'Hello everyone' });
    await step(6, 'A broadcast mention', 'post_message', { channel: 'C0DEVBOTTEST', text: '<!channel> deploy finished' });
    await step(7, "Editing a message someone else posted", 'update_message', { channel: 'C0DEVBOTTEST', ts: '1767225960.000106', text: 'edited' });
    await step(8, 'A channel name where an ID belongs', 'read_history', { channel: '#general' });
    const sc = posted.structuredContent as { ts?: string } | undefined;
    if (sc?.ts) await step(9, "Deleting the bot's own message: the grant asks a human first", 'delete_message', { channel: 'C0DEVBOTTEST', ts: sc.ts });
    await step(10, 'A retry of the same post with the same idempotency key: replayed, not posted twice', 'post_message',
      { channel: 'C0DEVBOTTEST', text: 'Build 118 is green.' }, { 'fleet/idempotency-key': 'build-118-green' });
    await step(11, '... and again, as a workflow retrying its step would', 'post_message',
      { channel: 'C0DEVBOTTEST', text: 'Build 118 is green.' }, { 'fleet/idempotency-key': 'build-118-green' });
  } finally {
    await client.close();
  }

  const file = join(auditDir, 'slack.dev.jsonl');
  say();
  say(`12. The audit trail (fleet audit show ${file})`);
  auditShow(file, {}, (s) => say(indent(s)));
  say();
  say(`13. Its hash chain (fleet audit verify ${file})`);
  const code = await auditVerify(file, {}, (s) => say(`    ${s}`));
  say();
  say('Next: `npm test`, or add the dev instances to Claude Code with the .mcp.json in this repository.');
  return code;
}
