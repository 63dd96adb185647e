// The trail verifier (shared/audit/verify.ts) judged on hand-made trails, each result compared
// whole: the kind, the line and the words of the first problem, what verified before it, and the
// torn/checkpoint fields. Written for the edges the mutation check (docs/mutation.md) found unpinned.
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { genesis, seal } from '../../shared/audit/chain.js';
import { fileLines, textLines, verifyFile, verifyLines, verifyText } from '../../shared/audit/verify.js';
import { tempDir } from '../helpers.js';

const I = 's.dev';
/** n sealed lines of instance I, and each one's hash. */
function chain(n: number, from = genesis(I)) {
  const lines: string[] = [];
  const hashes: string[] = [];
  let prev = from;
  for (let seq = 1; seq <= n; seq++) {
    const s = seal({ instance: I, n: seq }, seq, prev);
    lines.push(s.line);
    hashes.push(s.hash);
    prev = s.hash;
  }
  return { lines, hashes };
}
/** Verifies a trail both ways — its text line by line, and its file as bytes (verifyFile) — which must agree. */
async function verify(lines: string[], anchors?: Map<number, string>) {
  const opts = { instance: I, ...(anchors ? { anchors } : {}) };
  const r = await verifyText(lines.join(''), opts);
  const file = join(tempDir(), 't.jsonl');
  writeFileSync(file, lines.join(''));
  expect(await verifyFile(file, opts)).toStrictEqual(r);
  return r;
}

describe('verifyLines', () => {
  it('accepts an intact trail, naming its last record', async () => {
    const { lines, hashes } = chain(3);
    // strict: no torn or checkpoints member at all, not even undefined
    expect(await verify(lines)).toStrictEqual({ ok: true, records: 3, lines: 3, last: { seq: 3, hash: hashes[2] } });
  });

  it('accepts a torn final line, and says which', async () => {
    const { lines, hashes } = chain(3);
    expect(await verify([...lines.slice(0, 2), lines[2]!.slice(0, 30)])).toEqual({
      ok: true,
      records: 2,
      lines: 3,
      torn: 3,
      last: { seq: 2, hash: hashes[1] },
    });
  });

  it('refuses a cut-off line that is not the last (a source of lines, e.g. a database, can yield one)', async () => {
    const { lines, hashes } = chain(3);
    expect(await verifyLines([lines[0]!, lines[1]!.slice(0, 30), lines[2]!], { instance: I })).toEqual({
      ok: false,
      records: 1,
      lines: 3,
      problem: {
        line: 2,
        kind: 'malformed',
        message: 'line 2 is not a sealed audit record (only the last line may be cut off)',
      },
      last: { seq: 1, hash: hashes[0] },
    });
  });

  it('refuses an inserted line', async () => {
    const { lines } = chain(2);
    expect((await verify([lines[0]!, 'hello\n', lines[1]!])).problem).toEqual({
      line: 2,
      kind: 'malformed',
      message: 'line 2 is not a sealed audit record (inserted, modified or corrupted)',
    });
  });

  it('refuses a modified line', async () => {
    const { lines } = chain(2);
    expect((await verify([lines[0]!, lines[1]!.replace('"n":2', '"n":9')])).problem).toEqual({
      line: 2,
      kind: 'modified',
      message: 'line 2 was modified: its content no longer matches its hash',
    });
  });

  it('refuses a record of another instance', async () => {
    const s = seal({ instance: 'other.dev' }, 1, genesis(I));
    expect((await verify([s.line])).problem).toEqual({
      line: 1,
      kind: 'foreign',
      message: 'line 1 is a record of instance "other.dev", not s.dev',
    });
  });

  it('refuses a chain that starts at another genesis', async () => {
    const { lines } = chain(2, genesis('other.dev'));
    expect(await verify(lines)).toEqual({
      ok: false,
      records: 0,
      lines: 2,
      problem: {
        line: 1,
        kind: 'foreign',
        message:
          'line 1 does not start the chain of s.dev (its "prev" is not the instance\'s genesis): a trail of another instance, or a rewritten one',
      },
    });
  });

  it('refuses a line that does not continue the chain', async () => {
    const { lines } = chain(3);
    const rewritten = seal({ instance: I, n: 2 }, 2, 'f'.repeat(64)).line;
    expect((await verify([lines[0]!, rewritten, lines[2]!])).problem).toEqual({
      line: 2,
      kind: 'modified',
      message: 'line 2 does not continue the chain (its "prev" does not match line 1\'s hash)',
    });
  });

  it('calls records that never come deleted, whatever follows', async () => {
    const { lines, hashes } = chain(5);
    expect(await verify([lines[0]!, lines[3]!, lines[4]!, 'garbage\n'])).toEqual({
      ok: false,
      records: 1,
      lines: 4,
      problem: {
        line: 2,
        kind: 'deleted',
        message: 'record(s) 2..3 deleted before line 2 (sequence jumps from 1 to 4)',
      },
      last: { seq: 1, hash: hashes[0] },
    });
  });

  it('calls a jump whose missing record comes later reordered, even as the torn last line', async () => {
    const { lines } = chain(3);
    const moved = { line: 2, kind: 'reordered', message: 'line 2 is out of order (record 3 where record 2 belongs)' };
    expect((await verify([lines[0]!, lines[2]!, lines[1]!])).problem).toEqual(moved);
    expect((await verify([lines[0]!, lines[2]!, lines[1]!.slice(0, -1)])).problem).toEqual(moved);
  });

  it('refuses a duplicated record', async () => {
    const { lines } = chain(2);
    expect((await verify([lines[0]!, lines[1]!, lines[1]!])).problem).toEqual({
      line: 3,
      kind: 'reordered',
      message: 'line 3 is out of order (record 2 after record 2): moved, duplicated or inserted',
    });
  });

  it('compares the trail with signed checkpoints: agreeing, rewritten, cut short', async () => {
    const { lines, hashes } = chain(3);
    expect(await verify(lines, new Map([[2, hashes[1]!]]))).toEqual({
      ok: true,
      records: 3,
      lines: 3,
      last: { seq: 3, hash: hashes[2] },
      checkpoints: { checked: 1, newest: 2 },
    });
    expect(
      await verify(
        lines,
        new Map([
          [1, hashes[0]!],
          [3, hashes[2]!],
        ]),
      ),
    ).toMatchObject({ ok: true, checkpoints: { checked: 2, newest: 3 } });
    expect((await verify(lines, new Map([[2, 'e'.repeat(64)]]))).problem).toEqual({
      line: 2,
      kind: 'rewritten',
      message: `record 2 at line 2 disagrees with a signed checkpoint (checkpoint hash ${'e'.repeat(64)}, trail hash ${hashes[1]}): the trail was rewritten`,
    });
    expect(await verify(lines.slice(0, 2), new Map([[3, hashes[2]!]]))).toEqual({
      ok: false,
      records: 2,
      lines: 2,
      problem: {
        line: 3,
        kind: 'truncated',
        message:
          'the trail ends at record 2 but a signed checkpoint says it had reached record 3: its tail was cut off (or the file was emptied or replaced)',
      },
      last: { seq: 2, hash: hashes[1] },
      checkpoints: { checked: 0, newest: 3 },
    });
    // a checkpoint at the very end is reached
    expect((await verify(lines, new Map([[3, hashes[2]!]]))).ok).toBe(true);
  });

  it('refuses a trail with no record, and one holding only a torn line', async () => {
    const empty = {
      line: 1,
      kind: 'empty',
      message:
        'the trail holds no record: an audit trail is created by its first record, so an empty one was emptied (or replaced)',
    };
    expect(await verify([])).toEqual({ ok: false, records: 0, lines: 0, problem: empty });
    expect(await verify(['{"seq":1'])).toEqual({ ok: false, records: 0, lines: 1, problem: empty });
  });
});

describe('verifyFile', () => {
  it('agrees with the line-by-line rule on a long trail read in chunks that cut lines anywhere', async () => {
    // records without an instance, naming it, and naming another one only inside an argument
    let prev = genesis(I);
    const lines: string[] = [];
    for (let seq = 1; seq <= 40; seq++) {
      const r =
        seq % 3 === 0
          ? { n: seq }
          : seq % 3 === 1
            ? { instance: I, text: 'é "instance":"x"' }
            : { instance: I, args: { instance: 'other.dev' } };
      const s = seal(r, seq, prev);
      lines.push(s.line);
      prev = s.hash;
    }
    const file = join(tempDir(), 't.jsonl');
    const cases = {
      intact: lines,
      modified: lines.map((l, i) => (i === 20 ? l.replace('"n":21', '"n":22') : l)),
      foreign: lines.map((l, i) =>
        i === 30 ? seal({ instance: 'other.dev' }, 31, JSON.parse(lines[29]!).hash as string).line : l,
      ),
      torn: [...lines.slice(0, 39), lines[39]!.slice(0, 50)],
    };
    for (const [name, ls] of Object.entries(cases)) {
      writeFileSync(file, ls.join(''));
      const expected = await verifyText(ls.join(''), { instance: I });
      for (const chunk of [5, 100, 1 << 20])
        expect(await verifyFile(file, { instance: I }, chunk), `${name}, chunk ${chunk}`).toStrictEqual(expected);
    }
    expect((await verifyFile(file, { instance: I })).ok).toBe(true);
  });
});

describe('reading lines', () => {
  it('textLines keeps each newline and a torn tail', () => {
    expect([...textLines('a\nbc\n')]).toEqual(['a\n', 'bc\n']);
    expect([...textLines('a\n\nb')]).toEqual(['a\n', '\n', 'b']);
    expect([...textLines('')]).toEqual([]);
    expect([...textLines('\nx\n')]).toEqual(['\n', 'x\n']);
  });

  it('fileLines streams a file in chunks that cut lines anywhere, by name or by descriptor', async () => {
    const text = 'first line\nsecond, longer line é\n\nthird\ntorn tail';
    const file = join(tempDir(), 't.jsonl');
    writeFileSync(file, text);
    const expected = [...textLines(text)];
    for (const chunk of [1, 3, 7, 11, 64, 1 << 20]) {
      const got: string[] = [];
      for await (const l of fileLines(file, chunk)) got.push(l);
      expect(got, `chunk ${chunk}`).toEqual(expected);
    }
    const fd = openSync(file, 'r');
    try {
      const got: string[] = [];
      for await (const l of fileLines(fd, 5)) got.push(l);
      expect(got).toEqual(expected);
    } finally {
      closeSync(fd);
    }
    // ending on a newline: no empty tail
    writeFileSync(file, 'a\nb\n');
    const got: string[] = [];
    for await (const l of fileLines(file, 2)) got.push(l);
    expect(got).toEqual(['a\n', 'b\n']);
  });
});
