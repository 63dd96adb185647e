// Checks an audit trail's chain, streaming: a function over an async iterable of lines (each with
// its terminating "\n"; a final line without one is torn), so a file, a database cursor or any
// other source can feed it, in constant memory whatever the trail's size.
//
// The rule: every terminated line is a sealed record whose hash matches its text, whose "seq" is
// one more than the line before and whose "prev" is that line's hash; the first one's "prev" is the
// genesis of the instance the trail is presented as. Only the final, unterminated line may be
// torn (a write cut off by a crash; the writer seals a record of it when it next appends). A trail
// with no record at all is not a trail. Outside anchors (signed checkpoints: ./checkpoint.ts) name
// a record's position and hash: the trail must reach every one and agree with it.
import { createReadStream } from 'node:fs';
import { genesis, open, sha256, type Head } from './chain.js';

export type ProblemKind =
  | 'malformed' // a terminated line that is not a sealed record
  | 'modified' // a line whose hash no longer matches it, or that does not continue the chain
  | 'deleted' // the sequence jumps and the missing records never come
  | 'reordered' // the sequence jumps or goes back, and the record that belongs there is elsewhere
  | 'foreign' // the chain does not start at this instance's genesis, or a record names another instance
  | 'empty' // no record at all
  | 'truncated' // shorter than a checkpoint says it was
  | 'rewritten'; // a record disagrees with a checkpoint

export interface Problem {
  line: number;
  kind: ProblemKind;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  /** the instance the records name, when the caller did not say which to expect */
  instance?: string;
  /** sealed records that verified before the first problem (all of them when ok) */
  records: number;
  /** lines read in all */
  lines: number;
  /** the first problem, if any */
  problem?: Problem;
  /** the final line was cut off mid-write (1-based line number) */
  torn?: number;
  /** the last verified record: what an outside anchor is compared with */
  last?: Head;
  /** checkpoints the trail was compared with, and the longest */
  checkpoints?: { checked: number; newest?: number };
}

export interface VerifyOptions {
  /** the instance the trail is asserted to be (its genesis starts the chain); default: the one its first record names */
  instance?: string;
  /** outside anchors: record position → hash the trail must have there */
  anchors?: Map<number, string>;
  /** told of each line read, with its length in bytes (progress on a terminal) */
  onLine?: (bytes: number) => void;
}

/** A record that verified: sealed, its hash matching its text, continuing the chain. */
export interface SealedRecord {
  /** 1-based line number in the trail */
  line: number;
  seq: number;
  hash: string;
  /** the line's exact text, without its "\n" */
  text: string;
  record: Record<string, any>;
}

/** The rule above, fed one line at a time (with its "\n"; a final line without one is torn). */
class Verifier {
  private readonly anchors: Map<number, string>;
  private prev: string;
  /** the instance: asserted, or named by the first record */
  instance: string | undefined;
  private seq = 0;
  private n = 0;
  private torn: number | undefined;
  private problem: Problem | undefined;
  /** after a jump forward: the record that belonged there, looked for further on */
  private missing: number | undefined;
  private jumpedTo = 0;
  private missingSeen = false;
  private anchorsChecked = 0;

  constructor(private readonly opts: VerifyOptions) {
    this.anchors = opts.anchors ?? new Map<number, string>();
    this.instance = opts.instance;
    this.prev = opts.instance === undefined ? '' : genesis(opts.instance);
  }

  /**
   * A terminated line already found sealed, its hash matching its bytes, naming no other instance:
   * it is taken when it simply continues the chain, and false says to judge it line by line.
   */
  continues(seq: number, prev: string, hash: string): boolean {
    if (this.problem || this.torn !== undefined || seq !== this.seq + 1 || prev !== this.prev || this.anchors.has(seq))
      return false;
    this.n++;
    this.prev = hash;
    this.seq = seq;
    return true;
  }

  /** Judges one line; returns its record when it was taken (sealed and continuing the chain). */
  line(raw: string): SealedRecord | undefined {
    const n = ++this.n;
    if (this.problem) {
      if (
        this.missing !== undefined &&
        !this.missingSeen &&
        open(raw.endsWith('\n') ? raw.slice(0, -1) : raw)?.record.seq === this.missing
      )
        this.missingSeen = true;
      return;
    }
    if (this.torn !== undefined) {
      // a "torn" line with more after it was not the end: it is a line without its newline
      this.problem = {
        line: this.torn,
        kind: 'malformed',
        message: `line ${this.torn} is not a sealed audit record (only the last line may be cut off)`,
      };
      return;
    }
    if (!raw.endsWith('\n')) {
      this.torn = n;
      return;
    }
    const line = raw.slice(0, -1);
    const o = open(line);
    if (!o) {
      this.problem = {
        line: n,
        kind: 'malformed',
        message: `line ${n} is not a sealed audit record (inserted, modified or corrupted)`,
      };
      return;
    }
    if (sha256(o.body) !== o.hash) {
      this.problem = {
        line: n,
        kind: 'modified',
        message: `line ${n} was modified: its content no longer matches its hash`,
      };
      return;
    }
    const s = o.record.seq as number;
    const seq = this.seq;
    const inst = o.record.instance;
    if (this.instance === undefined) {
      // the trail says whose it is: its first record names the instance, whose genesis starts the chain
      if (typeof inst !== 'string' || !inst) {
        this.problem = {
          line: n,
          kind: 'foreign',
          message: `line ${n} names no instance, so the trail cannot say whose it is (name it with --instance <connector>.<env>)`,
        };
        return;
      }
      this.instance = inst;
      this.prev = genesis(inst);
    }
    if (inst !== undefined && inst !== this.instance) {
      this.problem = {
        line: n,
        kind: 'foreign',
        message: `line ${n} is a record of instance ${JSON.stringify(inst)}, not ${this.instance}`,
      };
      return;
    }
    if (s === seq + 1 && o.record.prev !== this.prev) {
      this.problem =
        seq === 0 && s === 1
          ? {
              line: n,
              kind: 'foreign',
              message: `line ${n} does not start the chain of ${this.instance} (its "prev" is not the instance's genesis): a trail of another instance, or a rewritten one`,
            }
          : {
              line: n,
              kind: 'modified',
              message: `line ${n} does not continue the chain (its "prev" does not match line ${n - 1}'s hash)`,
            };
      return;
    }
    if (s !== seq + 1) {
      if (s > seq + 1) {
        this.missing = seq + 1;
        this.jumpedTo = s;
        this.problem = {
          line: n,
          kind: 'deleted',
          message: `record(s) ${seq + 1}..${s - 1} deleted before line ${n} (sequence jumps from ${seq} to ${s})`,
        };
      } else {
        this.problem = {
          line: n,
          kind: 'reordered',
          message: `line ${n} is out of order (record ${s} after record ${seq}): moved, duplicated or inserted`,
        };
      }
      return;
    }
    const anchored = this.anchors.get(s);
    if (anchored !== undefined) {
      this.anchorsChecked++;
      if (anchored !== o.hash) {
        this.problem = {
          line: n,
          kind: 'rewritten',
          message: `record ${s} at line ${n} disagrees with a signed checkpoint (checkpoint hash ${anchored}, trail hash ${o.hash}): the trail was rewritten`,
        };
        return;
      }
    }
    this.prev = o.hash;
    this.seq = s;
    return { line: n, seq: s, hash: o.hash, text: line, record: o.record };
  }

  result(): VerifyResult {
    const { seq, n, anchors } = this;
    let problem = this.problem;
    if (problem && this.missing !== undefined && this.missingSeen) {
      problem = {
        line: problem.line,
        kind: 'reordered',
        message: `line ${problem.line} is out of order (record ${this.jumpedTo} where record ${this.missing} belongs)`,
      };
    }
    const newest = anchors.size ? Math.max(...anchors.keys()) : undefined;
    if (!problem && newest !== undefined && newest > seq) {
      problem = {
        line: n + 1,
        kind: 'truncated',
        message: `the trail ends at record ${seq} but a signed checkpoint says it had reached record ${newest}: its tail was cut off (or the file was emptied or replaced)`,
      };
    }
    if (!problem && seq === 0) {
      problem = {
        line: 1,
        kind: 'empty',
        message:
          'the trail holds no record: an audit trail is created by its first record, so an empty one was emptied (or replaced)',
      };
    }
    return {
      ok: !problem,
      ...(this.instance !== undefined && this.opts.instance === undefined ? { instance: this.instance } : {}),
      records: seq,
      lines: n,
      ...(problem ? { problem } : {}),
      ...(this.torn !== undefined && !problem ? { torn: this.torn } : {}),
      ...(seq ? { last: { seq, hash: this.prev } } : {}),
      ...(anchors.size ? { checkpoints: { checked: this.anchorsChecked, newest } } : {}),
    };
  }
}

export async function verifyLines(
  lines: AsyncIterable<string> | Iterable<string>,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  const v = new Verifier(opts);
  for await (const raw of lines) v.line(raw);
  return v.result();
}

/**
 * The one verified stream every reader of a trail reads (show, custody, review, promotion
 * evidence, export: ./trail.ts): yields each record once it has verified, in order, and stops
 * yielding at the first problem; a torn last line is never yielded. Its return value is the
 * verdict, which a reader must state when it is not ok: the records yielded before a problem are
 * all that can be trusted, and a problem found only at the end (a checkpoint the trail does not
 * reach) condemns them too. Without `opts.instance` the instance is the one the first record names.
 */
export async function* verifiedRecords(
  lines: AsyncIterable<string> | Iterable<string>,
  opts: VerifyOptions,
): AsyncGenerator<SealedRecord, VerifyResult> {
  const v = new Verifier(opts);
  for await (const raw of lines) {
    const r = v.line(raw);
    if (r) yield r;
  }
  return v.result();
}

/**
 * Verifies a trail file, streaming its bytes: the same rule and the same answers as verifyLines
 * over fileLines, several times faster. A line is first looked at as bytes — the sealed ending
 * (`"seq":N,"prev":"…","hash":"…"}`, the last members of every record the sealer writes), its
 * hash over its own bytes, and each `"instance":` in it naming this instance — and taken when it
 * continues the chain; any other line (not sealed, not matching, another instance, a jump, a
 * checkpoint's position, anything after a problem) is judged by the line-by-line rule. A record is
 * not parsed as JSON on this path: a line whose hash matches its bytes is as the sealer wrote it,
 * or was forged by someone able to reseal the chain, which only checkpoints tell.
 */
export async function verifyFile(file: string | number, opts: VerifyOptions, chunk = 4 << 20): Promise<VerifyResult> {
  const v = new Verifier(opts);
  // the byte-level look needs the instance: asserted, or once the first record has named it
  let fast = opts.instance === undefined ? undefined : new SealedLines(opts.instance);
  const stream =
    typeof file === 'number'
      ? createReadStream('', { fd: file, highWaterMark: chunk, autoClose: false, start: 0 })
      : createReadStream(file, { highWaterMark: chunk });
  let rest: Buffer | undefined;
  for await (const data of stream as AsyncIterable<Buffer>) {
    const buf = rest ? Buffer.concat([rest, data]) : data;
    fast?.chunk(buf);
    let at = 0;
    for (let nl = buf.indexOf(0x0a, at); nl >= 0; nl = buf.indexOf(0x0a, at)) {
      const s = fast?.sealed(buf, at, nl);
      if (!s || !v.continues(s.seq, s.prev, s.hash)) v.line(buf.toString('utf8', at, nl + 1));
      opts.onLine?.(nl + 1 - at);
      if (!fast && v.instance !== undefined) {
        fast = new SealedLines(v.instance);
        fast.chunk(buf.subarray(0));
      }
      at = nl + 1;
    }
    rest = at < buf.length ? buf.subarray(at) : undefined;
  }
  if (rest?.length) v.line(rest.toString('utf8'));
  return v.result();
}

const HASH_MEMBER = Buffer.from(',"hash":"');
const PREV_MEMBER = Buffer.from('"prev":"');
const SEQ_MEMBER = Buffer.from('"seq":');
const INSTANCE_MEMBER = Buffer.from('"instance":');
const HEX_LEN = 64;
// ,"hash":"<64 hex>"}  and  "prev":"<64 hex>"  before it
const HASH_TAIL = HASH_MEMBER.length + HEX_LEN + 2;
const PREV_TAIL = PREV_MEMBER.length + HEX_LEN + 1;

/** The byte-level look at a line (verifyFile): its seq, prev and hash when it is provably sealed. */
class SealedLines {
  private readonly named: Buffer;
  /** where the next `"instance":` in the chunk is (searched once per occurrence, not per line) */
  private nextInstance = -1;

  constructor(instance: string) {
    this.named = Buffer.from(`${JSON.stringify(instance)}`);
  }

  chunk(buf: Buffer): void {
    this.nextInstance = buf.indexOf(INSTANCE_MEMBER);
  }

  sealed(b: Buffer, s: number, e: number): { seq: number; prev: string; hash: string } | undefined {
    const h = e - HASH_TAIL;
    const p = h - PREV_TAIL;
    if (
      p - SEQ_MEMBER.length - 3 < s ||
      b[s] !== 0x7b ||
      b[e - 1] !== 0x7d ||
      b[e - 2] !== 0x22 ||
      b[h - 1] !== 0x22 ||
      b[p - 1] !== 0x2c
    )
      return undefined;
    if (!startsWith(b, h, HASH_MEMBER) || !startsWith(b, p, PREV_MEMBER)) return undefined;
    // "seq":N with N a JSON integer ≥ 1 (no leading zero), after "{" or ","
    let d = p - 1;
    let seq = 0;
    let scale = 1;
    while (d > s && b[d - 1]! >= 0x30 && b[d - 1]! <= 0x39) {
      d--;
      seq += (b[d]! - 0x30) * scale;
      scale *= 10;
    }
    if (d === p - 1 || b[d] === 0x30 || scale > 1e15) return undefined;
    const m = d - SEQ_MEMBER.length;
    if (m - 1 < s || !startsWith(b, m, SEQ_MEMBER) || (b[m - 1] !== 0x2c && !(b[m - 1] === 0x7b && m - 1 === s)))
      return undefined;
    // every "instance": in the line names this instance (a key cannot occur inside a JSON string)
    while (this.nextInstance >= 0 && this.nextInstance < s) this.nextInstance = b.indexOf(INSTANCE_MEMBER, s);
    for (let i = this.nextInstance; i >= 0 && i < e; i = this.nextInstance = b.indexOf(INSTANCE_MEMBER, i + 1)) {
      const v = i + INSTANCE_MEMBER.length;
      const after = b[v + this.named.length];
      if (!startsWith(b, v, this.named) || (after !== 0x2c && after !== 0x7d)) return undefined;
    }
    // the hash is over the line without its hash member: "," becomes "}" for the moment of hashing
    b[h] = 0x7d;
    const hash = sha256(b.subarray(s, h + 1));
    b[h] = 0x2c;
    if (!equalsAt(b, h + HASH_MEMBER.length, hash)) return undefined;
    return { seq, prev: b.toString('latin1', p + PREV_MEMBER.length, p + PREV_MEMBER.length + HEX_LEN), hash };
  }
}

function startsWith(b: Buffer, at: number, what: Buffer): boolean {
  for (let i = 0; i < what.length; i++) if (b[at + i] !== what[i]) return false;
  return true;
}

function equalsAt(b: Buffer, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The lines of a text, each with its "\n" (the last without one when it is torn). */
export function* textLines(text: string): Generator<string> {
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) {
      yield text.slice(at);
      return;
    }
    yield text.slice(at, nl + 1);
    at = nl + 1;
  }
}

/** Streams a file's lines (each with its "\n"), in chunks: memory stays flat however large the file. */
export async function* fileLines(file: string | number, chunk = 1 << 20): AsyncGenerator<string> {
  const stream =
    typeof file === 'number'
      ? createReadStream('', { fd: file, highWaterMark: chunk, autoClose: false, start: 0 })
      : createReadStream(file, { highWaterMark: chunk });
  let rest: Buffer | undefined;
  for await (const data of stream as AsyncIterable<Buffer>) {
    const buf = rest ? Buffer.concat([rest, data]) : data;
    const last = buf.lastIndexOf(0x0a);
    if (last < 0) {
      rest = buf;
      continue;
    }
    // a newline byte never occurs inside a multi-byte UTF-8 sequence: split on bytes, decode once
    yield* textLines(buf.toString('utf8', 0, last + 1));
    rest = last + 1 < buf.length ? buf.subarray(last + 1) : undefined;
  }
  if (rest?.length) yield rest.toString('utf8');
}

/** Verifies a whole text at once (tests, small trails). */
export function verifyText(text: string, opts: VerifyOptions): Promise<VerifyResult> {
  return verifyLines(textLines(text), opts);
}
