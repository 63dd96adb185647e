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

const CASES: Record<string, { read: [string, string]; write: [string, string]; code429: string }> = {
  slack: { read: ['read_history', 'conversations.history'], write: ['post_message', 'chat.postMessage'], code429: 'ratelimited' },
  // (kv_get reads a raw value, where any body is valid: the read here is a JSON one)
  cloudflare: { read: ['workflow_get_instance', 'workflows.instances.get'], write: ['kv_put', 'kv.values.update'], code429: 'cf_971' },
  doppler: { read: ['list_secret_names', 'secrets.names'], write: ['set_secret', 'secrets.update'], code429: 'ratelimited' },
};

type Kind = { name: string; fault: Omit<Fault, 'route' | 'times'>; ok?: boolean; says: RegExp };
const FAULTS: Kind[] = [
  { name: '429 + Retry-After', fault: { status: 429, retryAfter: 7 }, says: /rate limit/i },
  { name: '500', fault: { status: 500 }, says: /500|internal|upstream_error|error/i },
  { name: '503', fault: { status: 503 }, says: /503|upstream_error|unknown error/i },
  { name: 'hung connection', fault: { hang: true }, says: /timeout|did not answer/i },
  { name: 'connection reset', fault: { reset: true }, says: /request_failed|network|socket|reset|timeout|failed/i },
  { name: 'malformed JSON body', fault: { body: '{"ok":tr' }, says: /error|not JSON|bad_response|invalid/i },
  { name: 'HTML error page', fault: { status: 502, body: '<html><body>502 Bad Gateway</body></html>' }, says: /502|bad_response|not JSON|error/i },
  { name: 'slow, beyond the timeout', fault: { delayMs: TIMEOUT_S * 1000 + 700 }, says: /timeout|did not answer/i },
  { name: 'slow, within the timeout', fault: { delayMs: 300 }, ok: true, says: /./ },
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
          expect(r.isError).toBe(true);
          expect(text(r)).toMatch(new RegExp(`^${connector} error: \\S+: `));
          expect(text(r)).toMatch(fault.says);
          expect(outcome).toMatchObject({ outcome: 'error', error: expect.any(String) });
          if (fault.fault.status === 429) {
            expect(outcome!.error).toBe(c.code429);
            if (connector !== 'doppler') expect(text(r)).toContain('retry after 7s');
          }
        }
        // a write goes out once; a read may be retried by the SDK, a bounded number of times
        if (side === 'write') expect(sent).toBe(1);
        else expect(sent).toBeGreaterThanOrEqual(1), expect(sent).toBeLessThanOrEqual(3);
        if (side === 'write' && !fault.ok) expect((r.structuredContent as { status?: string })?.status).toBe('failed');
        // and the next call is served normally
        const again = await live.server.call(c.read[0], SAMPLES[`${connector}.dev`]![c.read[0]]!);
        expect(again.isError, text(again)).toBeFalsy();
      }, 20_000);
    }
  }
});
