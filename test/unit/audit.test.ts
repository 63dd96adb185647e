import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../shared/audit/log.js';
import { fileLines, verifyFile, verifyLines, verifyText } from '../../shared/audit/verify.js';
import { genesis, seal } from '../../shared/audit/chain.js';
import { readCalls } from '../../shared/audit/read.js';
import { ROOT, tempDir } from '../helpers.js';

const run = promisify(execFile);

const INSTANCE = 'test.dev';
async function writeLog(n: number, instance = INSTANCE): Promise<string> {
  const file = join(tempDir(), 'a.jsonl');
  const log = new AuditLog(file, instance);
  for (let i = 1; i <= n; i++)
    await log.append({ call: `c${i}`, phase: 'decision', decision: 'deny', tool: 't', rule: `r${i}` });
  log.close();
  return file;
}
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const rewrite = (file: string, ls: string[], tail = '\n') => writeFileSync(file, ls.join('\n') + tail);
/** The trail judged line by line, and as bytes (verifyFile, what `fleet audit verify` runs): the two must agree. */
async function check(file: string, anchors?: Map<number, string>, instance = INSTANCE) {
  const r = await verifyText(readFileSync(file, 'utf8'), { instance, anchors });
  expect(await verifyFile(file, { instance, anchors })).toStrictEqual(r);
  return r;
}
/** a line re-sealed after an edit, as an attacker without any key can */
function reseal(line: string, edit: (r: Record<string, unknown>) => void, prev?: string): string {
  const r = JSON.parse(line);
  edit(r);
  return seal(r, r.seq, prev ?? r.prev).line.trimEnd();
}
/** the whole trail re-chained from the instance's genesis: what anyone who can write the file can do */
function rechain(ls: string[], instance = INSTANCE): string[] {
  let head = { seq: 0, hash: genesis(instance) };
  return ls.map((l) => {
    const s = seal(JSON.parse(l), head.seq + 1, head.hash);
    head = { seq: head.seq + 1, hash: s.hash };
    return s.line.trimEnd();
  });
}
const hashes = (file: string) =>
  new Map(lines(file).map((l) => [JSON.parse(l).seq as number, JSON.parse(l).hash as string]));

describe('audit hash chain', () => {
  it('verifies an intact file', async () => {
    const file = await writeLog(5);
    const lastLine = JSON.parse(lines(file).at(-1)!);
    expect(await check(file)).toEqual({ ok: true, records: 5, lines: 5, last: { seq: 5, hash: lastLine.hash } });
  });

  it("starts every chain at its instance's genesis", async () => {
    const file = await writeLog(1, 'slack.prod');
    expect(JSON.parse(lines(file)[0]!).prev).toBe(genesis('slack.prod'));
    expect(genesis('slack.prod')).not.toBe(genesis('slack.dev'));
  });

  // The tamper corpus: each alteration, the verdict without and with signed checkpoints' anchors.
  const corpus: [
    string,
    (file: string) => void,
    { line: number; kind: string } | 'ok',
    { line: number; kind: string } | 'ok',
  ][] = [
    [
      'a line edited',
      (f) => {
        const ls = lines(f);
        ls[2] = ls[2]!.replace('"rule":"r3"', '"rule":"rX"');
        rewrite(f, ls);
      },
      { line: 3, kind: 'modified' },
      { line: 3, kind: 'modified' },
    ],
    [
      'a line edited and its hash recomputed',
      (f) => {
        const ls = lines(f);
        ls[1] = reseal(ls[1]!, (r) => (r.rule = 'ok'));
        rewrite(f, ls);
      },
      { line: 3, kind: 'modified' },
      { line: 2, kind: 'rewritten' },
    ],
    [
      'a line deleted',
      (f) => {
        const ls = lines(f);
        ls.splice(1, 1);
        rewrite(f, ls);
      },
      { line: 2, kind: 'deleted' },
      { line: 2, kind: 'deleted' },
    ],
    [
      'the first line deleted',
      (f) => rewrite(f, lines(f).slice(1)),
      { line: 1, kind: 'deleted' },
      { line: 1, kind: 'deleted' },
    ],
    [
      'two lines swapped',
      (f) => {
        const ls = lines(f);
        [ls[2], ls[3]] = [ls[3]!, ls[2]!];
        rewrite(f, ls);
      },
      { line: 3, kind: 'reordered' },
      { line: 3, kind: 'reordered' },
    ],
    [
      'a line duplicated',
      (f) => {
        const ls = lines(f);
        ls.splice(3, 0, ls[2]!);
        rewrite(f, ls);
      },
      { line: 4, kind: 'reordered' },
      { line: 4, kind: 'reordered' },
    ],
    [
      'a complete, well-formed unsealed record inserted mid-trail',
      (f) => {
        const ls = lines(f);
        ls.splice(2, 0, JSON.stringify({ v: 1, call: 'x', phase: 'decision', decision: 'allow' }));
        rewrite(f, ls);
      },
      { line: 3, kind: 'malformed' },
      { line: 3, kind: 'malformed' },
    ],
    [
      'a sealed record inserted mid-trail, chained to the line before it',
      (f) => {
        const ls = lines(f);
        const before = JSON.parse(ls[1]!);
        ls.splice(2, 0, seal({ call: 'x', instance: INSTANCE }, before.seq + 1, before.hash).line.trimEnd());
        rewrite(f, ls);
      },
      { line: 4, kind: 'reordered' },
      { line: 3, kind: 'rewritten' },
    ],
    [
      'a torn fragment inserted mid-trail',
      (f) => {
        const ls = lines(f);
        ls.splice(2, 0, '{"v":1,"call":"torn","pha');
        rewrite(f, ls);
      },
      { line: 3, kind: 'malformed' },
      { line: 3, kind: 'malformed' },
    ],
    [
      'a blank line inserted',
      (f) => {
        const ls = lines(f);
        ls.splice(2, 0, '');
        rewrite(f, ls);
      },
      { line: 3, kind: 'malformed' },
      { line: 3, kind: 'malformed' },
    ],
    ['the file emptied', (f) => writeFileSync(f, ''), { line: 1, kind: 'empty' }, { line: 1, kind: 'truncated' }],
    [
      'the tail cut off at a line boundary',
      (f) => rewrite(f, lines(f).slice(0, 3)),
      'ok',
      { line: 4, kind: 'truncated' },
    ],
    [
      'a record removed and the rest re-chained',
      (f) => {
        const ls = lines(f);
        ls.splice(2, 1);
        rewrite(f, rechain(ls));
      },
      'ok',
      { line: 3, kind: 'rewritten' },
    ],
    [
      'a record edited and the whole trail re-chained',
      (f) => {
        const ls = lines(f);
        ls[3] = ls[3]!.replace('"rule":"r4"', '"rule":"rX"');
        rewrite(f, rechain(ls));
      },
      'ok',
      { line: 4, kind: 'rewritten' },
    ],
    [
      'the file replaced by another valid chain of the same instance',
      (f) => {
        const ls = lines(f).map((l) => l.replace(/"rule":"r/, '"rule":"other'));
        rewrite(f, rechain([...ls, ...ls]));
      },
      'ok',
      { line: 1, kind: 'rewritten' },
    ],
    [
      "the file replaced by another instance's trail (slack.dev's under test.dev)",
      (f) => {
        const ls = lines(f).map((l) => {
          const r = JSON.parse(l);
          delete r.hash;
          return JSON.stringify(r);
        });
        rewrite(f, rechain(ls, 'slack.dev'));
      },
      { line: 1, kind: 'foreign' },
      { line: 1, kind: 'foreign' },
    ],
    [
      'a record naming another instance',
      (f) => {
        const ls = lines(f);
        ls[1] = reseal(ls[1]!, (r) => (r.instance = 'slack.prod'));
        rewrite(f, ls);
      },
      { line: 2, kind: 'foreign' },
      { line: 2, kind: 'foreign' },
    ],
  ];
  it.each(corpus)('%s', async (_what, alter, without, withAnchors) => {
    const file = await writeLog(5);
    const anchors = hashes(file);
    alter(file);
    const verdict = (r: Awaited<ReturnType<typeof check>>) =>
      r.ok ? 'ok' : { line: r.problem!.line, kind: r.problem!.kind };
    expect(verdict(await check(file))).toEqual(without);
    expect(verdict(await check(file, anchors))).toEqual(withAnchors);
  });

  it('names the trail of another instance even when it is intact', async () => {
    const file = await writeLog(3, 'slack.dev');
    const r = await check(file, undefined, 'slack.prod');
    expect(r.problem).toMatchObject({ line: 1, kind: 'foreign' });
    expect(r.problem!.message).toMatch(/not the instance's genesis/);
  });

  it('accepts a last line cut off mid-write, and nothing else unsealed', async () => {
    const file = await writeLog(4);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length - 40));
    const r = await check(file);
    expect(r).toMatchObject({ ok: true, records: 3, torn: 4 });
  });

  it('seals a record of a torn tail before it appends again, and the trail verifies strictly', async () => {
    const file = await writeLog(3);
    appendFileSync(file, '{"v":1,"call":"torn","pha');
    const log = new AuditLog(file, INSTANCE);
    await log.append({ call: 'after', phase: 'decision', decision: 'allow', tool: 't' });
    log.close();
    const r = await check(file);
    expect(r).toMatchObject({ ok: true, records: 5, lines: 5 });
    const recovery = JSON.parse(lines(file)[3]!);
    expect(recovery).toMatchObject({
      seq: 4,
      phase: 'recovery',
      torn: { bytes: 25, text: '{"v":1,"call":"torn","pha' },
    });
  });

  it('streams: verifies records from any async source of lines', async () => {
    const file = await writeLog(3);
    async function* source() {
      for (const l of lines(file)) yield `${l}\n`;
    }
    expect(await verifyLines(source(), { instance: INSTANCE })).toMatchObject({ ok: true, records: 3 });
    expect(await verifyLines(fileLines(file, 64), { instance: INSTANCE })).toMatchObject({ ok: true, records: 3 });
  });

  it('resolves an append only once its record is on stable storage, one fdatasync serving many concurrent appends', async () => {
    const file = join(tempDir(), 'durable.jsonl');
    const log = new AuditLog(file, INSTANCE);
    const durableAt = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        log.append({ call: `c${i}` }).then(() => durableAt.set(`c${i}`, log.durable!.seq)),
      ),
    );
    log.close();
    expect(log.written).toBe(64);
    // each append resolved after a sync that covered its own record
    const seqOf = new Map(lines(file).map((l) => [JSON.parse(l).call as string, JSON.parse(l).seq as number]));
    for (const [call, seq] of seqOf) expect(durableAt.get(call), call).toBeGreaterThanOrEqual(seq);
    expect(log.durable!.seq).toBe(64);
    expect(log.syncs).toBeGreaterThan(0);
    expect(log.syncs).toBeLessThan(64);
  });

  it('fails closed when the file cannot be written', async () => {
    const notADir = join(tempDir(), 'file');
    writeFileSync(notADir, '');
    const log = new AuditLog(join(notADir, 'sub', 'a.jsonl'), INSTANCE);
    await expect(log.append({ call: 'x' })).rejects.toThrow(/cannot be written/);
  });

  it('joins decision, intent and outcome into calls, marking missing outcomes unknown', async () => {
    const file = join(tempDir(), 'calls.jsonl');
    const log = new AuditLog(file, INSTANCE);
    await log.append({
      call: 'a',
      time: '2026-01-01T00:00:00Z',
      tool: 'post_message',
      phase: 'intent',
      decision: 'allow',
    });
    await log.append({ call: 'a', phase: 'outcome', outcome: 'ok', duration_ms: 3 });
    await log.append({
      call: 'b',
      time: '2026-01-01T00:00:01Z',
      tool: 'post_message',
      phase: 'intent',
      decision: 'allow',
    });
    await log.append({
      call: 'c',
      time: '2026-01-01T00:00:02Z',
      tool: 'read_history',
      phase: 'decision',
      decision: 'deny',
      rule: 'attribution',
    });
    log.close();
    const rows = readCalls(readFileSync(file, 'utf8'));
    expect(rows.map((r) => [r.call, r.decision, r.outcome])).toEqual([
      ['a', 'allow', 'ok'],
      ['b', 'allow', 'unknown'],
      ['c', 'deny', '-'],
    ]);
  });

  it('keeps the chain intact with 4 processes appending 1,000 records each', async () => {
    const dir = tempDir();
    const writer = join(dir, 'writer.mjs');
    await build({
      entryPoints: [join(ROOT, 'test/fixtures/audit-writer.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: writer,
      banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
      logLevel: 'error',
    });
    const file = join(dir, 'shared.jsonl');
    await Promise.all([0, 1, 2, 3].map((i) => run(process.execPath, [writer, file, '1000', `w${i}`])));
    const text = readFileSync(file, 'utf8');
    const r = await verifyText(text, { instance: 'test.dev' });
    expect(r).toMatchObject({ ok: true, records: 4000, lines: 4000 });
    const writers = new Set(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).writer),
    );
    expect(writers).toEqual(new Set(['w0', 'w1', 'w2', 'w3']));
  }, 60_000);
});
