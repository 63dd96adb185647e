// `fleet demo` (what `npm start` runs): starts the Slack dev instance on its sandbox as a child
// process, talks to it over stdio with the MCP SDK client exactly as Claude Code would, and walks
// a short session. Then prints the audit trail and verifies its chain against its signed
// checkpoints. The demo works on a copy of the scopes folder in its temporary folder, with a
// checkpoint key pair of its own made there (fleet audit keygen --scopes): the repository's key is
// the project's, whose private half is not in it.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { META } from '../../../shared/base/wire.js';
import type { AuditCommands } from '../audit-commands.js';
import { VERSION } from '../version.js';

const say = (s = '') => console.log(s);
const first = (r: CallToolResult) => (r.content[0]?.type === 'text' ? r.content[0].text : '');
const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** Where the demo keeps everything: the trails, a copy of the scopes, its own checkpoint key and notes. */
interface Place {
  auditDir: string;
  scopes: string;
  /** FLEET_CHECKPOINT_KEY and FLEET_CHECKPOINT_FILE, both outside the trails' folder */
  checkpoints: { FLEET_CHECKPOINT_KEY: string; FLEET_CHECKPOINT_FILE: string };
  /** the audit commands the tour runs */
  audit: AuditCommands;
}

export async function demo(
  opts: { scopes: string; cli: string; report?: string },
  audit: AuditCommands,
): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'fleet-demo-'));
  try {
    const auditDir = join(root, 'audit');
    const scopes = join(root, 'scopes');
    mkdirSync(auditDir);
    mkdirSync(join(root, 'keys'), { mode: 0o700 });
    cpSync(opts.scopes, scopes, { recursive: true });
    const key = join(root, 'keys', 'checkpoint.pem');
    if (audit.auditKeygen(key, 'fleet-demo', () => {}, scopes) !== 0)
      throw new Error(`the demo could not make its checkpoint key in ${root}`);
    // the demo's checkpoints also go to (and are read back from) the sandbox's approvals channel
    const fleetFile = join(scopes, 'fleet.yaml');
    const fleet = readFileSync(fleetFile, 'utf8');
    if (!/\n {2}slack:/.test(fleet.slice(fleet.indexOf('\ncheckpoints:'))))
      writeFileSync(fleetFile, `${fleet.trimEnd()}\n  slack: { reader: env:SLACK_AUDIT_READER_TOKEN }\n`);
    return await session(opts, {
      auditDir,
      scopes,
      checkpoints: { FLEET_CHECKPOINT_KEY: key, FLEET_CHECKPOINT_FILE: join(root, 'checkpoints.txt') },
      audit,
    });
  } finally {
    if (!process.env.KEEPDEMO) rmSync(root, { recursive: true, force: true });
  }
}

async function session(opts: { scopes: string; cli: string; report?: string }, place: Place): Promise<number> {
  const { auditShow, auditVerify } = place.audit;
  const { auditDir } = place;
  const env = {
    ...process.env,
    ...place.checkpoints,
    FLEET_AUDIT_DIR: auditDir,
    FLEET_STATE_DIR: join(auditDir, 'state'),
    FLEET_ACTOR: 'alice@example.com',
  } as Record<string, string>;
  const args = [opts.cli, 'serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', place.scopes];
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
    say(
      indent(
        tools
          .map(
            (t) =>
              `${t.name.padEnd(16)} ${t.annotations?.readOnlyHint ? 'read ' : t.annotations?.destructiveHint ? 'destr' : 'write'}  ${t.description}`,
          )
          .join('\n'),
      ),
    );

    const step = async (
      n: number,
      title: string,
      name: string,
      a: Record<string, unknown>,
      meta?: Record<string, string>,
    ) => {
      say();
      say(`${n}. ${title}`);
      say(`   ${name} ${JSON.stringify(a)}${meta ? ` _meta ${JSON.stringify(meta)}` : ''}`);
      const r = (await client.callTool({ name, arguments: a, ...(meta ? { _meta: meta } : {}) })) as CallToolResult;
      const status = (r.structuredContent as { status?: string } | undefined)?.status;
      say(`   ${r.isError ? '✗ refused' : '✓ ok'}${status ? ` (status: ${status})` : ''}`);
      say(indent(first(r)));
      return r;
    };

    await step(
      2,
      'Which channels may the agent use? (the private #hiring channel is filtered out)',
      'list_channels',
      {},
    );
    await step(3, 'A read', 'read_history', { channel: 'C0DEVGENERAL', limit: 3 });
    const posted = await step(
      4,
      'An allowed post, on behalf of a person in a thread',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: 'Draft 42 preview is ready.' },
      { [META.actor]: 'U0DEVALICE', [META.thread]: 'C0DEVBOTTEST/1767225900.000105' },
    );
    await step(5, 'A post to a channel outside the grant', 'post_message', {
      channel: 'C0DEVGENERAL',
      text: 'Hello everyone',
    });
    await step(6, 'A broadcast mention', 'post_message', {
      channel: 'C0DEVBOTTEST',
      text: '<!channel> deploy finished',
    });
    await step(7, 'Editing a message someone else posted', 'update_message', {
      channel: 'C0DEVBOTTEST',
      ts: '1767225960.000106',
      text: 'edited',
    });
    await step(8, 'A channel name where an ID belongs', 'read_history', { channel: '#general' });
    const sc = posted.structuredContent as { ts?: string } | undefined;
    if (sc?.ts)
      await step(9, "Deleting the bot's own message: the grant asks a human first", 'delete_message', {
        channel: 'C0DEVBOTTEST',
        ts: sc.ts,
      });
    await step(
      10,
      'A retry of the same post with the same idempotency key: replayed, not posted twice',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: 'Build 118 is green.' },
      { [META.idempotencyKey]: 'build-118-green' },
    );
    await step(
      11,
      '... and again, as a workflow retrying its step would',
      'post_message',
      { channel: 'C0DEVBOTTEST', text: 'Build 118 is green.' },
      { [META.idempotencyKey]: 'build-118-green' },
    );
  } finally {
    await client.close();
  }

  const file = join(auditDir, 'slack.dev.jsonl');
  say();
  say(`12. The audit trail (fleet audit show ${file})`);
  await auditShow(file, {}, (s) => say(indent(s)));
  say();
  say(
    `13. Its hash chain, against the signed checkpoints the instance wrote (fleet audit verify ${file} --checkpoints ${place.checkpoints.FLEET_CHECKPOINT_FILE})`,
  );
  const code = await auditVerify(
    file,
    { checkpoints: place.checkpoints.FLEET_CHECKPOINT_FILE, scopes: place.scopes },
    (s) => say(`    ${s}`),
  );
  const prodCode = await production(opts, place);
  if (opts.report && place.audit.reportCmd) {
    say();
    say(`21. The reviewer's page of both trails (fleet review --format html --out ${opts.report})`);
    await place.audit.reportCmd(
      ['slack.dev', 'slack.prod'],
      {
        scopes: place.scopes,
        auditDir,
        window: '1d',
        out: opts.report,
        grants: true,
        checkpoints: [place.checkpoints.FLEET_CHECKPOINT_FILE],
        command: `fleet review slack.dev slack.prod --format html --out ${opts.report} --checkpoints ${place.checkpoints.FLEET_CHECKPOINT_FILE}`,
      },
      (s) => say(`    ${s}`),
    );
  }
  say();
  say('Next: `npm test`, or add the dev instances to Claude Code with the .mcp.json in this repository.');
  return code || prodCode;
}

/**
 * The production flow, on a Slack sandbox this process holds so it can play the people: an editor
 * asks in #editorial, the bot's call carries that message as its thread, the instance reads it back
 * (the actor's proof), another editor approves in #approvals, the edit runs, and the custody row
 * shows all of it; then the same call with a forged actor is refused.
 */
async function production(opts: { scopes: string; cli: string }, place: Place): Promise<number> {
  const { auditShow, auditVerify } = place.audit;
  const { auditDir } = place;
  const { startSlackSandbox } = await import('../../slack/sandbox/index.js');
  const { webClient } = await import('../../slack/client.js');
  const sb = await startSlackSandbox();
  const team = 'T0BLOGPROD';
  const env = {
    ...process.env,
    ...place.checkpoints,
    FLEET_AUDIT_DIR: auditDir,
    FLEET_STATE_DIR: join(auditDir, 'state-prod'),
    FLEET_CLIENT: 'blogbot-publish',
    FLEET_APPROVAL_POLL_MS: '100',
    SLACK_BOT_TOKEN_PROD: sb.issue(team, [
      'channels:read',
      'channels:history',
      'chat:write',
      'reactions:write',
      'users:read',
    ]),
    SLACK_APPROVALS_TOKEN: sb.issue(team, ['chat:write', 'channels:history', 'users:read'], undefined, 'U0APPROVALS'),
  } as Record<string, string>;
  delete env.FLEET_ACTOR;
  const args = [opts.cli, 'serve', 'slack', '--env', 'prod', '--upstream', sb.url, '--scopes', place.scopes];
  const channel = (id: string) => sb.workspace(team).channels.find((c) => c.id === id)!;
  const published = channel('C0EDITORIAL').messages.find((m) => m.user === 'U0PRODBOT')!;
  say();
  say('Production: the blog bot (client blogbot-publish) acts for an editor who asked in Slack');
  say(`  server: fleet ${args.slice(1).join(' ')}  (a Slack sandbox in this process plays the people)`);
  const client = new Client({ name: 'blogbot', version: VERSION });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'inherit' }));
  const call = async (a: Record<string, unknown>, meta: Record<string, string>) => {
    say(`   update_message ${JSON.stringify(a)} _meta ${JSON.stringify(meta)}`);
    const r = (await client.callTool({ name: 'update_message', arguments: a, _meta: meta }, undefined, {
      timeout: 60_000,
    })) as CallToolResult;
    const status = (r.structuredContent as { status?: string } | undefined)?.status;
    say(`   ${r.isError ? '✗ refused' : '✓ ok'}${status ? ` (status: ${status})` : ''}`);
    say(indent(first(r)));
    return r;
  };
  try {
    say();
    const thread = sb.say(team, 'C0EDITORIAL', 'U0EDITOR1', `@blogbot please fix the title of ${published.ts}`);
    say(`14. Erin (U0EDITOR1) asks in #editorial: message ${thread}`);
    say(
      '    The bot calls with that message as its thread; the instance reads it back: it exists, Erin wrote it, she is a human member, it is fresh.',
    );
    const edit = { channel: 'C0EDITORIAL', ts: published.ts, text: 'Published: "Release notes 4.2" (title fixed)' };
    const pending = call(edit, { [META.actor]: 'U0EDITOR1', [META.thread]: thread });
    const asked = await waitFor(() =>
      channel('C0APPROVALS').messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed')),
    );
    say();
    say('15. The approvals identity asks in #approvals (every argument in full, the call digest):');
    say(indent(indent(asked.text)));
    const sam = webClient(sb.issue(team, ['chat:write'], undefined, 'U0EDITOR2'), sb.url, 10_000);
    await webClient(sb.issue(team, ['chat:write'], undefined, 'U0EDITOR1'), sb.url, 10_000).chat.postMessage({
      channel: 'C0APPROVALS',
      thread_ts: asked.ts,
      text: 'approve',
    });
    say('    Erin replies "approve" to her own request: ignored (the requester cannot approve).');
    await sam.chat.postMessage({ channel: 'C0APPROVALS', thread_ts: asked.ts, text: 'approve' });
    say('    Sam (U0EDITOR2), a listed editor, replies "approve": the edit runs.');
    await pending;
    say();
    say("16. The same call with a forged actor: Sam claims to be the requester of Erin's message");
    await call(edit, { [META.actor]: 'U0EDITOR2', [META.thread]: thread });
    say();
    say('17. ... and with a look-alike actor (U0EDITOR1 with an invisible character)');
    await call(edit, { [META.actor]: 'U0EDITOR1\u200b', [META.thread]: thread });
  } catch (e) {
    await client.close();
    await sb.close();
    throw e;
  }
  await client.close();
  try {
    const file = join(auditDir, 'slack.prod.jsonl');
    say();
    say(`18. The chain of custody (fleet audit show ${file} --custody)`);
    await auditShow(file, { custody: true }, (s) => say(indent(s)));
    // the instance posted its checkpoints to #approvals as the approvals identity; they are read
    // back with a token that can only read
    const verifyEnv = {
      FLEET_APPROVALS_SLACK_URL: sb.url,
      SLACK_AUDIT_READER_TOKEN: sb.issue(team, ['channels:history']),
    };
    await waitFor(() => {
      const n = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
      return (
        channel('C0APPROVALS').messages.some((m) => m.text.startsWith(`fleet-audit/slack.prod\n${n}\n`)) || undefined
      );
    });
    say();
    say(
      `19. Its hash chain, against the signed checkpoints in #approvals (fleet audit verify ${file} --checkpoints slack)`,
    );
    const code = await auditVerify(file, { checkpoints: 'slack', scopes: place.scopes, env: verifyEnv }, (s) =>
      say(`    ${s}`),
    );
    const lines = readFileSync(file, 'utf8').split(/(?<=\n)/);
    const cut = join(auditDir, 'cut', 'slack.prod.jsonl');
    mkdirSync(join(auditDir, 'cut'));
    writeFileSync(cut, lines.slice(0, -2).join(''));
    say();
    say(`20. The same trail with its last 2 records cut off: the chain alone cannot tell, the checkpoints can`);
    await auditVerify(cut, {}, (s) => say(`    ${s}`));
    const caught = await auditVerify(cut, { checkpoints: 'slack', scopes: place.scopes, env: verifyEnv }, (s) =>
      say(`    ${s}`),
    );
    return code || (caught === 1 ? 0 : 1);
  } finally {
    await sb.close();
  }
}

async function waitFor<T>(fn: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('the demo timed out waiting for the approvals post');
    await new Promise((r) => setTimeout(r, 50));
  }
}
