import { z } from 'zod';

/** A day in milliseconds. */
export const DAY_MS = 86_400_000;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };

/** The longest a Node timer can wait: 2^31-1 ms, about 24.8 days (a longer one fires at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration above zero, as manifests write it (also the JSON Schema pattern). */
export const DURATION = /^(?!0+(?:\.0+)?(?:ms|s|m|h|d)$)\d+(?:\.\d+)?(?:ms|s|m|h|d)$/;

/**
 * A manifest duration: above zero by its pattern (which the JSON Schema keeps, so editors flag
 * `0s`), and no longer than a timer can hold (checked by fleet verify and the loader).
 */
export function durationSchema(description: string) {
  return z
    .string()
    .regex(DURATION, 'expected a duration above zero such as 10s, 15m or 1h')
    .refine((s) => (parseDuration(s) ?? 0) <= MAX_TIMER_MS, {
      error: (iss) => `${String(iss.input)} is longer than a timer can hold: at most 24d`,
    })
    .describe(description);
}

/** "10s", "15m", "1h", "500ms" → milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}
