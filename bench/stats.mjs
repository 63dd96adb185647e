// Order statistics for the bench tables. Medians and spreads, never means: start-up times have
// long tails (page cache, scheduler) that a mean would smear into every row.
export function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (values) => quantile(values, 0.5);

/** The middle 80 % of the runs (p10–p90): what "spread" means in every table. */
export const spread = (values) => [quantile(values, 0.1), quantile(values, 0.9)];
