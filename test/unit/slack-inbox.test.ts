// Delivered answers meet the requests waiting for them (servers/slack/inbox.ts): an answer that
// arrives before its request listens — a button pressed at once, before chat.postMessage's answer
// told the fleet the request's ts — is kept a minute and handed over when the request listens.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Seen } from '../../servers/slack/answers.js';
import { deliver, listen } from '../../servers/slack/inbox.js';

const seen = (user: string): Seen => ({ user, via: 'button', what: 'fleet_approve', approve: true, lo: 1, hi: 1 });
const heard = async (channel: string, ts: string) => {
  const got: string[] = [];
  const stop = listen(channel, ts, (s) => got.push(s.user));
  await Promise.resolve();
  stop();
  return got;
};

describe('delivered answers and the requests that wait for them', () => {
  afterEach(() => vi.useRealTimers());

  it('hands an answer to the request listening on its thread, and says so', async () => {
    const got: string[] = [];
    const stop = listen('C1', '1.000001', (s) => got.push(s.user));
    expect(deliver({ channel: 'C1', ts: '1.000001', seen: seen('U1') })).toBe(true);
    stop();
    expect(got).toEqual(['U1']);
  });

  it('keeps an answer that came before its request listened, and hands it over once, in order', async () => {
    expect(deliver({ channel: 'C2', ts: '2.000001', seen: seen('U1') })).toBe(false);
    expect(deliver({ channel: 'C2', ts: '2.000001', seen: seen('U2') })).toBe(false);
    expect(await heard('C2', '2.000001')).toEqual(['U1', 'U2']);
    expect(await heard('C2', '2.000001')).toEqual([]);
    // another thread's early answer is not this one's
    deliver({ channel: 'C2', ts: '2.000002', seen: seen('U3') });
    expect(await heard('C2', '2.000001')).toEqual([]);
  });

  it('forgets an early answer after a minute', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    deliver({ channel: 'C3', ts: '3.000001', seen: seen('U1') });
    vi.setSystemTime(1_000_000 + 60_001);
    expect(await heard('C3', '3.000001')).toEqual([]);
  });

  it('keeps a bounded number of threads: the oldest go first', async () => {
    for (let i = 0; i < 300; i++) deliver({ channel: 'C4', ts: `4.${String(i).padStart(6, '0')}`, seen: seen('U1') });
    expect(await heard('C4', '4.000000')).toEqual([]);
    expect(await heard('C4', '4.000299')).toEqual(['U1']);
  });
});
