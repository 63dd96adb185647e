// The hash chain of an audit file. Each line is one JSON object whose last member is
// "hash": sha256 of the line's own text without that member, and which carries "prev": the
// previous line's hash, and "seq": its position. Hashing the exact bytes (not a re-serialisation)
// means any edit to a line, however small, changes its hash.
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);
const SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Serialises a record into a chained line (with its trailing newline). */
export function seal(record: Record<string, unknown>, seq: number, prev: string): { line: string; hash: string } {
  const body = JSON.stringify({ ...record, seq, prev });
  const hash = sha256(body);
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}\n`, hash };
}

export interface Opened {
  body: string;
  hash: string;
  record: Record<string, any>;
}

/** Splits a line into its record and stated hash; undefined when it is not a sealed record. */
export function open(line: string): Opened | undefined {
  const m = SUFFIX.exec(line);
  if (!m) return undefined;
  const body = `${line.slice(0, m.index)}}`;
  try {
    const record = JSON.parse(line);
    if (typeof record !== 'object' || record === null || typeof record.seq !== 'number' || typeof record.prev !== 'string') return undefined;
    return { body, hash: m[1]!, record };
  } catch {
    return undefined;
  }
}
