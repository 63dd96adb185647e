// `fleet review --propose` on production: a proposal keeps what the call path itself needs (the
// slack-message proof reads the request back with the instance's own token: channels:history and
// users:read), replays every proven call with the proposed token scopes, and — applied — the same
// production calls still pass. A missing or unverifiable trail is said plainly and narrows nothing;
// a narrowing that would not load is never written.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { readCalls } from '../../shared/audit/read.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { replay } from '../../shared/review/narrow.js';
import { runCli, tempDir, text } from '../helpers.js';
import { PROD_SCOPES, serveSlackProd, slackScopes, workspace } from '../slack-prod.js';

describe('fleet review --propose on a production instance proven by slack-message', () => {
  let sb: SlackSandbox;
  let scopes: string;
  let auditDir: string;
  const out = join(tempDir('fleet-proposal-'), 'proposal');

  /** the prod calls the journey makes: each asked in #editorial, so each carries a slack-message proof */
  const calls = async (scopesDir: string, token: string[], audit = tempDir('fleet-audit-')) => {
    const s = await serveSlackProd(sb, {
      scopes: scopesDir,
      auditDir: audit,
      vars: { SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', token) },
    });
    try {
      const w = workspace(sb);
      const read = await s.call('read_history', { channel: 'C0EDITORIAL', limit: 2 }, w.asks('U0EDITOR1'));
      const post = await s.call('post_message', { channel: 'C0EDITORIAL', text: 'draft ready' }, w.asks('U0EDITOR2'));
      return { read, post, auditDir: audit, stderr: s.stderr() };
    } finally {
      await s.close();
    }
  };

  beforeAll(async () => {
    sb = await startSlackSandbox();
    scopes = slackScopes();
    const first = await calls(scopes, PROD_SCOPES);
    expect(first.read.isError, text(first.read)).toBeFalsy();
    expect(first.post.structuredContent, text(first.post)).toMatchObject({ status: 'completed' });
    auditDir = first.auditDir;
  }, 60_000);
  afterAll(() => sb?.close());

  it('keeps the permissions the proof needs, replays the proven calls, and the applied proposal still serves them', async () => {
    const r = await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', auditDir, '--propose', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('replay: 2 call(s) allowed in the window, all still allowed');
    expect(r.stdout).toContain('revoke get_user');
    const proposed = parse(readFileSync(join(out, 'slack.prod.yaml'), 'utf8'));
    // get_user (users:read) and add_reaction (reactions:write) went unused; the proof reads still need users:read
    expect(proposed.upstream.token_scopes).toEqual(['channels:history', 'chat:write', 'users:read']);
    const verify = await runCli(['verify', '--scopes', out, '--no-docs']);
    expect(verify.code, verify.stdout).toBe(0);

    // applied: the same production calls, with a token holding exactly the proposed scopes
    const again = await calls(out, proposed.upstream.token_scopes);
    expect(again.read.isError, text(again.read)).toBeFalsy();
    expect(again.post.structuredContent, text(again.post)).toMatchObject({ status: 'completed' });
  }, 60_000);

  it('replays each proof with the proposed token scopes: a proposal without users:read would refuse every proven call', () => {
    const rows = readCalls(readFileSync(join(auditDir, 'slack.prod.jsonl'), 'utf8'));
    const m = loadManifest(join(scopes, 'slack.prod.yaml'), CONNECTORS);
    const without = { ...m, upstream: { ...m.upstream, token_scopes: ['channels:history', 'chat:write'] } };
    const rp = replay(rows, without as never, CONNECTORS.slack!);
    expect(rp.refused.map((x) => x.why)).toEqual([
      'its slack-message proof of U0EDITOR1 would fail: the proposed token lacks users:read',
      'its slack-message proof of U0EDITOR2 would fail: the proposed token lacks users:read',
    ]);
  });

  it('says plainly when there is no trail, and narrows nothing', async () => {
    const empty = tempDir('fleet-no-audit-');
    const review = await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', empty]);
    expect(review.stderr).toMatch(
      /warning: .*slack\.prod\.jsonl: there is no audit trail there: .*not evidence that it made none/,
    );
    const json = JSON.parse(
      (await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', empty, '--format', 'json'])).stdout,
    );
    expect(json.instances[0].trail).toMatchObject({ status: 'missing' });
    const to = join(tempDir('fleet-proposal-'), 'p');
    const p = await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', empty, '--propose', to]);
    expect(p.code).toBe(1);
    expect(p.stdout).toMatch(/slack\.prod: not narrowed: no audit trail/);
    expect(readFileSync(join(to, 'slack.prod.yaml'), 'utf8')).toBe(
      readFileSync(join(scopes, 'slack.prod.yaml'), 'utf8'),
    );
    expect((await runCli(['verify', '--scopes', to, '--no-docs'])).code).toBe(0);
  });

  it('says plainly when the trail does not verify, and narrows nothing', async () => {
    const bad = tempDir('fleet-bad-audit-');
    cpSync(join(auditDir, 'slack.prod.jsonl'), join(bad, 'slack.prod.jsonl'));
    const t = readFileSync(join(bad, 'slack.prod.jsonl'), 'utf8');
    writeFileSync(join(bad, 'slack.prod.jsonl'), t.replace('"tool":"post_message"', '"tool":"get_user"'));
    const review = await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', bad]);
    expect(review.stderr).toMatch(/warning: .*slack\.prod\.jsonl:\d+: TAMPERED \(modified\)/);
    expect(
      JSON.parse(
        (await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', bad, '--format', 'json'])).stdout,
      ).instances[0].trail,
    ).toMatchObject({ status: 'unverifiable' });
    const to = join(tempDir('fleet-proposal-'), 'p');
    const p = await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', bad, '--propose', to]);
    expect(p.code).toBe(1);
    expect(p.stdout).toMatch(/slack\.prod: not narrowed: the audit trail .* does not verify/);
  });

  it('never writes a manifest that grants nothing: one whose every call was refused keeps its own', async () => {
    const audit = tempDir('fleet-audit-');
    const s = await serveSlackProd(sb, { scopes, auditDir: audit });
    try {
      const w = workspace(sb);
      expect(
        (await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'not here' }, w.asks('U0EDITOR1'))).isError,
      ).toBe(true);
    } finally {
      await s.close();
    }
    const to = join(tempDir('fleet-proposal-'), 'p');
    const p = await runCli(['review', 'slack.prod', '--scopes', scopes, '--audit-dir', audit, '--propose', to]);
    expect(p.code, p.stdout).toBe(1);
    expect(p.stdout).toMatch(/slack\.prod: not narrowed: no call was allowed in 90 days/);
    expect(readFileSync(join(to, 'slack.prod.yaml'), 'utf8')).toBe(
      readFileSync(join(scopes, 'slack.prod.yaml'), 'utf8'),
    );
    expect((await runCli(['verify', '--scopes', to, '--no-docs'])).code).toBe(0);
  }, 60_000);
});
