// The embedded state engine, for one machine: no server, nothing to set up.
// - The audit trail is the JSONL file `fleet audit verify` reads (shared/audit/log.ts appends it).
// - Keys, rate windows, approvals and checkpoints live in one SQLite database per instance
//   (the libsql driver: SQLite behind better-sqlite3's API, prebuilt per platform on npm), in WAL
//   mode with synchronous=FULL: several processes serving the instance on this machine share it
//   safely (each change is one IMMEDIATE transaction), a committed change survives a power loss,
//   and every operation is an index lookup, so a keyed write costs the same with 0 or 100,000 keys kept (README "State" gives the measurement that chose it over per-key files).
// The driver is native: it is loaded on first use, never before tools/list, never in the start-up
// snapshot.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type Libsql from 'libsql';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditLog } from '../audit/log.js';
import { installRequire } from '../base/install.js';
import { emptyHead, open } from '../audit/chain.js';
import { fileLines } from '../audit/verify.js';
import { ownerAlive, selfOwner } from './owner.js';
import {
  approvalFromRow,
  KEEP_MS,
  taskFromRow,
  TERMINAL,
  type TaskEntry,
  type TaskStatus,
  type TaskStore,
  StateUnavailable,
  withLate,
  type ApprovalEntry,
  type ApprovalStore,
  type AuditStore,
  type ChainHead,
  type Checkpoint,
  type CheckpointStore,
  type Claim,
  type KeyStore,
  type RateStore,
  type Slot,
  type StateStore,
  type SuspensionStore,
  type TrailHooks,
} from './store.js';
import { FileSuspensions } from './suspension.js';

type Db = Libsql.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  key TEXT PRIMARY KEY, args TEXT NOT NULL, state TEXT NOT NULL, owner TEXT NOT NULL,
  at INTEGER NOT NULL, awaiting INTEGER NOT NULL DEFAULT 0, result TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_at ON keys (at);
CREATE TABLE IF NOT EXISTS rate (name TEXT NOT NULL, t INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (name, t, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, call TEXT NOT NULL, status TEXT NOT NULL, ref TEXT, by TEXT, why TEXT,
  opened INTEGER NOT NULL, expires INTEGER NOT NULL, decided INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS approvals_opened ON approvals (opened);
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, status TEXT NOT NULL, message TEXT, request TEXT NOT NULL, result TEXT,
  holder TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL, ttl INTEGER NOT NULL, poll INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks (owner, created);
INSERT OR IGNORE INTO meta VALUES ('schema', '1');
`;

// require() from the installation: a start-up snapshot has no dynamic import(), and the native
// module must stay out of the snapshot and out of every start that never keeps state
let driver: Promise<typeof Libsql> | undefined;
const loadDriver = () => (driver ??= Promise.resolve().then(() => installRequire()('libsql') as typeof Libsql));

/** Opens the database on first use; every failure names the file and says what to do. */
class Sqlite {
  private db?: Db;
  private opening?: Promise<Db>;
  private seq = 0;
  private swept = 0;
  constructor(readonly file: string) {}

  private unavailable(e: unknown): StateUnavailable {
    if (e instanceof StateUnavailable) return e;
    const why = (e as NodeJS.ErrnoException).code ?? '';
    return new StateUnavailable(
      `state database ${this.file} cannot be used (${[why, (e as Error).message].filter(Boolean).join(': ')}); repair or move it aside (a fresh one forgets kept idempotency keys and rate windows)`,
    );
  }

  private async handle(): Promise<Db> {
    if (this.db) return this.db;
    return (this.opening ??= (async () => {
      try {
        const Database = await loadDriver();
        mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
        const db = new Database(this.file, { timeout: 15_000 });
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.exec(SCHEMA);
        this.db = db;
        return db;
      } catch (e) {
        this.opening = undefined;
        throw this.unavailable(e);
      }
    })());
  }

  /**
   * Nothing was ever kept here: no database file, and none being opened. Read without the driver, so a
   * start that has kept no state yet never loads the native module (and its memory) to learn that.
   */
  get untouched(): boolean {
    return !this.db && !this.opening && !existsSync(this.file);
  }

  /** Runs fn in one IMMEDIATE transaction (the write lock is taken first, so no upgrade deadlock). */
  async tx<R>(fn: (db: Db) => R): Promise<R> {
    const db = await this.handle();
    try {
      return db.transaction(() => fn(db)).immediate();
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  /** a counter that tells apart two slots taken in the same millisecond */
  next(): number {
    return ++this.seq;
  }

  /** Forgets expired keys and approvals at most once a minute: an index range, not a scan. */
  sweep(db: Db, now: number): void {
    if (now - this.swept < 60_000) return;
    this.swept = now;
    db.prepare('DELETE FROM keys WHERE at < ?').run(now - KEEP_MS);
    db.prepare("DELETE FROM approvals WHERE opened < ? AND status <> 'pending'").run(now - KEEP_MS);
    db.prepare('DELETE FROM tasks WHERE created + ttl < ?').run(now);
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
    this.opening = undefined;
  }
}

interface KeyRow {
  args: string;
  state: string;
  owner: string;
  awaiting: number;
  result: string | null;
}

class EmbeddedKeys implements KeyStore {
  constructor(private readonly s: Sqlite) {}

  claim(key: string, fingerprint: string, now = Date.now()): Promise<Claim> {
    return this.s.tx((db) => {
      this.s.sweep(db, now);
      const row = db.prepare('SELECT args, state, owner, awaiting, result FROM keys WHERE key = ?').get(key) as
        | KeyRow
        | undefined;
      if (!row) {
        db.prepare("INSERT INTO keys (key, args, state, owner, at) VALUES (?, ?, 'running', ?, ?)").run(
          key,
          fingerprint,
          selfOwner(),
          now,
        );
        return { kind: 'claimed' } as const;
      }
      if (row.args !== fingerprint) return { kind: 'conflict' } as const;
      if (row.state === 'done') return { kind: 'replay', result: JSON.parse(row.result!) as CallToolResult } as const;
      if (ownerAlive(row.owner)) return { kind: 'running', awaitingApproval: !!row.awaiting } as const;
      if (row.awaiting) {
        // its holder died while waiting for a person: nothing reached the upstream, so the retry
        // takes the key over (and finds the approval still open)
        db.prepare('UPDATE keys SET owner = ?, awaiting = 0 WHERE key = ?').run(selfOwner(), key);
        return { kind: 'claimed' } as const;
      }
      return { kind: 'unknown' } as const;
    });
  }

  awaiting(key: string, waiting: boolean): Promise<boolean> {
    return this.s.tx(
      (db) =>
        db.prepare('UPDATE keys SET awaiting = ? WHERE key = ? AND owner = ?').run(waiting ? 1 : 0, key, selfOwner())
          .changes > 0,
    );
  }

  done(key: string, result: CallToolResult): Promise<void> {
    return this.s.tx(
      (db) =>
        void db
          .prepare("UPDATE keys SET state = 'done', awaiting = 0, result = ? WHERE key = ?")
          .run(JSON.stringify(result), key),
    );
  }

  release(key: string): Promise<void> {
    return this.s.tx((db) => void db.prepare('DELETE FROM keys WHERE key = ? AND owner = ?').run(key, selfOwner()));
  }
}

class EmbeddedRate implements RateStore {
  constructor(private readonly s: Sqlite) {}

  take(name: string, limit: number, windowMs: number, now = Date.now()): Promise<Slot> {
    return this.s.tx((db) => {
      // the window keeps at most `limit` times per name, however many calls come
      db.prepare('DELETE FROM rate WHERE name = ? AND t <= ?').run(name, now - windowMs);
      const { n } = db.prepare('SELECT count(*) AS n FROM rate WHERE name = ?').get(name) as { n: number };
      if (n >= limit) {
        const oldest = db
          .prepare('SELECT t FROM rate WHERE name = ? ORDER BY t LIMIT 1 OFFSET ?')
          .get(name, n - limit) as { t: number };
        return { ok: false, next: oldest.t + windowMs } as const;
      }
      db.prepare('INSERT INTO rate (name, t, n) VALUES (?, ?, ?)').run(name, now, this.s.next());
      return { ok: true } as const;
    });
  }
}

interface ApprovalRow {
  id: string;
  call: string;
  status: ApprovalEntry['status'];
  ref: string | null;
  by: string | null;
  why: string | null;
  opened: number;
  expires: number;
  decided: number | null;
}

class EmbeddedApprovals implements ApprovalStore {
  constructor(private readonly s: Sqlite) {}

  private row(db: Db, id: string): ApprovalEntry | undefined {
    const r = db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined;
    return r && approvalFromRow(r);
  }

  open(
    e: { id: string; call: string; expires: number; ref?: Record<string, unknown> },
    now = Date.now(),
  ): Promise<ApprovalEntry> {
    return this.s.tx((db) => {
      db.prepare(`INSERT INTO approvals (id, call, status, ref, opened, expires) VALUES (?, ?, 'pending', ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET call = excluded.call, status = 'pending', ref = excluded.ref, by = NULL, why = NULL,
          opened = excluded.opened, expires = excluded.expires, decided = NULL
        WHERE approvals.status NOT IN ('pending', 'approved') OR approvals.expires <= excluded.opened`).run(
        e.id,
        e.call,
        e.ref ? JSON.stringify(e.ref) : null,
        now,
        e.expires,
      );
      return this.row(db, e.id)!;
    });
  }

  get(id: string): Promise<ApprovalEntry | undefined> {
    return this.s.tx((db) => this.row(db, id));
  }

  setRef(id: string, ref: Record<string, unknown>): Promise<void> {
    return this.s.tx((db) => void db.prepare('UPDATE approvals SET ref = ? WHERE id = ?').run(JSON.stringify(ref), id));
  }

  decide(
    id: string,
    v: { status: Exclude<ApprovalEntry['status'], 'pending'>; by?: string; why?: string },
    now = Date.now(),
  ): Promise<ApprovalEntry> {
    return this.s.tx((db) => {
      db.prepare(
        "UPDATE approvals SET status = ?, by = ?, why = ?, decided = ? WHERE id = ? AND status = 'pending'",
      ).run(v.status, v.by ?? null, v.why ?? null, now, id);
      const r = this.row(db, id);
      if (!r) throw new StateUnavailable(`approval ${id} is not open`);
      return r;
    });
  }

  withdrawn(now = Date.now()): Promise<ApprovalEntry[]> {
    // asked at every start by the late-answer watch: a store never written withdrew nothing
    if (this.s.untouched) return Promise.resolve([]);
    return this.s.tx((db) =>
      (
        db
          .prepare("SELECT * FROM approvals WHERE status = 'withdrawn' AND expires > ? ORDER BY opened")
          .all(now) as ApprovalRow[]
      ).map(approvalFromRow),
    );
  }

  noteLate(id: string, answer: string): Promise<boolean> {
    return this.s.tx((db) => {
      const r = this.row(db, id);
      const ref = r && withLate(r.ref, answer);
      if (!ref) return false;
      db.prepare('UPDATE approvals SET ref = ? WHERE id = ?').run(JSON.stringify(ref), id);
      return true;
    });
  }
}

type TaskRow = Parameters<typeof taskFromRow>[0] & { holder: string };
const ENDED = TERMINAL.map((t) => `'${t}'`).join(', ');

class EmbeddedTasks implements TaskStore {
  constructor(private readonly s: Sqlite) {}

  private row(db: Db, id: string, now: number): TaskRow | undefined {
    const r = db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
    return r && Number(r.created) + Number(r.ttl) >= now ? r : undefined;
  }

  create(
    t: { id: string; owner: string; request: Record<string, unknown>; ttl: number; poll: number; message?: string },
    now = Date.now(),
  ): Promise<TaskEntry> {
    return this.s.tx((db) => {
      this.s.sweep(db, now);
      db.prepare(
        "INSERT INTO tasks (id, owner, status, message, request, holder, created, updated, ttl, poll) VALUES (?, ?, 'working', ?, ?, ?, ?, ?, ?, ?)",
      ).run(t.id, t.owner, t.message ?? null, JSON.stringify(t.request), selfOwner(), now, now, t.ttl, t.poll);
      return taskFromRow(this.row(db, t.id, now)!);
    });
  }

  get(id: string, owner: string, now = Date.now()): Promise<TaskEntry | undefined> {
    return this.s.tx((db) => {
      const r = this.row(db, id, now);
      return r && r.owner === owner ? taskFromRow(r) : undefined;
    });
  }

  list(owner: string, now = Date.now()): Promise<TaskEntry[]> {
    return this.s.tx((db) =>
      (
        db
          .prepare('SELECT * FROM tasks WHERE owner = ? AND created + ttl >= ? ORDER BY created DESC, id')
          .all(owner, now) as TaskRow[]
      ).map(taskFromRow),
    );
  }

  update(
    id: string,
    v: { status?: TaskStatus; message?: string; result?: Record<string, unknown> },
    now = Date.now(),
  ): Promise<TaskEntry | undefined> {
    return this.s.tx((db) => {
      db.prepare(`UPDATE tasks SET status = coalesce(?, status), message = coalesce(?, message), result = coalesce(?, result), updated = ?
        WHERE id = ? AND status NOT IN (${ENDED})`).run(
        v.status ?? null,
        v.message ?? null,
        v.result ? JSON.stringify(v.result) : null,
        now,
        id,
      );
      const r = this.row(db, id, now);
      return r && taskFromRow(r);
    });
  }

  adopt(id: string, now = Date.now()): Promise<boolean> {
    return this.s.tx((db) => {
      const r = this.row(db, id, now);
      if (!r || TERMINAL.includes(r.status as TaskStatus) || r.holder === selfOwner() || ownerAlive(r.holder))
        return false;
      db.prepare('UPDATE tasks SET holder = ?, updated = ? WHERE id = ?').run(selfOwner(), now, id);
      return true;
    });
  }
}

class EmbeddedCheckpoints implements CheckpointStore {
  constructor(private readonly s: Sqlite) {}
  put(c: Checkpoint): Promise<void> {
    return this.s.tx(
      (db) =>
        void db
          .prepare('INSERT OR REPLACE INTO checkpoints (seq, hash, text) VALUES (?, ?, ?)')
          .run(c.seq, c.hash, c.text),
    );
  }
  latest(): Promise<Checkpoint | undefined> {
    return this.s.tx((db) => {
      // only the columns: libsql's get() adds a `_metadata` field to the row it returns
      const r = db.prepare('SELECT seq, hash, text FROM checkpoints ORDER BY seq DESC LIMIT 1').get() as
        | Checkpoint
        | undefined;
      return r && { seq: r.seq, hash: r.hash, text: r.text };
    });
  }
}

/** The JSONL trail, appended by shared/audit/log.ts (durable, chained from the instance's genesis). */
export class FileAudit implements AuditStore {
  private readonly log: AuditLog;
  constructor(
    readonly where: string,
    readonly instance: string,
    hooks: TrailHooks = {},
  ) {
    this.log = new AuditLog(where, instance, {
      ...(hooks.onBroken ? { onBroken: hooks.onBroken } : {}),
      ...(hooks.onRecord ? { onRecord: hooks.onRecord } : {}),
    });
  }
  append(record: Record<string, unknown>, durable = true): Promise<void> {
    return this.log.append(record, durable);
  }
  get broken(): string | undefined {
    return this.log.broken;
  }
  async head(): Promise<ChainHead> {
    let head: ChainHead = emptyHead(this.instance);
    try {
      statSync(this.where);
    } catch {
      return head;
    }
    for await (const line of fileLines(this.where)) {
      const o = line.endsWith('\n') ? open(line.slice(0, -1)) : undefined;
      if (o) head = { seq: o.record.seq as number, hash: o.hash };
    }
    return head;
  }
  lines(): AsyncIterable<string> {
    return fileLines(this.where);
  }
  close(): void {
    this.log.close();
  }
}

export class EmbeddedState implements StateStore {
  readonly engine = 'embedded';
  readonly audit: FileAudit;
  readonly keys: KeyStore;
  readonly rate: RateStore;
  readonly approvals: ApprovalStore;
  readonly checkpoints: CheckpointStore;
  readonly suspensions: SuspensionStore;
  readonly tasks: TaskStore;
  private readonly db: Sqlite;

  /**
   * `auditFile`: the JSONL trail of `instance`; `dbFile`: the SQLite database of everything else;
   * suspensions are fleet-wide, in the database's folder (the state folder every instance shares)
   */
  constructor(auditFile: string, dbFile: string, instance: string, hooks: TrailHooks = {}) {
    this.db = new Sqlite(dbFile);
    this.audit = new FileAudit(auditFile, instance, hooks);
    this.keys = new EmbeddedKeys(this.db);
    this.rate = new EmbeddedRate(this.db);
    this.approvals = new EmbeddedApprovals(this.db);
    this.checkpoints = new EmbeddedCheckpoints(this.db);
    this.suspensions = new FileSuspensions(dirname(dbFile));
    this.tasks = new EmbeddedTasks(this.db);
  }

  async close(): Promise<void> {
    this.audit.close();
    this.db.close();
  }
}
