// Audit throughput: events per second appended to one file through shared/audit/log.ts by 1 and
// by N processes at once, each event awaited (sealed, locked, written) before the next, then the
// whole chain checked. Processes, not promises: the lock that keeps the chain intact is between
// processes serving the same instance.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseEnv } from './targets.mjs';

const WORKER = fileURLToPath(new URL('./audit-worker.mjs', import.meta.url));

function worker(libFile, file, count) {
  const child = spawn(process.execPath, [WORKER, libFile, file, String(count)], {
    env: baseEnv(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      waiters.shift()?.();
    }
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const next = (want) =>
    new Promise((resolve, reject) => {
      const check = () =>
        lines.length
          ? lines.shift() === want
            ? resolve(undefined)
            : reject(new Error(`audit worker said something else than ${want}`))
          : waiters.push(check);
      void exited.then((code) => reject(new Error(`audit worker exited with ${code}`)));
      check();
    });
  return { child, next, exited };
}

/** Runs `processes` workers appending `perProcess` events each to one file. */
export async function auditThroughput({ lib, libFile, dir, processes, perProcess }) {
  const file = join(dir, `audit-${processes}p.jsonl`);
  rmSync(file, { force: true });
  const workers = Array.from({ length: processes }, () => worker(libFile, file, perProcess));
  await Promise.all(workers.map((w) => w.next('ready')));
  const t0 = performance.now();
  for (const w of workers) w.child.stdin.write('go\n');
  await Promise.all(workers.map((w) => w.next('done')));
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(workers.map((w) => w.exited));
  const total = processes * perProcess;
  const chain = await lib.checkChain(file);
  return {
    processes,
    events: total,
    seconds,
    perSecond: total / seconds,
    intact: chain.ok && chain.records === total,
    chain,
  };
}
