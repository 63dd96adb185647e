// The OS lock every append to a trail takes: one process at a time, and nothing on disk but the
// lock file itself (a take writes no journal beside it).
import { watch } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OsLock } from '../../shared/base/oslock.js';
import { tempDir } from '../helpers.js';

describe('OsLock', () => {
  it('excludes a second holder until the first lets go', () => {
    const file = join(tempDir('fleet-lock-'), 'trail.lock');
    const a = new OsLock(file);
    const b = new OsLock(file);
    expect(a.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    a.release();
    expect(b.tryTake()).toBe(true);
    expect(a.tryTake()).toBe(false);
    b.release();
    a.close();
    b.close();
  });

  it('creates no file beside the lock when taken and let go', async () => {
    const dir = tempDir('fleet-lock-');
    const lock = new OsLock(join(dir, 'trail.lock'));
    expect(lock.tryTake()).toBe(true); // the lock file itself is created here, before watching
    lock.release();
    const seen: string[] = [];
    const watcher = watch(dir, (_event, name) => {
      if (name && name !== 'trail.lock') seen.push(name);
    });
    try {
      for (let i = 0; i < 5; i++) {
        expect(lock.tryTake()).toBe(true);
        lock.release();
      }
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      watcher.close();
      lock.close();
    }
    expect(seen).toEqual([]);
  });
});
