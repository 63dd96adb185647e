// Replay-safe retries on every connector's writes: after a definite refusal (a 429) the same key may
// run again; after an ambiguous failure (a 500: the upstream may have acted) it replays the first
// outcome and nothing is sent again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, IDS } from '../../servers/cloudflare/sandbox/seed.js';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { serve, type Served } from '../helpers.js';

const CF_PERMS = [
  'Workers Scripts Read',
  'Workers Scripts Write',
  'Workers KV Storage Read',
  'Workers KV Storage Write',
  'Workers R2 Storage Read',
  'Workers R2 Storage Write',
  'D1 Read',
  'D1 Write',
  'Zone Read',
  'DNS Read',
  'DNS Write',
  'Account API Tokens Read',
];

let cf: CloudflareSandbox;
let dp: DopplerSandbox;
const servers: Served[] = [];
beforeAll(async () => {
  [cf, dp] = await Promise.all([startCloudflareSandbox(), startDopplerSandbox()]);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all([cf.close(), dp.close()]);
});

const cases = [
  {
    connector: 'cloudflare',
    route: 'kv.values.update',
    emulator: () => cf.emulator,
    start: () =>
      serve({
        connector: 'cloudflare',
        env: 'dev',
        upstream: cf.url,
        vars: { CLOUDFLARE_API_TOKEN_DEV: cf.issue(ACCOUNT, CF_PERMS) },
      }),
    write: (s: Served, key: string) =>
      s.call('kv_put', { namespace_id: IDS.devKv, key: `idem/${key}`, value: 'v' }, { 'fleet/idempotency-key': key }),
  },
  {
    connector: 'doppler',
    route: 'secrets.update',
    emulator: () => dp.emulator,
    start: () =>
      serve({
        connector: 'doppler',
        env: 'dev',
        upstream: dp.url,
        vars: { DOPPLER_TOKEN_DEV: dp.issueAccount('blogbot', true) },
      }),
    write: (s: Served, key: string) =>
      s.call('set_secret', { config: 'dev', name: 'AGENT_IDEM', value: key }, { 'fleet/idempotency-key': key }),
  },
];

describe.each(cases)('$connector writes with an idempotency key', (c) => {
  let s: Served;
  beforeAll(async () => {
    s = await c.start();
    servers.push(s);
  });
  const sent = () => c.emulator().requests.filter((r) => r.route === c.route).length;
  const status = (r: { structuredContent?: unknown }) => (r.structuredContent as { status?: string }).status;

  it('run again after a definite refusal (429)', async () => {
    const key = `after-429-${Date.now()}`;
    const before = sent();
    c.emulator().inject({ route: c.route, status: 429, retryAfter: 1 });
    expect(status(await c.write(s, key))).toBe('failed');
    // the upstream's Retry-After is honoured: nothing is sent until it ends
    const held = await c.write(s, key);
    expect(status(held)).toBe('failed');
    expect(sent()).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(status(await c.write(s, key))).toBe('completed');
    expect(sent()).toBe(before + 2);
  });

  it('replay, and send nothing, after an ambiguous failure (500)', async () => {
    const key = `after-500-${Date.now()}`;
    const before = sent();
    c.emulator().inject({ route: c.route, status: 500 });
    expect(status(await c.write(s, key))).toBe('failed');
    const again = await c.write(s, key);
    expect(status(again)).toBe('replayed');
    expect(again.isError).toBe(true);
    expect(sent()).toBe(before + 1);
  });
});
