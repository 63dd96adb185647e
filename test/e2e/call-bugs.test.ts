// Three bugs that once passed the suite, each shown through the real CLI against the sandboxes:
// an approved call that died as a false timeout, lists cut before they were filtered, and an
// approvals credential revoked mid-wait reported as "expired with no answer". Each test failed
// before its fix.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, serve, SCOPES, tempDir, text } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scopes folder with the shipped manifests, `edit`ed. */
function scopes(files: string[], edit: (name: string, text: string) => string): string {
  const dir = tempDir('fleet-scopes-');
  for (const f of files) writeFileSync(join(dir, f), edit(f, readFileSync(join(SCOPES, f), 'utf8')));
  return dir;
}
function replaced(t: string, from: string | RegExp, to: string): string {
  const out = t.replace(from, to);
  if (out === t) throw new Error(`the shipped manifest no longer contains ${from}: update this test`);
  return out;
}

describe('an approved call is timed from its approval', () => {
  it('kv_put approved after longer than the instance timeout reaches Cloudflare and succeeds', async () => {
    const dir = scopes(['cloudflare.dev.yaml'], (_f, t) =>
      replaced(
        replaced(t, /^timeout: .*$/m, 'timeout: 2s'),
        /^( {2}kv_put: +\{ namespaces: \[[0-9a-f]+\])( \})$/m,
        '$1, approval: { via: elicitation, timeout: 60s }$2',
      ),
    );
    const s = await serve({
      connector: 'cloudflare',
      env: 'dev',
      sandbox: true,
      scopes: dir,
      onElicit: async () => {
        await sleep(3000);
        return { action: 'accept', content: { approve: true } };
      },
    });
    const ns = '1d0e5f0c2b4a49e7a1c3e5f7a9b1d3e5';
    const r = await s.call(
      'kv_put',
      { namespace_id: ns, key: 'approved/slowly', value: 'v1' },
      { 'fleet/idempotency-key': 'slow-approval-1' },
    );
    expect(text(r)).toBe('wrote approved/slowly');
    expect(r.structuredContent).toMatchObject({ status: 'completed', written: true });
    // the value is there: Cloudflare was called, after the approval
    expect((await s.call('kv_get', { namespace_id: ns, key: 'approved/slowly' })).structuredContent).toMatchObject({
      value: 'v1',
    });
    const phases = auditRecords(s.auditFile)
      .filter((x) => x.tool === 'kv_put')
      .map((x) => x.phase + (x.status ? `:${x.status}` : ''));
    expect(phases).toEqual(['approval:requested', 'approval:approved', 'intent', 'outcome']);
    await s.close();
  });
});

describe('lists are filtered, then limited', () => {
  const dir = () =>
    scopes(['slack.dev.yaml'], (_f, t) =>
      replaced(
        replaced(t, /list_channels: +\{ channels: \[[^\]]*\] \}/, 'list_channels: { channels: [C0DEVSCRATCH] }'),
        /search_messages: \{ channels: \[[^\]]*\] \}/,
        'search_messages: { channels: [C0DEVSCRATCH] }',
      ),
    );

  it('list_channels with a small limit still finds the one granted channel that comes later', async () => {
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true, scopes: dir() });
    for (const limit of [1, 2]) {
      const r = await s.call('list_channels', { limit });
      expect((r.structuredContent as { channels: { id: string }[] }).channels.map((c) => c.id)).toEqual([
        'C0DEVSCRATCH',
      ]);
    }
    // the granted channel's message is found behind matches in channels the grant does not cover
    const found = await s.call('search_messages', { query: 'a', limit: 1 });
    const matches = (found.structuredContent as { matches: { channel: string; text: string }[] }).matches;
    expect(matches).toEqual([expect.objectContaining({ channel: 'C0DEVSCRATCH', text: 'scratch' })]);
    await s.close();
  });
});

describe('an approvals credential revoked while waiting', () => {
  let sb: SlackSandbox;
  beforeAll(async () => {
    sb = await startSlackSandbox();
  });
  afterAll(() => sb.close());

  it('is reported as a failure at once, not as "expired with no answer"', async () => {
    const dir = scopes(['slack.prod.yaml', 'fleet.yaml'], (f, t) =>
      f === 'slack.prod.yaml' ? replaced(t, 'timeout: 15m }', 'timeout: 60s }') : t,
    );
    const approvals = sb.issue('T0BLOGPROD', ['chat:write', 'channels:history'], undefined, 'U0APPROVALS');
    const s = await serve({
      connector: 'slack',
      env: 'prod',
      upstream: sb.url,
      scopes: dir,
      vars: {
        SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', [
          'channels:read',
          'channels:history',
          'chat:write',
          'reactions:write',
          'users:read',
        ]),
        SLACK_APPROVALS_TOKEN: approvals,
        FLEET_APPROVAL_POLL_MS: '50',
      },
    });
    const editorial = sb.workspace('T0BLOGPROD').channels.find((c) => c.id === 'C0APPROVALS')!;
    const before = editorial.messages.length;
    const started = Date.now();
    const asks = {
      'fleet/actor': 'U0WRITER1',
      'fleet/thread': sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'please edit the release notes'),
    };
    const pending = s.call(
      'update_message',
      { channel: 'C0EDITORIAL', ts: '1767226320.000112', text: 'revoked-while-waiting' },
      asks,
    );
    for (let i = 0; editorial.messages.length === before; i++) {
      if (i > 400) throw new Error('the approval request was never posted');
      await sleep(25);
    }
    sb.revoke(approvals);
    const r = await pending;
    expect(r.structuredContent).toMatchObject({ status: 'failed' });
    expect(text(r)).toMatch(
      /^refused: no approval for update_message could be had: Slack refused the approvals identity while waiting \(token_revoked\)/,
    );
    expect(text(r)).not.toMatch(/expired/);
    expect(Date.now() - started).toBeLessThan(30_000); // well before the approval's 60 s timeout
    expect(
      auditRecords(s.auditFile)
        .filter((x) => x.phase === 'approval')
        .map((x) => x.status),
    ).toEqual(['requested', 'failed']);
    await s.close();
  });
});
