// Checks an audit file's chain from its first line. The first break is named by line number and
// kind: a modified line (its hash no longer matches), a deleted one (the sequence jumps), a
// reordered pair (the sequence goes back). A line cut off mid-write that the chain continues
// around is an interrupted write, reported but not a break.
import { GENESIS, open, sha256 } from './chain.js';

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** the first break, if any */
  problem?: { line: number; kind: 'modified' | 'deleted' | 'reordered' | 'malformed'; message: string };
  interrupted: number[];
  /** the last intact record's position and hash: what an outside anchor would be compared with */
  last?: { seq: number; hash: string };
}

export function verifyChain(text: string): VerifyResult {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev = GENESIS;
  let seq = 0;
  let records = 0;
  const interrupted: number[] = [];
  const fail = (line: number, kind: NonNullable<VerifyResult['problem']>['kind'], message: string): VerifyResult => ({
    ok: false,
    records,
    problem: { line, kind, message },
    interrupted,
  });

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const o = open(lines[i]!);
    if (!o) {
      // A torn line: either the last line, or one the next record's chain skips over.
      const next = lines[i + 1] !== undefined ? open(lines[i + 1]!) : undefined;
      const isLast = i === lines.length - 1;
      if (isLast || (next && next.record.prev === prev && next.record.seq === seq + 1)) {
        interrupted.push(n);
        continue;
      }
      return fail(n, 'malformed', `line ${n} is not a sealed audit record (modified or corrupted)`);
    }
    if (sha256(o.body) !== o.hash) return fail(n, 'modified', `line ${n} was modified: its content no longer matches its hash`);
    const s = o.record.seq as number;
    if (o.record.prev !== prev || s !== seq + 1) {
      if (s > seq + 1) {
        // The missing record further down means lines were moved, not removed.
        const later = lines.slice(i + 1).some((l) => open(l)?.record.seq === seq + 1);
        if (later) return fail(n, 'reordered', `line ${n} is out of order (record ${s} where record ${seq + 1} belongs)`);
        return fail(n, 'deleted', `record(s) ${seq + 1}..${s - 1} deleted before line ${n} (sequence jumps from ${seq} to ${s})`);
      }
      if (s <= seq) return fail(n, 'reordered', `line ${n} is out of order (record ${s} after record ${seq})`);
      return fail(n, 'modified', `line ${n} does not continue the chain (its "prev" does not match line ${n - 1})`);
    }
    prev = o.hash;
    seq = s;
    records++;
  }
  return { ok: true, records, interrupted, ...(records ? { last: { seq, hash: prev } } : {}) };
}
