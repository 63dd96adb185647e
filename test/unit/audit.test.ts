import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../shared/audit/log.js';
import { verifyChain } from '../../shared/audit/verify.js';
import { readCalls } from '../../shared/audit/read.js';
import { ROOT, tempDir } from '../helpers.js';

const run = promisify(execFile);

async function writeLog(n: number): Promise<string> {
  const file = join(tempDir(), 'a.jsonl');
  const log = new AuditLog(file);
  for (let i = 1; i <= n; i++) await log.append({ call: `c${i}`, phase: 'decision', decision: 'deny', tool: 't', rule: `r${i}` });
  log.close();
  return file;
}
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const rewrite = (file: string, ls: string[], tail = '\n') => writeFileSync(file, ls.join('\n') + tail);

describe('audit hash chain', () => {
  it('verifies an intact file', async () => {
    const file = await writeLog(5);
    const lastLine = JSON.parse(lines(file).at(-1)!);
    expect(verifyChain(readFileSync(file, 'utf8'))).toEqual({ ok: true, records: 5, interrupted: [], last: { seq: 5, hash: lastLine.hash } });
  });

  it('names a modified line', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    ls[2] = ls[2]!.replace('"rule":"r3"', '"rule":"rX"');
    rewrite(file, ls);
    expect(verifyChain(readFileSync(file, 'utf8')).problem).toMatchObject({ line: 3, kind: 'modified' });
  });

  it('names a modified line even when the attacker recomputes its hash', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    const { createHash } = await import('node:crypto');
    const body = ls[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}').replace('"rule":"r2"', '"rule":"ok"');
    ls[1] = `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`;
    rewrite(file, ls);
    expect(verifyChain(readFileSync(file, 'utf8')).problem).toMatchObject({ line: 3, kind: 'modified' });
  });

  it('names a deleted line', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    ls.splice(1, 1);
    rewrite(file, ls);
    expect(verifyChain(readFileSync(file, 'utf8')).problem).toMatchObject({ line: 2, kind: 'deleted' });
  });

  it('names a deleted first line', async () => {
    const file = await writeLog(3);
    rewrite(file, lines(file).slice(1));
    expect(verifyChain(readFileSync(file, 'utf8')).problem).toMatchObject({ line: 1, kind: 'deleted' });
  });

  it('names a reordered pair', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    [ls[2], ls[3]] = [ls[3]!, ls[2]!];
    rewrite(file, ls);
    expect(verifyChain(readFileSync(file, 'utf8')).problem).toMatchObject({ line: 3, kind: 'reordered' });
    const swapped = lines(file);
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    rewrite(file, swapped);
    expect(verifyChain(readFileSync(file, 'utf8')).ok).toBe(true);
  });

  it('reports a last line cut off mid-write as an interrupted write, not tampering', async () => {
    const file = await writeLog(4);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length - 40));
    const r = verifyChain(readFileSync(file, 'utf8'));
    expect(r.ok).toBe(true);
    expect(r.interrupted).toEqual([4]);
    expect(r.records).toBe(3);
  });

  it('continues the chain past a torn line, and verify still passes', async () => {
    const file = await writeLog(3);
    appendFileSync(file, '{"v":1,"call":"torn","pha');
    const log = new AuditLog(file);
    await log.append({ call: 'after', phase: 'decision', decision: 'allow', tool: 't' });
    log.close();
    const r = verifyChain(readFileSync(file, 'utf8'));
    expect(r).toMatchObject({ ok: true, records: 4, interrupted: [4] });
  });

  it('fails closed when the file cannot be written', async () => {
    const notADir = join(tempDir(), 'file');
    writeFileSync(notADir, '');
    const log = new AuditLog(join(notADir, 'sub', 'a.jsonl'));
    await expect(log.append({ call: 'x' })).rejects.toThrow(/cannot be written/);
  });

  it('joins decision, intent and outcome into calls, marking missing outcomes unknown', async () => {
    const file = join(tempDir(), 'calls.jsonl');
    const log = new AuditLog(file);
    await log.append({ call: 'a', time: '2026-01-01T00:00:00Z', tool: 'post_message', phase: 'intent', decision: 'allow' });
    await log.append({ call: 'a', phase: 'outcome', outcome: 'ok', duration_ms: 3 });
    await log.append({ call: 'b', time: '2026-01-01T00:00:01Z', tool: 'post_message', phase: 'intent', decision: 'allow' });
    await log.append({ call: 'c', time: '2026-01-01T00:00:02Z', tool: 'read_history', phase: 'decision', decision: 'deny', rule: 'attribution' });
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
    await build({ entryPoints: [join(ROOT, 'test/fixtures/audit-writer.ts')], bundle: true, platform: 'node', format: 'esm', outfile: writer,
      banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" }, logLevel: 'error' });
    const file = join(dir, 'shared.jsonl');
    await Promise.all([0, 1, 2, 3].map((i) => run(process.execPath, [writer, file, '1000', `w${i}`])));
    const text = readFileSync(file, 'utf8');
    const r = verifyChain(text);
    expect(r).toMatchObject({ ok: true, records: 4000, interrupted: [] });
    const writers = new Set(text.split('\n').filter(Boolean).map((l) => JSON.parse(l).writer));
    expect(writers).toEqual(new Set(['w0', 'w1', 'w2', 'w3']));
  }, 60_000);
});
