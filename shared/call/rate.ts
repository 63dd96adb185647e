// `rate: N/period` on a grant, counted per instance across every process serving it and across
// restarts: a sliding window of the times of allowed calls, kept in the instance's state (RateStore).
import { RATE } from '../manifest/schema.js';

const PERIOD_MS = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export function parseRate(rate: string): { limit: number; windowMs: number } {
  const m = RATE.exec(rate)!;
  return { limit: Number(m[1]), windowMs: PERIOD_MS[m[2] as keyof typeof PERIOD_MS] };
}
