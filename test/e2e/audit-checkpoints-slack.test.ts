// Signed checkpoints in the approvals channel, end to end against the Slack sandbox: each checkpoint
// is posted by the approvals identity (not the instance's bot), off the call path, and `fleet audit
// verify --checkpoints slack` reads them back through a read-only credential and catches a cut
// tail that the chain alone cannot. A Slack that never answers delays no call; what it lost is
// counted on stderr and in the trail.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpoints } from '../../shared/audit/checkpoint.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, runCli, SCOPES, serve, tempDir, text, waitFor } from '../helpers.js';

const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
const APPROVALS_SCOPES = ['chat:write', 'channels:history', 'users:read'];
const notesIn = (sb: SlackSandbox) =>
  sb
    .workspace('T0BLOGPROD')
    .channels.find((c) => c.id === 'C0APPROVALS')!
    .messages.filter((m) => m.text.startsWith('fleet-audit/'));
const lines = (t: string) => t.split('\n').filter(Boolean);

let sb: SlackSandbox;
let scopes: string;
let keyFile: string;
let publicKey: { name: string; public: string };
let trail: string;
let pristine: string;

function vars(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES),
    SLACK_APPROVALS_TOKEN: sb.issue('T0BLOGPROD', APPROVALS_SCOPES, undefined, 'U0APPROVALS'),
    FLEET_APPROVALS_SLACK_URL: sb.url,
    FLEET_CHECKPOINT_KEY: keyFile,
    FLEET_ACTOR: 'U0DEVALICE',
    ...extra,
  };
}
const verify = (file: string, env: Record<string, string>, ...extra: string[]) =>
  runCli(['audit', 'verify', file, '--scopes', scopes, ...extra], {
    env: { FLEET_APPROVALS_SLACK_URL: sb.url, ...env },
  });
const reader = (scopesHeld = ['channels:history']) => ({
  SLACK_AUDIT_READER_TOKEN: sb.issue('T0BLOGPROD', scopesHeld),
});

beforeAll(async () => {
  sb = await startSlackSandbox();
  scopes = join(tempDir('fleet-cps-'), 'scopes');
  cpSync(SCOPES, scopes, { recursive: true });
  keyFile = join(tempDir('fleet-key-'), 'checkpoint.pem');
  const kg = await runCli(['audit', 'keygen', keyFile, '--name', 'fleet-test']);
  expect(kg.code, kg.stdout + kg.stderr).toBe(0);
  const block = kg.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .replace('every: 1000', 'every: 3');
  publicKey = { name: 'fleet-test', public: /public: (\S+) \}/.exec(block)![1]! };
  writeFileSync(
    join(scopes, 'fleet.yaml'),
    `${readFileSync(join(scopes, 'fleet.yaml'), 'utf8').replace(/\ncheckpoints:[\s\S]*$/, '\n')}\n${block}\n  slack: { reader: env:SLACK_AUDIT_READER_TOKEN }\n`,
  );
  const s = await serve({ connector: 'slack', env: 'dev', upstream: sb.url, scopes, vars: vars() });
  trail = s.auditFile;
  for (let i = 0; i < 4; i++) expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
  await s.close();
  // 4 calls × (intent + outcome) = 8 records: checkpoints at 3, 6 and (at shutdown) 8
  pristine = await waitFor(() => {
    const t = readFileSync(trail, 'utf8');
    return notesIn(sb).some((m) => m.text.startsWith(`fleet-audit/slack.dev\n${lines(t).length}\n`)) ? t : undefined;
  }, 30_000);
}, 90_000);

afterAll(async () => {
  await sb?.close();
});

describe('checkpoints in the approvals channel', () => {
  it('are posted by the approvals identity, as the exact signed notes, every 3 records and at shutdown', () => {
    const posted = notesIn(sb);
    expect(posted.map((m) => Number(m.text.split('\n')[1]))).toEqual([3, 6, 8]);
    for (const m of posted) {
      // the approvals identity's app, never the instance's own bot (which could edit or delete its own posts)
      expect(m).toMatchObject({ user: 'U0APPROVALS', bot_id: 'B0APPROVALSBOT' });
      const [note] = parseCheckpoints(m.text, [publicKey]);
      expect(note).toMatchObject({ instance: 'slack.dev', signed: true });
      expect(note!.problem).toBeUndefined();
    }
    const heads = lines(pristine).map((l) => JSON.parse(l));
    expect(posted.at(-1)!.text).toContain(`\n${heads.at(-1).hash}\n`);
  });

  it('verify --checkpoints slack: the intact trail reaches them; a cut tail fails that the chain alone passes', async () => {
    const ok = await verify(trail, reader(), '--checkpoints', 'slack');
    expect(ok.stdout).toContain('chain intact, 8 records of slack.dev');
    expect(ok.stdout).toContain('3 checkpoint(s) matched, the newest at record 8');
    expect(ok.code).toBe(0);
    const cut = join(tempDir('fleet-cut-'), 'slack.dev.jsonl');
    writeFileSync(cut, `${lines(pristine).slice(0, 6).join('\n')}\n`);
    const alone = await verify(cut, {});
    expect(alone.code, alone.stdout).toBe(0);
    const caught = await verify(cut, reader(), '--checkpoints', 'slack');
    expect(caught.stdout).toMatch(/TAMPERED \(truncated\)/);
    expect(caught.stdout).toContain('record 8');
    expect(caught.code).toBe(1);
  });

  it('reads only with a read-only credential, and a missing reader cannot be checked (exit 2)', async () => {
    const writer = await verify(trail, reader(['channels:history', 'chat:write']), '--checkpoints', 'slack');
    expect(writer.stdout).toContain('holds chat:write: verify reads checkpoints with a read-only token');
    expect(writer.code).toBe(2);
    const none = await verify(trail, {}, '--checkpoints', 'slack');
    expect(none.stdout).toContain('SLACK_AUDIT_READER_TOKEN');
    expect(none.code).toBe(2);
  });

  it('a checkpoint message edited after it was posted is tampering (exit 1)', async () => {
    const sb2 = await startSlackSandbox();
    try {
      // the same messages in a second workspace copy, the newest one edited by the approvals identity
      const src = sb.workspace('T0BLOGPROD').channels.find((c) => c.id === 'C0APPROVALS')!;
      const dst = sb2.workspace('T0BLOGPROD').channels.find((c) => c.id === 'C0APPROVALS')!;
      dst.messages.push(...src.messages.map((m) => ({ ...m })));
      const last = notesIn(sb2).at(-1)!;
      const approvals = sb2.issue('T0BLOGPROD', APPROVALS_SCOPES, undefined, 'U0APPROVALS');
      const res = await fetch(`${sb2.url}chat.update`, {
        method: 'POST',
        headers: { authorization: `Bearer ${approvals}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ channel: 'C0APPROVALS', ts: last.ts, text: last.text }),
      });
      expect(await res.json()).toMatchObject({ ok: true });
      const r = await runCli(['audit', 'verify', trail, '--scopes', scopes, '--checkpoints', 'slack'], {
        env: {
          FLEET_APPROVALS_SLACK_URL: sb2.url,
          SLACK_AUDIT_READER_TOKEN: sb2.issue('T0BLOGPROD', ['channels:history']),
        },
      });
      expect(r.stdout).toContain(
        `slack:C0APPROVALS/${last.ts}: the checkpoint message was edited by U0APPROVALS after it was posted`,
      );
      expect(r.code).toBe(1);
    } finally {
      await sb2.close();
    }
  });

  it('a Slack that never answers delays no call; the checkpoints it lost are counted on stderr and in the trail', async () => {
    const seen: IncomingMessage[] = [];
    const hung: Server = createServer((req) => void seen.push(req)); // takes each request, never answers
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/api/`;
      const s = await serve({
        connector: 'slack',
        env: 'dev',
        upstream: sb.url,
        scopes,
        vars: vars({ FLEET_APPROVALS_SLACK_URL: url }),
      });
      for (let i = 0; i < 2; i++)
        expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      // the first checkpoint's post is stuck in the hung Slack: calls go on regardless
      await waitFor(() => seen.length || undefined);
      for (let i = 0; i < 3; i++)
        expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      // ... and they were answered while that post was still unanswered (a call that waited for it
      // would have waited out the client's timeout, which ends the request)
      expect(seen[0]!.socket.destroyed).toBe(false);
      await s.close();
      const rec = await waitFor(() => auditRecords(s.auditFile).find((r) => r.phase === 'checkpoints'), 30_000);
      expect(rec).toMatchObject({ to: 'slack', posted: 0 });
      expect(rec.failed + rec.dropped).toBeGreaterThanOrEqual(2);
      expect(s.stderr()).toMatch(/never reached the approvals channel/);
    } finally {
      hung.closeAllConnections();
      hung.close();
    }
  }, 60_000);

  it('notes count only from the approvals identity (checkpoints.slack.poster) and each only for its own instance', async () => {
    // a member's junk and a member's forged note for slack.dev, and the approvals identity's note of another instance
    sb.say('T0BLOGPROD', 'C0APPROVALS', 'U0EDITOR1', 'fleet-audit/slack.dev\n99\nnot a checkpoint');
    sb.say(
      'T0BLOGPROD',
      'C0APPROVALS',
      'U0EDITOR1',
      `fleet-audit/slack.dev\n8\n${'f'.repeat(64)}\n2026-12-01T00:00:00.000Z\n\n\u2014 fleet-test AAAA\n`,
    );
    sb.say('T0BLOGPROD', 'C0APPROVALS', 'U0APPROVALS', 'fleet-audit/doppler.dev\n1\ngarbage');
    // without a poster every author counts, as before: the forged note condemns the trail
    const open = await verify(trail, reader(), '--checkpoints', 'slack');
    expect(open.stdout).toMatch(/TAMPERED \(checkpoints\)/);
    const fleet = join(scopes, 'fleet.yaml');
    const before = readFileSync(fleet, 'utf8');
    writeFileSync(
      fleet,
      before.replace(
        '  slack: { reader: env:SLACK_AUDIT_READER_TOKEN }',
        '  slack: { reader: env:SLACK_AUDIT_READER_TOKEN, poster: U0APPROVALS }',
      ),
    );
    try {
      const ok = await verify(trail, reader(), '--checkpoints', 'slack');
      expect(ok.stdout).toContain('chain intact, 8 records of slack.dev');
      expect(ok.stdout).toContain('3 checkpoint(s) matched');
      expect(ok.code, ok.stdout).toBe(0);
    } finally {
      writeFileSync(fleet, before);
    }
  });
});
