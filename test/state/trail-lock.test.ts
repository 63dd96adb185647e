// The embedded trail's lock when a writer dies holding it. Several processes append to one trail;
// another has taken the trail's lock (as an appender does) and left half a record when it is
// SIGKILLed. The lock passes at once to exactly one waiter, the torn half is sealed as a recovery
// record, and the chain stays gapless: every record of every writer, once, in one verified chain.
// (A stale-detecting lockfile let two waiters take over a dead holder's lock at once.)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { verifyLines } from '../../shared/audit/verify.js';
import { tempDir } from '../helpers.js';
import { buildWorker } from './contract.js';

let worker: string;
beforeAll(async () => {
  worker = await buildWorker();
}, 60_000);

/** A child running a worker job; resolves `said` once it writes `line` on stdout. */
function child(
  config: string,
  job: string[],
  line: string,
): { proc: ChildProcess; said: Promise<void>; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [worker, config, ...job], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const said = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(line)) resolve();
    });
    void exit.then((code) => reject(new Error(`worker ${job.join(' ')} exited ${code} before saying ${line}: ${err}`)));
  });
  said.catch(() => {});
  const done = exit.then((code) =>
    code === 0 ? code : Promise.reject(new Error(`worker ${job.join(' ')} exited ${code}: ${err}`)),
  );
  done.catch(() => {});
  return { proc, said, exit: done };
}

it('a writer SIGKILLed holding the lock: the waiting writers go on, the chain stays gapless and verifies', async () => {
  const dir = tempDir('fleet-trail-lock-');
  const instance = 'slack.dev';
  const audit = join(dir, `${instance}.jsonl`);
  const config = JSON.stringify({ engine: 'embedded', audit, db: join(dir, `${instance}.db`), instance });
  const WRITERS = 4;
  const EACH = 120;
  // a first writer makes the trail, so the holder's torn half follows a sealed record
  await child(config, ['append', '5'], 'started').exit;
  for (let round = 0; round < 2; round++) {
    const holder = child(config, ['hold', 'torn'], 'held');
    await holder.said;
    const writers = Array.from({ length: WRITERS }, () => child(config, ['append', String(EACH)], 'started'));
    await Promise.all(writers.map((w) => w.said));
    holder.proc.kill('SIGKILL');
    await expect(holder.exit).rejects.toThrow('exited null');
    await Promise.all(writers.map((w) => w.exit));
  }
  const lines = readFileSync(audit, 'utf8').split(/(?<=\n)/);
  const records = lines.map(
    (l) => JSON.parse(l) as { seq: number; call?: string; phase: string; writer?: number; torn?: { text: string } },
  );
  const v = await verifyLines(lines, { instance });
  expect(v, JSON.stringify(v.problem)).toMatchObject({ ok: true, records: 5 + 2 * WRITERS * EACH + 2 });
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
  // each writer's records, every one of them, once
  const calls = records.filter((r) => r.call).map((r) => r.call!);
  expect(new Set(calls).size).toBe(calls.length);
  const byWriter = new Map<number, number>();
  for (const r of records) if (r.writer) byWriter.set(r.writer, (byWriter.get(r.writer) ?? 0) + 1);
  expect([...byWriter.values()].sort()).toEqual([5, ...Array(2 * WRITERS).fill(EACH)].sort());
  // the killed holders' halves, sealed where they were left
  const recovered = records.filter((r) => r.phase === 'recovery');
  expect(recovered.map((r) => r.torn!.text)).toEqual([
    '{"v":1,"instance":"half a rec',
    '{"v":1,"instance":"half a rec',
  ]);
}, 90_000);

it('a holder stopped for longer than any staleness keeps the lock: nobody writes until it lets go', async () => {
  const dir = tempDir('fleet-trail-lock-');
  const instance = 'slack.dev';
  const audit = join(dir, `${instance}.jsonl`);
  const config = JSON.stringify({ engine: 'embedded', audit, db: join(dir, `${instance}.db`), instance });
  await child(config, ['append', '3'], 'started').exit;
  const holder = child(config, ['hold', 'check'], 'held');
  await holder.said;
  const writers = Array.from({ length: 3 }, () => child(config, ['append', '40'], 'started'));
  await Promise.all(writers.map((w) => w.said));
  // a holder whose process is stopped (a stalled event loop, a paused VM) is alive: its lock is
  // its own for as long as it takes; a lockfile judged stale after a few seconds would be taken over
  holder.proc.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 3000));
  holder.proc.kill('SIGCONT');
  holder.proc.stdin!.write('release\n');
  expect(await holder.exit).toBe(0);
  await Promise.all(writers.map((w) => w.exit));
  const lines = readFileSync(audit, 'utf8').split(/(?<=\n)/);
  expect(await verifyLines(lines, { instance })).toMatchObject({ ok: true, records: 3 + 3 * 40 });
}, 60_000);
