// The hash chain of an audit trail: pure functions, the same for every place a trail is kept (the
// JSONL file, a database storing each line's exact text). Each line is one JSON object whose last
// member is "hash": sha256 of the line's own text without that member, and which carries "prev":
// the previous line's hash, and "seq": its position (1 for the first). Hashing the exact bytes
// (not a re-serialisation) means any edit to a line, however small, changes its hash.
//
// The first record's "prev" is the instance's genesis, derived from the instance ID: a chain is
// bound to the instance that wrote it, so one instance's trail presented as another's fails.
import * as crypto from 'node:crypto';

// the last 75 characters of a sealed line: ,"hash":"<64 hex>"}
const SUFFIX = /^,"hash":"([0-9a-f]{64})"\}$/;
const SUFFIX_LEN = 75;

// crypto.hash (one shot, Node ≥ 20.12) skips building a Hash object per line
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer, enc: 'hex') => string }).hash;

export function sha256(text: string | Buffer): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex');
}

/** The "prev" of an instance's first record. */
export function genesis(instance: string): string {
  return sha256(`fleet-audit-genesis\n${instance}\n`);
}

/** Where a chain stands: the last record's position and hash (seq 0 and the genesis when empty). */
export interface Head {
  seq: number;
  hash: string;
}

export const emptyHead = (instance: string): Head => ({ seq: 0, hash: genesis(instance) });

/** Serialises a record into a chained line (with its trailing newline). */
export function seal(record: Record<string, unknown>, seq: number, prev: string): { line: string; hash: string } {
  const { seq: _s, prev: _p, hash: _h, ...rest } = record;
  const body = JSON.stringify({ ...rest, seq, prev });
  const hash = sha256(body);
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}\n`, hash };
}

/** Seals records one after another from a head; returns the lines and the new head. */
export function sealAll(records: Record<string, unknown>[], head: Head): { text: string; head: Head } {
  let { seq, hash } = head;
  let text = '';
  for (const r of records) {
    const s = seal(r, ++seq, hash);
    text += s.line;
    hash = s.hash;
  }
  return { text, head: { seq, hash } };
}

export interface Opened {
  body: string;
  hash: string;
  record: Record<string, any>;
}

/** Splits a line into its record and stated hash; undefined when it is not a sealed record. */
export function open(line: string): Opened | undefined {
  const cut = line.length - SUFFIX_LEN;
  const m = cut > 0 ? SUFFIX.exec(line.slice(cut)) : null;
  if (!m) return undefined;
  const body = `${line.slice(0, cut)}}`;
  try {
    const record = JSON.parse(line);
    if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
    if (!Number.isSafeInteger(record.seq) || record.seq < 1 || typeof record.prev !== 'string') return undefined;
    return { body, hash: m[1]!, record };
  } catch {
    return undefined;
  }
}

/** A line that is a sealed record whose hash matches its text. */
export function openVerified(line: string): Opened | undefined {
  const o = open(line);
  return o && sha256(o.body) === o.hash ? o : undefined;
}
