// State that cannot be read (issue 13, item 8): every attempt is refused ON THE RECORD — a `failed`
// decision naming the file — never a JSON-RPC internal error, and nothing reaches the upstream.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, runCli, serve, tempDir, text } from '../helpers.js';

const DEV_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read', 'search:read'];
let sb: SlackSandbox;
beforeAll(async () => {
  sb = await startSlackSandbox();
});
afterAll(() => sb.close());

describe('embedded state that cannot be read', () => {
  it('refuses keyed and rate-limited writes with a failed record naming the file; reads go on', async () => {
    const stateDir = tempDir();
    const db = join(stateDir, 'slack.dev.db');
    writeFileSync(db, 'garbage, not a SQLite database\n'.repeat(300));
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      upstream: sb.url,
      stateDir,
      vars: { SLACK_BOT_TOKEN_DEV: sb.issue('T0BLOGDEV', DEV_SCOPES) },
    });
    try {
      const posts = () => sb.emulator.requests.filter((r) => r.route === 'chat.postMessage').length;
      const before = posts();
      // keyed: the idempotency claim cannot be read
      const keyed = await s.call(
        'post_message',
        { channel: 'C0DEVBOTTEST', text: 'keyed' },
        { 'fleet/idempotency-key': 'constructor' },
      );
      expect(keyed.isError).toBe(true);
      expect(text(keyed)).toContain(db);
      expect(keyed.structuredContent).toMatchObject({ status: 'failed' });
      // unkeyed: post_message has a rate, whose window cannot be read
      const plain = await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'plain' });
      expect(plain.isError).toBe(true);
      expect(text(plain)).toContain(db);
      expect(posts()).toBe(before);
      const refusals = auditRecords(s.auditFile).filter((r) => r.decision === 'failed');
      expect(refusals.map((r) => r.rule)).toEqual(['idempotency', 'tools.post_message.rate']);
      for (const r of refusals) expect(r.error_message).toContain(db);
      // a read needs no state
      expect((await s.call('read_history', { channel: 'C0DEVSCRATCH' })).isError).toBeFalsy();
      // and the trail is whole
      expect((await runCli(['audit', 'verify', s.auditFile])).code).toBe(0);
    } finally {
      await s.close();
    }
  });
});

// the driver's binary, mapped once loaded: libsql's platform package, e.g. @libsql/linux-x64-gnu/index.node
const NATIVE_SQLITE = /\/@libsql\/[^/\n]+\/index\.node$/m;

describe('the embedded engine loads lazily', () => {
  it('maps no native module before tools/list, and loads SQLite on the first keyed write', async () => {
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true });
    try {
      const maps = () => readFileSync(`/proc/${s.pid}/maps`, 'utf8');
      await s.client.listTools();
      expect(maps()).not.toMatch(NATIVE_SQLITE);
      const r = await s.call(
        'post_message',
        { channel: 'C0DEVBOTTEST', text: 'lazy' },
        { 'fleet/idempotency-key': 'lazy-1' },
      );
      expect(r.structuredContent).toMatchObject({ status: 'completed' });
      expect(maps()).toMatch(NATIVE_SQLITE);
    } finally {
      await s.close();
    }
  });
});
