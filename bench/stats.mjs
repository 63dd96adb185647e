// Order statistics for the bench tables: one percentile definition for every figure (linear
// interpolation between the two nearest ranks), medians and spreads, never means (start-up times
// have long tails that a mean would smear into every row), and never a difference of two
// quantiles: a "p99 added" is the p99 of per-call differences of paired calls.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';

/** @param {number[]} values @param {number} q in [0, 1] */
export function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** @param {number[]} values */
export const median = (values) => quantile(values, 0.5);

/** The middle 80 % of the runs (p10–p90): what "spread" means in every table. @param {number[]} values */
export const spread = (values) => [quantile(values, 0.1), quantile(values, 0.9)];

/** The machine's load average now (1, 5, 15 min), printed beside every figure taken under it. */
export function load() {
  return loadavg().map((x) => Number(x.toFixed(2)));
}

/** "load 1.23 at start, 1.50 at end" for a figure measured between two load() readings. @param {number[]} a @param {number[]} b */
export const loadSpan = (a, b) => `load ${a[0].toFixed(2)} → ${b[0].toFixed(2)}`;

/** `uptime`'s own line, or the load averages where there is no uptime. */
export function uptime() {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${load().join(', ')}`;
  }
}
