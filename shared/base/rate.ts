// `N/period`: a grant's `rate:` in a manifest, a client's `rate:` in clients.yaml, `--client-rate`.
// One grammar and one parser for all of them; the manifest's JSON Schema carries RATE as its pattern.
import { z } from 'zod';
import { DAY_MS } from './duration.js';

/** Each period's length in milliseconds. */
export const PERIOD_MS = { second: 1000, minute: 60_000, hour: 3_600_000, day: DAY_MS } as const;
export type Period = keyof typeof PERIOD_MS;

/** 1 to 9,999,999 calls per second, minute, hour or day. */
export const RATE = /^([1-9]\d{0,6})\/(second|minute|hour|day)$/;

export interface Rate {
  limit: number;
  period: Period;
  windowMs: number;
}

/** `30/hour` → `{ limit: 30, period: 'hour', windowMs: 3600000 }`; undefined when it is not a rate. */
export function parseRate(text: unknown): Rate | undefined {
  const m = typeof text === 'string' ? RATE.exec(text) : null;
  if (!m) return undefined;
  const period = m[2] as Period;
  return { limit: Number(m[1]), period, windowMs: PERIOD_MS[period] };
}

/** A `rate:` field: a string of RATE's form (the pattern the JSON Schema keeps, so editors flag it). */
export function rateSchema(description: string) {
  return z.string().regex(RATE, 'rate is N/period: 30/hour, 5/minute, 1000/day').describe(description);
}
