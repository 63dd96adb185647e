// `fleet review` on a trail with a known mix of calls, made through the real CLI against the Slack
// sandbox: exact counts, last uses and unused grants; `--propose` writes manifests that pass
// `fleet verify`, that `fleet diff` classes as reductions only, and under which every call the
// window allowed would still be allowed.
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { readCalls } from '../../shared/audit/read.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { replay } from '../../shared/review/narrow.js';
import { reviewInstance } from '../../shared/review/evidence.js';
import { auditRecords as auditRecordsOf, runCli, SCOPES, serve, tempDir, text, type Served } from '../helpers.js';

const ALICE = { 'fleet/actor': 'U0DEVALICE' };
const BOB = { 'fleet/actor': 'U0DEVBOB' };

describe('fleet review from a trail with a known mix of calls', () => {
  let s: Served;
  let scopes: string;
  beforeAll(async () => {
    scopes = tempDir('fleet-review-scopes-');
    cpSync(SCOPES, scopes, { recursive: true });
    s = await serve({ connector: 'slack', env: 'dev', sandbox: true, scopes });
    const ok = async (p: Promise<{ isError?: boolean }>) => expect((await p).isError).toBeFalsy();
    await ok(s.call('read_history', { channel: 'C0DEVGENERAL' }, ALICE));
    await ok(s.call('read_history', { channel: 'C0DEVGENERAL' }, BOB));
    await ok(s.call('read_history', { channel: 'C0DEVBOTTEST' }, ALICE));
    await ok(s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'hello' }, BOB));
    await ok(s.call('get_user', { user: 'U0DEVBOB' }, ALICE));
    // denials: a channel outside post_message.channels, and a tool never granted
    expect((await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'no' }, ALICE)).isError).toBe(true);
    expect((await s.call('kick_user', {}, ALICE)).isError).toBe(true);
  }, 60_000);
  afterAll(() => s?.close());

  it('counts allowed calls, denials, last uses and who, per tool and per resource', async () => {
    const r = await runCli(['review', 'slack.dev', '--scopes', scopes, '--audit-dir', s.auditDir, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const [rev] = JSON.parse(r.stdout).instances;
    expect(rev.calls).toEqual({ allowed: 5, denied: 2, other: 0 });
    const tool = (n: string) => rev.tools.find((t: { tool: string }) => t.tool === n);
    expect(tool('read_history')).toMatchObject({
      allowed: 3,
      denied: 0,
      by: [
        { who: 'U0DEVALICE', calls: 2 },
        { who: 'U0DEVBOB', calls: 1 },
      ],
    });
    expect(tool('read_history').last.by).toBe('U0DEVALICE');
    expect(tool('post_message')).toMatchObject({ allowed: 1, denied: 1, last: { by: 'U0DEVBOB' } });
    expect(tool('get_user')).toMatchObject({ allowed: 1, denied: 0, last: { by: 'U0DEVALICE' } });
    expect(rev.unused).toEqual([
      'list_channels',
      'read_thread',
      'reply_in_thread',
      'update_message',
      'delete_message',
      'add_reaction',
      'list_users',
      'search_messages',
      'get_permalink',
    ]);
    const res = (t: string, v: string) =>
      rev.resources.find((x: { tool: string; value: string }) => x.tool === t && x.value === v);
    expect(res('read_history', 'C0DEVGENERAL')).toMatchObject({ allowed: 2, last: { by: 'U0DEVBOB' } });
    expect(res('read_history', 'C0DEVBOTTEST')).toMatchObject({ allowed: 1, last: { by: 'U0DEVALICE' } });
    expect(res('read_history', 'C0DEVSCRATCH')).toMatchObject({ allowed: 0 });
    expect(res('post_message', 'C0DEVBOTTEST')).toMatchObject({ allowed: 1 });
    expect(rev.untouched).toContainEqual({ tool: 'read_history', key: 'channels', value: 'C0DEVSCRATCH' });
    expect(rev.untouched).toContainEqual({ tool: 'post_message', key: 'channels', value: 'C0DEVSCRATCH' });
    expect(rev.refusedWants).toEqual([
      { tool: 'post_message', what: 'channel C0DEVGENERAL', calls: 1 },
      { tool: 'kick_user', what: 'the tool (not granted)', calls: 1 },
    ]);

    const text = await runCli(['review', 'slack.dev', '--scopes', scopes, '--audit-dir', s.auditDir]);
    expect(text.stdout).toMatch(/read_history\s+read\s+3 allowed\s+0 denied\s+last .* by U0DEVALICE/);
    expect(text.stdout).toContain('unused grants: list_channels, read_thread');
    const md = await runCli([
      'review',
      'slack.dev',
      '--scopes',
      scopes,
      '--audit-dir',
      s.auditDir,
      '--format',
      'markdown',
    ]);
    expect(md.stdout).toContain('| `read_history` | read | 3 | 0 |');
  });

  it('counts only calls inside the window; refuses an unknown instance or a window under a day', async () => {
    const m = loadManifest(join(scopes, 'slack.dev.yaml'), CONNECTORS);
    const rows = readCalls(readFileSync(s.auditFile, 'utf8'));
    const DAY = 86_400_000;
    expect(reviewInstance(m, CONNECTORS.slack!, rows, { now: Date.now(), days: 1 }).calls.allowed).toBe(5);
    const later = reviewInstance(m, CONNECTORS.slack!, rows, { now: Date.now() + 2 * DAY, days: 1 });
    expect(later.calls).toEqual({ allowed: 0, denied: 0, other: 0 });
    expect(later.unused).toHaveLength(12);
    const short = await runCli(['review', '--scopes', scopes, '--audit-dir', s.auditDir, '--window', '2h']);
    expect(short.stderr).toContain('--window takes a duration of at least a day');
    const bad = await runCli(['review', 'slack.nope', '--scopes', scopes, '--audit-dir', s.auditDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('no manifest for instance "slack.nope"');
  });

  it('--propose writes narrowed manifests that verify, diff as reductions only, and still allow every call', async () => {
    const out = join(tempDir('fleet-proposal-'), 'proposal');
    const r = await runCli(['review', 'slack.dev', '--scopes', scopes, '--audit-dir', s.auditDir, '--propose', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('replay: 5 call(s) allowed in the window, all still allowed');
    expect(r.stdout).toContain('read_history.channels: drop C0DEVSCRATCH');
    // the scopes folder itself is untouched
    expect(readFileSync(join(scopes, 'slack.dev.yaml'), 'utf8')).toBe(
      readFileSync(join(SCOPES, 'slack.dev.yaml'), 'utf8'),
    );

    const proposed = loadManifest(join(out, 'slack.dev.yaml'), CONNECTORS);
    expect(Object.keys(proposed.tools).sort()).toEqual(['get_user', 'post_message', 'read_history']);
    expect(proposed.tools.read_history!.channels).toEqual(['C0DEVGENERAL', 'C0DEVBOTTEST']);
    expect(proposed.tools.post_message).toMatchObject({
      channels: ['C0DEVBOTTEST'],
      mentions: false,
      max_length: 4000,
      rate: '120/hour',
    });
    expect(proposed.upstream.token_scopes).toEqual(['channels:history', 'chat:write', 'users:read']);

    const verify = await runCli(['verify', '--scopes', out, '--no-docs']);
    expect(verify.code, verify.stdout).toBe(0);
    const diff = await runCli(['diff', scopes, out, '--format', 'json']);
    const changes = JSON.parse(diff.stdout).changes as { class: string; file: string; what: string }[];
    expect(changes.filter((c) => c.class === 'escalation')).toEqual([]);
    expect(changes.filter((c) => c.class === 'reduction').length).toBeGreaterThanOrEqual(12);
    // neutral entries are only the surface snapshot noting tools no longer listed
    expect(
      changes
        .filter((c) => c.class === 'neutral')
        .every((c) => c.file.includes('surface') && c.what.includes('no longer listed')),
    ).toBe(true);

    // replay every allowed call of the trail through the proposed policy
    const rows = readCalls(readFileSync(s.auditFile, 'utf8'));
    const rp = replay(rows, proposed, CONNECTORS.slack!);
    expect(rp).toEqual({ checked: 5, underException: 0, refused: [] });
    // and the check can fail: the original dev manifest minus read_history would refuse 3 of them
    const narrower = { ...proposed, tools: { ...proposed.tools, read_history: undefined } } as never;
    expect(replay(rows, narrower, CONNECTORS.slack!).refused.map((x) => x.tool)).toEqual([
      'read_history',
      'read_history',
      'read_history',
    ]);
  });
});

describe('fleet review: approvals asked and given, and the credential age the upstream reports', () => {
  it('counts approvals by outcome and approver (dev elicitation: one yes, one no)', async () => {
    let answers = ['accept', 'decline'];
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      onElicit: () => ({ action: 'accept', content: { approve: answers.shift() === 'accept' } }),
    });
    try {
      const post = async () =>
        (
          (await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'to delete' }, ALICE)).structuredContent as {
            ts: string;
          }
        ).ts;
      const [one, two] = [await post(), await post()];
      expect((await s.call('delete_message', { channel: 'C0DEVBOTTEST', ts: one }, ALICE)).isError).toBeFalsy();
      const no = await s.call('delete_message', { channel: 'C0DEVBOTTEST', ts: two }, ALICE);
      expect(no.isError).toBe(true);
      expect(text(no)).toMatch(/declin/);
      const r = await runCli(['review', 'slack.dev', '--audit-dir', s.auditDir, '--format', 'json']);
      const [rev] = JSON.parse(r.stdout).instances;
      expect(rev.approvals).toEqual([
        {
          tool: 'delete_message',
          asked: 2,
          approved: 1,
          declined: 1,
          expired: 0,
          approvers: [expect.objectContaining({ calls: 1 })],
        },
      ]);
      expect(rev.tools.find((t: { tool: string }) => t.tool === 'delete_message')).toMatchObject({ allowed: 1 });
    } finally {
      await s.close();
    }
    answers = [];
  });

  it('reads the credential age from what the upstream reported when the instance opened it', async () => {
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      sandbox: true,
      vars: { FLEET_ACTOR: 'dev@example.com' },
    });
    try {
      expect((await s.call('list_workers')).isError).toBeFalsy();
      const intent = auditRecordsOf(s.auditFile).find((x) => x.phase === 'intent');
      expect(intent?.executor.issued).toBe('2026-01-01T00:00:00Z');
      const r = await runCli(['review', 'cloudflare.dev', '--audit-dir', s.auditDir, '--format', 'json']);
      const [rev] = JSON.parse(r.stdout).instances;
      expect(rev.credential).toEqual({
        ref: 'env:CLOUDFLARE_API_TOKEN_DEV',
        issued: '2026-01-01T00:00:00Z',
        source: 'reported by cloudflare when the instance opened it',
        age_days: Math.floor((Date.now() - Date.parse('2026-01-01T00:00:00Z')) / 86_400_000),
      });
      const txt = await runCli(['review', 'cloudflare.dev', '--audit-dir', s.auditDir]);
      expect(txt.stdout).toMatch(
        /credential env:CLOUDFLARE_API_TOKEN_DEV: \d+ days old \(issued 2026-01-01T00:00:00Z, reported by cloudflare/,
      );
    } finally {
      await s.close();
    }
  });
});
