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
  /** the instance the trail is presented as (its genesis starts the chain) */
  instance: string;
  /** outside anchors: record position → hash the trail must have there */
  anchors?: Map<number, string>;
}

export async function verifyLines(lines: AsyncIterable<string> | Iterable<string>, opts: VerifyOptions): Promise<VerifyResult> {
  const start = genesis(opts.instance);
  const anchors = opts.anchors ?? new Map<number, string>();
  let prev = start;
  let seq = 0;
  let n = 0;
  let torn: number | undefined;
  let problem: Problem | undefined;
  /** after a jump forward: the record that belonged there, looked for further on */
  let missing: number | undefined;
  let jumpedTo = 0;
  let missingSeen = false;
  let anchorsChecked = 0;

  for await (const raw of lines) {
    n++;
    if (problem) {
      if (missing !== undefined && !missingSeen && open(raw.endsWith('\n') ? raw.slice(0, -1) : raw)?.record.seq === missing) missingSeen = true;
      continue;
    }
    if (torn !== undefined) {
      // a "torn" line with more after it was not the end: it is a line without its newline
      problem = { line: torn, kind: 'malformed', message: `line ${torn} is not a sealed audit record (only the last line may be cut off)` };
      continue;
    }
    if (!raw.endsWith('\n')) {
      torn = n;
      continue;
    }
    const line = raw.slice(0, -1);
    const o = open(line);
    if (!o) {
      problem = { line: n, kind: 'malformed', message: `line ${n} is not a sealed audit record (inserted, modified or corrupted)` };
      continue;
    }
    if (sha256(o.body) !== o.hash) {
      problem = { line: n, kind: 'modified', message: `line ${n} was modified: its content no longer matches its hash` };
      continue;
    }
    const s = o.record.seq as number;
    const inst = o.record.instance;
    if (inst !== undefined && inst !== opts.instance) {
      problem = { line: n, kind: 'foreign', message: `line ${n} is a record of instance ${JSON.stringify(inst)}, not ${opts.instance}` };
      continue;
    }
    if (s === seq + 1 && o.record.prev !== prev) {
      problem = seq === 0 && s === 1
        ? { line: n, kind: 'foreign', message: `line ${n} does not start the chain of ${opts.instance} (its "prev" is not the instance's genesis): a trail of another instance, or a rewritten one` }
        : { line: n, kind: 'modified', message: `line ${n} does not continue the chain (its "prev" does not match line ${n - 1}'s hash)` };
      continue;
    }
    if (s !== seq + 1) {
      if (s > seq + 1) {
        missing = seq + 1;
        jumpedTo = s;
        problem = { line: n, kind: 'deleted', message: `record(s) ${seq + 1}..${s - 1} deleted before line ${n} (sequence jumps from ${seq} to ${s})` };
      } else {
        problem = { line: n, kind: 'reordered', message: `line ${n} is out of order (record ${s} after record ${seq}): moved, duplicated or inserted` };
      }
      continue;
    }
    const anchored = anchors.get(s);
    if (anchored !== undefined) {
      anchorsChecked++;
      if (anchored !== o.hash) {
        problem = { line: n, kind: 'rewritten', message: `record ${s} at line ${n} disagrees with a signed checkpoint (checkpoint hash ${anchored}, trail hash ${o.hash}): the trail was rewritten` };
        continue;
      }
    }
    prev = o.hash;
    seq = s;
  }

  if (problem && missing !== undefined && missingSeen) {
    problem = { line: problem.line, kind: 'reordered', message: `line ${problem.line} is out of order (record ${jumpedTo} where record ${missing} belongs)` };
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
    problem = { line: 1, kind: 'empty', message: 'the trail holds no record: an audit trail is created by its first record, so an empty one was emptied (or replaced)' };
  }
  return {
    ok: !problem,
    records: seq,
    lines: n,
    ...(problem ? { problem } : {}),
    ...(torn !== undefined && !problem ? { torn } : {}),
    ...(seq ? { last: { seq, hash: prev } } : {}),
    ...(anchors.size ? { checkpoints: { checked: anchorsChecked, newest } } : {}),
  };
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
  const stream = typeof file === 'number' ? createReadStream('', { fd: file, highWaterMark: chunk, autoClose: false, start: 0 }) : createReadStream(file, { highWaterMark: chunk });
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
