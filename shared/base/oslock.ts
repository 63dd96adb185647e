// A lock shared by every process on this machine, held by the operating system rather than by a
// file that says "locked": SQLite's own locking (fcntl byte-range locks on POSIX) on a small lock
// database, taken by opening an IMMEDIATE transaction and let go by ending it. The kernel releases
// it when its holder's process ends, however it ends (SIGKILL, a crash), at once and to exactly one
// waiter: no lock goes "stale", so no two waiters can both take over a dead holder's lock, and a
// live holder whose event loop stalls keeps it (a stale-detecting lockfile would hand it to another).
// Within one process, two OsLocks on one file exclude each other too (SQLite tracks its locks per
// inode). The driver (libsql) is native: loaded on the first take, never in the start-up snapshot.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Libsql from 'libsql';
import { installRequire } from './install.js';

let driver: typeof Libsql | undefined;
/** From the installation; code bundled outside it (a test's or the bench's worker) looks from the working directory. */
function load(): typeof Libsql {
  if (driver) return driver;
  try {
    return (driver = installRequire()('libsql') as typeof Libsql);
  } catch (e) {
    try {
      return (driver = createRequire(join(process.cwd(), 'package.json'))('libsql') as typeof Libsql);
    } catch {
      throw e;
    }
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LockTimeout extends Error {
  readonly code = 'ELOCKED';
}

export class OsLock {
  private db: Libsql.Database | undefined;
  constructor(readonly file: string) {}

  /** Takes the lock when it is free; false when another holder (any process, or this one) has it. */
  tryTake(): boolean {
    if (!this.db) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      // busy timeout 0: a held lock answers SQLITE_BUSY at once, and waiting is done here, without
      // blocking the event loop
      this.db = new (load())(this.file, { timeout: 0 });
      // nothing is ever written to it: with the default journal, every take created, wrote, chowned
      // and deleted a journal file (40 µs a cycle here); in memory, a take is the fcntl locks alone
      this.db.pragma('journal_mode = MEMORY');
    }
    if (this.db.inTransaction) return true;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_BUSY') return false;
      throw e;
    }
  }

  /** Waits (polling, 1 → 4 ms) until the lock is taken, or throws LockTimeout after waitMs. */
  async take(waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (let wait = 1; !this.tryTake(); wait = Math.min(wait * 2, 4)) {
      if (Date.now() > deadline)
        throw new LockTimeout(
          `the lock ${this.file} stayed held by another process for ${Math.round(waitMs / 1000)} s`,
        );
      await sleep(wait);
    }
  }

  get held(): boolean {
    return !!this.db?.inTransaction;
  }

  release(): void {
    if (this.db?.inTransaction) this.db.exec('ROLLBACK');
  }

  close(): void {
    this.release();
    this.db?.close();
    this.db = undefined;
  }
}

/** Runs fn under the lock of `file` (its lock database beside it), taken within waitMs. */
export async function withFileLock<R>(file: string, fn: () => R | Promise<R>, waitMs = 15_000): Promise<R> {
  const lock = new OsLock(lockPath(file));
  try {
    await lock.take(waitMs);
    return await fn();
  } finally {
    lock.close();
  }
}

/** Where the lock of a file lives: beside it (not `.lock`, which older versions left as a directory). */
export const lockPath = (file: string) => `${file}.oslock`;
