// `fleet audit verify` speed and memory: a sealed trail of the given size is verified (streaming,
// in its own process) and hashed by `sha256sum` in the same run. Memory: the verifying process runs
// with its V8 heap capped at HEAP_MB, far below the trail's size, so it can only finish if it holds
// no more than a chunk at a time; its peak RSS is set beside that of a trail 1/16 the size.
import { execFile, spawn } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { baseEnv } from './targets.mjs';

const WORKER = fileURLToPath(new URL('./verify-worker.mjs', import.meta.url));
export const HEAP_MB = 64;
const run = promisify(execFile);

function verifyIn(libFile, file) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, WORKER, libFile, file], {
      env: baseEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`verify worker exited with ${code}`)),
    );
  });
}

async function sha256sum(file) {
  const t0 = performance.now();
  try {
    await run('sha256sum', [file], { maxBuffer: 1 << 20 });
  } catch (e) {
    return { error: `sha256sum unavailable: ${/** @type {Error} */ (e).message.split('\n')[0]}` };
  }
  return { seconds: (performance.now() - t0) / 1000 };
}

/** @param o.mb trail size in MiB */
export async function verifySpeed({ lib, libFile, dir, mb }) {
  const big = join(dir, 'verify-big.jsonl');
  const small = join(dir, 'verify-small.jsonl');
  try {
    const made = await lib.makeTrail(big, mb * 1024 * 1024);
    await lib.makeTrail(small, Math.max(1, Math.floor((mb * 1024 * 1024) / 16)));
    const sizeMB = statSync(big).size / (1024 * 1024);
    const smallMB = statSync(small).size / (1024 * 1024);
    // once each to warm the page cache, then measured: both read the same cached bytes
    await sha256sum(big);
    const hash = await sha256sum(big);
    const v = await verifyIn(libFile, big);
    const vs = await verifyIn(libFile, small);
    return {
      sizeMB,
      records: made.records,
      verify: {
        seconds: v.seconds,
        mbPerS: sizeMB / v.seconds,
        ok: v.ok && v.records === made.records,
        maxRssMB: v.maxRssMB,
        heapCapMB: HEAP_MB,
      },
      small: { sizeMB: smallMB, maxRssMB: vs.maxRssMB, ok: vs.ok },
      sha256sum: 'error' in hash ? hash : { seconds: hash.seconds, mbPerS: sizeMB / hash.seconds },
    };
  } finally {
    rmSync(big, { force: true });
    rmSync(small, { force: true });
  }
}
