// Small JSON state files shared by every process serving an instance (rate windows, idempotency
// keys, suspensions): read-modify-write under an OS-level lock (../base/oslock.ts), written atomically by rename.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { withFileLock } from '../base/oslock.js';

/**
 * Runs `fn` on the file's state under its lock and writes the state back, unless `fn` throws. `fn`
 * may wait (a token exchange): the lock is held (by the OS, never judged stale) meanwhile, and other
 * processes wait for it, up to waitMs.
 */
export async function updateState<S, R>(
  file: string,
  fresh: () => S,
  fn: (state: S) => R | Promise<R>,
  waitMs = 10_000,
): Promise<R> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const update = async (): Promise<R> => {
    let state: S;
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as S;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`state file ${file} is unreadable: ${(e as Error).message}`);
      state = fresh();
    }
    const result = await fn(state);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, file);
    return result;
  };
  return withFileLock(file, update, waitMs);
}
