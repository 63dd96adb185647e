// What the OTLP collector has not accepted, by each record's seq in the trail: kept in a small file in
// the state folder, so that when the collector answers again the records are re-sent from the trail
// (the source of truth) — by this process, by its next start, or by another process of the instance
// on this host (the file is changed only under its OS lock). Bounded: past MAX_OWED seqs the oldest
// are given up on, counted; the trail still has them.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { withFileLock } from '../base/oslock.js';

export const MAX_OWED = 100_000;

/** inclusive seq ranges, sorted and disjoint */
export type Ranges = [number, number][];

export const countOf = (ranges: Ranges): number => ranges.reduce((n, [a, b]) => n + b - a + 1, 0);

/** The ranges with `seqs` added. */
export function addSeqs(ranges: Ranges, seqs: Iterable<number>): Ranges {
  const all: Ranges = [...ranges.map(([a, b]) => [a, b] as [number, number])];
  for (const s of seqs) if (Number.isSafeInteger(s) && s > 0) all.push([s, s]);
  all.sort((x, y) => x[0] - y[0]);
  const out: Ranges = [];
  for (const [a, b] of all) {
    const last = out.at(-1);
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The newest `max` seqs of `ranges`, and how many older ones were given up. */
export function newestSeqs(ranges: Ranges, max: number): { ranges: Ranges; gaveUp: number } {
  let over = countOf(ranges) - max;
  const out = ranges.map(([a, b]) => [a, b] as [number, number]);
  let gaveUp = 0;
  while (over > 0 && out.length) {
    const [a, b] = out[0]!;
    const n = b - a + 1;
    const cut = Math.min(n, over);
    if (cut === n) out.shift();
    else out[0]![0] = a + cut;
    over -= cut;
    gaveUp += cut;
  }
  return { ranges: out, gaveUp };
}

export const inRanges = (ranges: Ranges, seq: number): boolean => {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid]!;
    if (seq < a) hi = mid - 1;
    else if (seq > b) lo = mid + 1;
    else return true;
  }
  return false;
};

export class OwedFile {
  constructor(
    readonly file: string,
    private readonly max = MAX_OWED,
  ) {}

  /** what the file holds (read without the lock: a count for messages) */
  read(): Ranges {
    try {
      const owed = (JSON.parse(readFileSync(this.file, 'utf8')) as { owed?: unknown }).owed;
      if (!Array.isArray(owed)) return [];
      return addSeqs(
        owed.filter(
          (r): r is [number, number] =>
            Array.isArray(r) && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] > 0 && r[0] <= r[1],
        ),
        [],
      );
    } catch {
      return [];
    }
  }

  private write(ranges: Ranges): void {
    if (!ranges.length) return rmSync(this.file, { force: true });
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ owed: ranges })}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Adds seqs to what is owed; resolves to how many older ones were given up to stay within the bound. */
  add(seqs: Iterable<number>): Promise<number> {
    const list = [...seqs];
    if (!list.length) return Promise.resolve(0);
    return withFileLock(this.file, () => {
      const b = newestSeqs(addSeqs(this.read(), list), this.max);
      this.write(b.ranges);
      return b.gaveUp;
    });
  }

  /** Takes everything owed, for this process to re-send (what it cannot deliver it adds back). */
  take(): Promise<Ranges> {
    return withFileLock(this.file, () => {
      const r = this.read();
      if (r.length) this.write([]);
      return r;
    });
  }
}
