// `rate: N/period` on a grant, counted per instance across every process serving it and across
// restarts: a sliding window of the times of allowed calls, kept in a locked state file.
import { RATE } from '../manifest/schema.js';
import { updateState } from '../state/files.js';

const PERIOD_MS = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export function parseRate(rate: string): { limit: number; windowMs: number } {
  const m = RATE.exec(rate)!;
  return { limit: Number(m[1]), windowMs: PERIOD_MS[m[2] as keyof typeof PERIOD_MS] };
}

type Windows = Record<string, number[]>;

/** Takes one slot for `tool`; when none is free, says when the next one frees up. */
export function takeSlot(file: string, tool: string, rate: string, now = Date.now()): Promise<{ ok: true } | { ok: false; next: number }> {
  const { limit, windowMs } = parseRate(rate);
  return updateState<Windows, { ok: true } | { ok: false; next: number }>(file, () => ({}), (w) => {
    const recent = (w[tool] ?? []).filter((t) => t > now - windowMs);
    if (recent.length >= limit) {
      w[tool] = recent;
      return { ok: false, next: recent[recent.length - limit]! + windowMs };
    }
    recent.push(now);
    w[tool] = recent;
    return { ok: true };
  });
}
