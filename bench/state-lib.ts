// The bench's view of the state engines (bundled by bench/state.mjs): the two engines, plus the two
// designs they were measured against — the whole-file JSON key store they replace, and per-key
// files (the other candidate for the embedded default).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Libsql from 'libsql';
import pg from 'pg';
import { EmbeddedState } from '../shared/state/embedded.js';
import { migrate, PostgresState } from '../shared/state/postgres.js';
import { withFileLock } from '../shared/base/oslock.js';
import { selfOwner } from '../shared/state/owner.js';
import { emptyHead, seal } from '../shared/audit/chain.js';
import { verifyLines } from '../shared/audit/verify.js';

export { EmbeddedState, migrate, PostgresState, verifyLines };

/**
 * Puts a sealed trail of `n` records for `instance` into PostgreSQL directly (the set-up of the
 * streaming-reader measure, not what it times), each record about the size of a real call's.
 */
export async function prefillPgTrail(url: string, instance: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    let head = emptyHead(instance);
    for (let from = 0; from < n; from += 2000) {
      const values: unknown[] = [instance];
      const rows: string[] = [];
      for (let i = from; i < Math.min(n, from + 2000); i++) {
        const s = seal(
          {
            ts: new Date(1767226320000 + i).toISOString(),
            call: `c-${i}`,
            instance,
            phase: 'outcome',
            tool: 'post_message',
            outcome: 'ok',
            args: { channel: 'C0DEVBOTTEST', text: { len: 240, sha256: 'ab'.repeat(32) } },
          },
          head.seq + 1,
          head.hash,
        );
        head = { seq: head.seq + 1, hash: s.hash };
        values.push(head.seq, s.hash, s.line.slice(0, -1));
        const k = values.length;
        rows.push(`($1, $${k - 2}, $${k - 1}, $${k})`);
      }
      await c.query(`INSERT INTO fleet_audit (instance, seq, hash, line) VALUES ${rows.join(', ')}`, values);
    }
  } finally {
    await c.end();
  }
}

export const RESULT = {
  content: [{ type: 'text', text: 'posted to C0DEVBOTTEST at 1767226320.000112' }],
  structuredContent: { channel: 'C0DEVBOTTEST', ts: '1767226320.000112', status: 'completed' },
};
const resultText = JSON.stringify(RESULT);

/** Puts `n` done keys into an embedded database directly (the bench's set-up, not what it times). */
export function prefillSqlite(dbFile: string, n: number): void {
  const db = new Libsql(dbFile);
  const at = Date.now();
  const ins = db.prepare("INSERT INTO keys (key, args, state, owner, at, result) VALUES (?, 'fp', 'done', ?, ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(`old-${i}`, selfOwner(), at, resultText);
  })();
  db.close();
}

export async function prefillPg(url: string, instance: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(
    "INSERT INTO fleet_keys (instance, key, args, state, owner, at, result) SELECT $1, 'old-' || g, 'fp', 'done', 1, $2, $3 FROM generate_series(1, $4) g",
    [instance, Date.now(), resultText, n],
  );
  await c.end();
}

/** The key store this work replaces: one JSON file, read and rewritten whole under a lock. */
export class WholeFileKeys {
  constructor(readonly file: string) {}
  prefill(n: number): void {
    const keys: Record<string, unknown> = {};
    for (let i = 0; i < n; i++)
      keys[`old-${i}`] = { args: 'fp', state: 'done', pid: 1, start: null, at: Date.now(), result: RESULT };
    writeFileSync(this.file, JSON.stringify(keys));
  }
  private async update(fn: (keys: Record<string, any>) => void): Promise<void> {
    await withFileLock(this.file, () => {
      let keys: Record<string, any> = {};
      try {
        keys = JSON.parse(readFileSync(this.file, 'utf8'));
      } catch {
        /* fresh */
      }
      fn(keys);
      writeFileSync(`${this.file}.tmp`, JSON.stringify(keys));
      renameSync(`${this.file}.tmp`, this.file);
    });
  }
  async keyed(key: string): Promise<void> {
    await this.update((k) => (k[key] = { args: 'fp', state: 'running', pid: process.pid, at: Date.now() }));
    await this.update((k) => Object.assign(k[key], { state: 'done', result: RESULT }));
  }
}

/** The other candidate: one file per key (O_EXCL claims, fsync'd, renamed into place). */
export class PerKeyFiles {
  constructor(readonly dir: string) {}
  private path(key: string): string {
    const h = createHash('sha256').update(key).digest('hex');
    return join(this.dir, h.slice(0, 2), `${h}.json`);
  }
  private put(file: string, text: string, exclusive: boolean): void {
    const fd = openSync(exclusive ? file : `${file}.tmp`, exclusive ? 'wx' : 'w', 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    if (!exclusive) renameSync(`${file}.tmp`, file);
  }
  prefill(n: number): void {
    for (let i = 0; i < n; i++) {
      const f = this.path(`old-${i}`);
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, JSON.stringify({ args: 'fp', state: 'done', owner: '1:', at: Date.now(), result: RESULT }));
    }
  }
  async keyed(key: string): Promise<void> {
    const f = this.path(key);
    mkdirSync(join(f, '..'), { recursive: true });
    this.put(f, JSON.stringify({ args: 'fp', state: 'running', owner: selfOwner(), at: Date.now() }), true);
    this.put(
      f,
      JSON.stringify({ args: 'fp', state: 'done', owner: selfOwner(), at: Date.now(), result: RESULT }),
      false,
    );
  }
}
