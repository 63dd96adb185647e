// One rate grammar (shared/base/rate.ts) for manifests, clients.yaml and --client-rate: what it
// reads back is what was written, and it takes nothing else.
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PERIOD_MS, parseRate, type Period, rateSchema } from '../../shared/base/rate.js';
import { ClientRates } from '../../shared/transport/http/limits.js';

const periods = Object.keys(PERIOD_MS) as Period[];
const limit = fc.integer({ min: 1, max: 9_999_999 });

describe('parseRate', () => {
  it('reads back every N/period it can write', () => {
    fc.assert(
      fc.property(limit, fc.constantFrom(...periods), (n, period) => {
        expect(parseRate(`${n}/${period}`)).toEqual({ limit: n, period, windowMs: PERIOD_MS[period] });
      }),
    );
  });

  it('takes nothing else: no zero, no leading zero, no sign, no space, no other period, not a string', () => {
    const near = fc
      .oneof(
        fc.constantFrom(
          '0/second',
          '00/hour',
          '01/minute',
          '10000000/day',
          '-1/hour',
          '+1/hour',
          '1.5/hour',
          ' 1/hour',
          '1/hour ',
          '1 /hour',
          '1/ hour',
          '1/Hour',
          '1/hours',
          '1/week',
          '1/',
          '/hour',
          '1',
          'hour',
          '',
        ),
        fc
          .tuple(limit, fc.constantFrom(...periods), fc.string({ minLength: 1, maxLength: 3 }))
          .map(([n, p, junk]) => `${n}/${p}${junk}`),
        fc
          .tuple(limit, fc.constantFrom(...periods), fc.string({ minLength: 1, maxLength: 3 }))
          .map(([n, p, junk]) => `${junk}${n}/${p}`),
        fc.string(),
      )
      .filter((s) => !/^[1-9]\d{0,6}\/(second|minute|hour|day)$/.test(s)); // junk of digits can make a rate: 1 + 5/hour
    fc.assert(
      fc.property(near, (text) => {
        expect(parseRate(text)).toBeUndefined();
        expect(rateSchema('r').safeParse(text).success).toBe(false);
      }),
    );
    for (const v of [undefined, null, 30, { limit: 1 }, ['1/hour']]) expect(parseRate(v)).toBeUndefined();
  });

  it('the schema accepts exactly what the parser reads', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(limit, fc.constantFrom(...periods)).map(([n, p]) => `${n}/${p}`),
          fc.string(),
        ),
        (text) => {
          expect(rateSchema('r').safeParse(text).success).toBe(parseRate(text) !== undefined);
        },
      ),
    );
  });

  afterEach(() => vi.useRealTimers());
  it("a client's bucket holds N calls per window, day included", () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 0 }); // the clock stands still while the bucket drains
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.constantFrom(...periods), (n, period) => {
        const rates = new ClientRates();
        for (let i = 0; i < n; i++) expect(rates.take('c', `${n}/${period}`)).toBe(0);
        const wait = rates.take('c', `${n}/${period}`);
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(Math.ceil(PERIOD_MS[period] / n));
      }),
    );
  });
});
