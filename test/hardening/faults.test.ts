// Upstream faults, injected by each connector's sandbox into a read and a write: 429 with
// Retry-After, 500, 503, a hung connection, a reset, a malformed and a non-JSON body, a slow answer
// within and beyond the instance's timeout. Each call ends within the timeout, as an isError
// result that says what happened (or, for the slow-but-in-time answer, as a result), its audit
// outcome records it, a write reaches the upstream exactly once, and the server keeps serving.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fault } from '../../shared/connector/emulator.js';
import { auditRecords, SCOPES, tempDir, text } from '../helpers.js';
import { SAMPLES, startLive, type Live } from './instances.js';

const TIMEOUT_S = 1;
/** scopes/ with every instance's timeout cut to TIMEOUT_S, so hung calls end quickly */
function quickScopes(): string {
  const dir = tempDir('fleet-quick-scopes-');
  cpSync(SCOPES, dir, { recursive: true });
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
    writeFileSync(join(dir, f), readFileSync(join(dir, f), 'utf8').replace(/^timeout: .*$/m, `timeout: ${TIMEOUT_S}s`));
  }
  return dir;
}

const CASES: Record<string, { read: [string, string]; write: [string, string] }> = {
  slack: { read: ['read_history', 'conversations.history'], write: ['post_message', 'chat.postMessage'] },
  // (kv_get reads a raw value, where any body is valid: the read here is a JSON one)
  cloudflare: { read: ['workflow_get_instance', 'workflows.instances.get'], write: ['kv_put', 'kv.values.update'] },
  doppler: { read: ['list_secret_names', 'secrets.names'], write: ['set_secret', 'secrets.update'] },
};

/** Each fault with the exact error code each connector reports for it (the outcome record's `error`). */
type Kind = { name: string; fault: Omit<Fault, 'route' | 'times'>; ok?: boolean; codes?: Record<string, string> };
const FAULTS: Kind[] = [
  {
    name: '429 + Retry-After',
    fault: { status: 429, retryAfter: 1 },
    codes: { slack: 'ratelimited', cloudflare: 'cf_971', doppler: 'ratelimited' },
  },
  // Cloudflare's 5xx envelope carries its own code (10013, "An unknown error has occurred")
  {
    name: '500',
    fault: { status: 500 },
    codes: { slack: 'http_500', cloudflare: 'cf_10013', doppler: 'upstream_error' },
  },
  {
    name: '503',
    fault: { status: 503 },
    codes: { slack: 'http_503', cloudflare: 'cf_10013', doppler: 'upstream_error' },
  },
  {
    name: 'hung connection',
    fault: { hang: true },
    codes: { slack: 'timeout', cloudflare: 'timeout', doppler: 'timeout' },
  },
  {
    name: 'connection reset',
    fault: { reset: true },
    codes: { slack: 'request_failed', cloudflare: 'request_failed', doppler: 'request_failed' },
  },
  {
    name: 'malformed JSON body',
    fault: { body: '{"ok":tr' },
    codes: { slack: 'bad_response', cloudflare: 'bad_response', doppler: 'bad_response' },
  },
  {
    name: 'HTML error page',
    fault: { status: 502, body: '<html><body>502 Bad Gateway</body></html>' },
    codes: { slack: 'http_502', cloudflare: 'http_502', doppler: 'bad_response' },
  },
  {
    name: 'slow, beyond the timeout',
    fault: { delayMs: TIMEOUT_S * 1000 + 700 },
    codes: { slack: 'timeout', cloudflare: 'timeout', doppler: 'timeout' },
  },
  { name: 'slow, within the timeout', fault: { delayMs: 300 }, ok: true },
];

describe.each(Object.keys(CASES))('upstream faults: %s', (connector) => {
  let live: Live;
  const c = CASES[connector]!;
  let n = 0;
  beforeAll(async () => {
    live = await startLive(connector, 'dev', { scopes: quickScopes() });
  }, 60_000);
  afterAll(() => live?.close());

  const call = async (tool: string, route: string, fault: Kind) => {
    const thread = `fault-${n++}`;
    const args = { ...SAMPLES[`${connector}.dev`]![tool]! };
    if (tool === 'kv_put' || tool === 'set_secret') args.value = `v-${thread}`;
    if (tool === 'post_message') args.text = `fault ${thread}`;
    live.up.emulator.inject({ route, times: 10, ...fault.fault });
    const before = live.up.emulator.requests.length;
    const started = Date.now();
    const r = await live.server.call(tool, args, { 'fleet/thread': thread });
    const elapsed = Date.now() - started;
    live.up.emulator.clearFaults();
    const sent = live.up.emulator.requests.slice(before).filter((q) => q.route === route).length;
    const outcome = auditRecords(live.server.auditFile).find((x) => x.thread === thread && x.phase === 'outcome');
    return { r, elapsed, sent, outcome };
  };

  for (const fault of FAULTS) {
    for (const side of ['read', 'write'] as const) {
      it(`${side}: ${fault.name}`, async () => {
        const [tool, route] = c[side];
        const { r, elapsed, sent, outcome } = await call(tool, route, fault);
        expect(elapsed).toBeLessThan(TIMEOUT_S * 1000 + 2500);
        if (fault.ok) {
          expect(r.isError, text(r)).toBeFalsy();
          expect(outcome?.outcome).toBe('ok');
        } else {
          const code = fault.codes![connector]!;
          expect(r.isError).toBe(true);
          expect(text(r).startsWith(`${connector} error: ${code}: `), text(r)).toBe(true);
          expect(outcome).toMatchObject({ outcome: 'error', error: code });
          if (fault.fault.status === 429) expect(text(r)).toContain('retry after 1s');
        }
        // a write goes out once; a read may be retried by the SDK, a bounded number of times
        if (side === 'write') expect(sent).toBe(1);
        else {
          expect(sent).toBeGreaterThanOrEqual(1);
          expect(sent).toBeLessThanOrEqual(3);
        }
        if (side === 'write' && !fault.ok) expect((r.structuredContent as { status?: string })?.status).toBe('failed');
        if (fault.fault.status === 429) {
          // the upstream's Retry-After is honoured: the same tool sends nothing until it ends
          const sentBefore = live.up.emulator.requests.length;
          const held = await live.server.call(tool, {
            ...SAMPLES[`${connector}.dev`]![tool]!,
            ...(side === 'write' ? { [tool === 'post_message' ? 'text' : 'value']: `held ${n}` } : {}),
          });
          expect(held.isError).toBe(true);
          expect(text(held)).toMatch(/Retry-After\); retry in 1s; nothing was sent/);
          expect(live.up.emulator.requests.length).toBe(sentBefore);
          await new Promise((r) => setTimeout(r, 1100));
        }
        // and the next call is served normally (after a 429, once its wait is over)
        const again = await live.server.call(c.read[0], SAMPLES[`${connector}.dev`]![c.read[0]]!);
        expect(again.isError, text(again)).toBeFalsy();
      }, 20_000);
    }
  }
});
