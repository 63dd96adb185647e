// The PostgreSQL state engine, for replicas of one instance on several machines (through `pg`,
// loaded on first use). What makes it safe to share:
// - the audit chain is sequenced in batches under a per-instance transaction lock
//   (pg_advisory_xact_lock) that is not held through the disk flush (PgAudit below), `seq` the key
//   and the exact sealed line stored as text (jsonb would reorder keys and break the hash), so the
//   chain stays gapless whichever replica writes;
// - an idempotency claim is INSERT … ON CONFLICT DO NOTHING: one replica wins; each replica holds a
//   session advisory lock on its owner id while it lives, so a claim whose replica died is seen as
//   "unknown" (never re-run) the moment its connection drops;
// - rate windows and approvals are rows every replica reads, changed under a transaction lock;
// - any database error refuses the call (StateUnavailable / AuditUnavailable); the pool reconnects
//   by itself, so calls resume once the database answers again.
import { randomInt } from 'node:crypto';
import type * as PgTypes from 'pg';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditUnavailable } from '../base/errors.js';
import { emptyHead, openVerified, seal, type Head } from '../audit/chain.js';
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
  type Signals,
  type Slot,
  type StateStore,
  type Suspension,
  type SuspensionStore,
  type TrailHooks,
} from './store.js';

type Pg = typeof PgTypes;
let driver: Promise<Pg> | undefined;
// on first use: bundled into its own chunk of dist/cli.js (the start-up snapshot, which has no
// dynamic import(), requires it from node_modules instead)
const loadDriver = () => (driver ??= import('pg').then((m) => ((m as unknown as { default?: Pg }).default ?? m) as Pg));

/** the schema, one step per version; `fleet state migrate` applies the missing ones in order */
export const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE fleet_audit (instance text NOT NULL, seq bigint NOT NULL, hash text NOT NULL, line text NOT NULL,
  PRIMARY KEY (instance, seq), UNIQUE (instance, hash));
CREATE TABLE fleet_keys (instance text NOT NULL, key text NOT NULL, args text NOT NULL, state text NOT NULL,
  owner bigint NOT NULL, at bigint NOT NULL, awaiting boolean NOT NULL DEFAULT false, result text,
  PRIMARY KEY (instance, key));
CREATE INDEX fleet_keys_at ON fleet_keys (instance, at);
CREATE TABLE fleet_rate (instance text NOT NULL, name text NOT NULL, t bigint NOT NULL, id bigserial,
  PRIMARY KEY (instance, name, t, id));
CREATE TABLE fleet_approvals (instance text NOT NULL, id text NOT NULL, call text NOT NULL, status text NOT NULL,
  ref text, by text, why text, opened bigint NOT NULL, expires bigint NOT NULL, decided bigint,
  PRIMARY KEY (instance, id));
CREATE TABLE fleet_checkpoints (instance text NOT NULL, seq bigint NOT NULL, hash text NOT NULL, text text NOT NULL,
  PRIMARY KEY (instance, seq));
`,
  },
  {
    // `fleet suspend`: fleet-wide (a client's suspension covers every instance), read by every replica
    version: 2,
    sql: `
CREATE TABLE fleet_suspensions (target text PRIMARY KEY, reason text NOT NULL, by text NOT NULL, at text NOT NULL);
`,
  },
  {
    // long calls as MCP tasks: any replica answers tasks/get, tasks/result, tasks/list, tasks/cancel
    version: 3,
    sql: `
CREATE TABLE fleet_tasks (instance text NOT NULL, id text NOT NULL, owner text NOT NULL, status text NOT NULL, message text,
  request text NOT NULL, result text, holder bigint NOT NULL, created bigint NOT NULL, updated bigint NOT NULL,
  ttl bigint NOT NULL, poll bigint NOT NULL, PRIMARY KEY (instance, id));
CREATE INDEX fleet_tasks_owner ON fleet_tasks (instance, owner, created);
`,
  },
];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
/** advisory-lock namespace of replica owners (two-int form: classid = this, objid = owner) */
const OWNER_NS = 0x464c5431;

/** Applies the missing migrations in order, under a lock; running it again changes nothing. */
export async function migrate(url: string): Promise<{ from: number; to: number }> {
  const pg = await loadDriver();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('fleet.migrate', 0))");
    await client.query(
      'CREATE TABLE IF NOT EXISTS fleet_schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const from = Number(
      (await client.query('SELECT coalesce(max(version), 0) AS v FROM fleet_schema_version')).rows[0].v,
    );
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO fleet_schema_version (version) VALUES ($1)', [m.version]);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, SCHEMA_VERSION) };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    await client.end().catch(() => {});
  }
}

type Q = (text: string, params?: unknown[]) => Promise<PgTypes.QueryResult<any>>;

class Db {
  private pool?: PgTypes.Pool;
  private opening?: Promise<PgTypes.Pool>;
  private checked = false;
  /** this process's owner id, held as a session advisory lock while it lives */
  readonly owner = randomInt(1, 2 ** 31 - 1);
  private holder?: Promise<PgTypes.Client>;
  private driver?: Pg;

  constructor(
    readonly instance: string,
    private readonly url: () => Promise<string>,
    private readonly max: number,
  ) {}

  unavailable(e: unknown): StateUnavailable {
    if (e instanceof StateUnavailable) return e;
    const err = e as NodeJS.ErrnoException;
    return new StateUnavailable(
      `the PostgreSQL state store of ${this.instance} is unavailable (${[err.code, err.message].filter(Boolean).join(': ')}); calls are refused until it answers`,
    );
  }

  private async handle(): Promise<PgTypes.Pool> {
    if (this.pool) return this.pool;
    return (this.opening ??= (async () => {
      try {
        const pg = await loadDriver();
        this.driver = pg;
        const pool = new pg.Pool({
          connectionString: await this.url(),
          max: this.max,
          connectionTimeoutMillis: 5000,
          idleTimeoutMillis: 10_000,
        });
        pool.on('error', () => {}); // an idle connection lost: the next query opens another
        this.pool = pool;
        return pool;
      } catch (e) {
        this.opening = undefined;
        throw this.unavailable(e);
      }
    })());
  }

  private async ready(pool: PgTypes.Pool): Promise<void> {
    if (this.checked) return;
    const r = await pool.query("SELECT to_regclass('fleet_schema_version') IS NOT NULL AS ok");
    const v = r.rows[0].ok
      ? Number((await pool.query('SELECT coalesce(max(version), 0) AS v FROM fleet_schema_version')).rows[0].v)
      : 0;
    if (v < SCHEMA_VERSION)
      throw new StateUnavailable(
        `the PostgreSQL state schema is at version ${v}, this fleet needs ${SCHEMA_VERSION}: run \`fleet state migrate\``,
      );
    this.checked = true;
  }

  /** Runs fn in one transaction; any failure is a StateUnavailable naming the store. */
  tx<R>(fn: (q: Q) => Promise<R>): Promise<R> {
    return this.session(async (q) => {
      await q('BEGIN');
      const r = await fn(q);
      await q('COMMIT');
      return r;
    });
  }

  /** Runs fn on one connection of the pool, rolling back what it began if it fails (StateUnavailable). */
  async session<R>(fn: (q: Q) => Promise<R>): Promise<R> {
    const pool = await this.handle();
    let client: PgTypes.PoolClient | undefined;
    try {
      await this.ready(pool);
      client = await pool.connect();
      // a connection lost while checked out emits 'error' on the client: without a listener that
      // would end the process; the query in flight rejects, and the refusal says so
      if (!(client as unknown as Record<symbol, boolean>)[GUARDED]) {
        client.on('error', () => {});
        (client as unknown as Record<symbol, boolean>)[GUARDED] = true;
      }
      const r = await fn((text, params) => client!.query(text, params));
      client.release();
      return r;
    } catch (e) {
      if (client) {
        const c = client;
        await c.query('ROLLBACK').then(
          () => c.release(),
          () => c.release(true),
        );
      }
      throw this.unavailable(e);
    }
  }

  /** A string as an SQL literal, for the statements sent several at once (which take no parameters). */
  literal(s: string): string {
    return this.driver!.escapeLiteral(s);
  }

  /**
   * Waits until everything committed so far (by any replica) is on the database's stable storage:
   * a transaction that writes WAL (a transactional logical message, no table) commits
   * synchronously, and its flush covers every commit record before its own. Concurrent flushes from
   * every replica share the disk's flushes (PostgreSQL's group commit).
   */
  async flush(): Promise<void> {
    const pool = await this.handle();
    try {
      await pool.query("SELECT pg_logical_emit_message(true, 'fleet.flush', '')");
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  /** Holds this process's owner lock on its own connection (re-taken after a reconnect). */
  async holdOwner(): Promise<void> {
    const c = await (this.holder ??= (async () => {
      const pg = await loadDriver();
      const client = new pg.Client({ connectionString: await this.url(), connectionTimeoutMillis: 5000 });
      client.on('error', () => (this.holder = undefined));
      client.on('end', () => (this.holder = undefined));
      await client.connect();
      const got = (await client.query('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [OWNER_NS, this.owner]))
        .rows[0].ok;
      if (!got) {
        await client.end().catch(() => {});
        throw new Error('owner id already held');
      }
      return client;
    })().catch((e) => {
      this.holder = undefined;
      throw this.unavailable(e);
    }));
    void c;
  }

  async close(): Promise<void> {
    const h = this.holder;
    this.holder = undefined;
    await h?.then((c) => c.end()).catch(() => {});
    const p = this.pool;
    this.pool = undefined;
    this.opening = undefined;
    await p?.end().catch(() => {});
  }
}

const GUARDED = Symbol('fleet.error-guarded');
const SYNC_LATER_MS = 20;
const lockKey = (what: string) => `SELECT pg_advisory_xact_lock(hashtextextended(${what}, 0))`;

/**
 * The chain of one instance, appended by every replica. Two steps, so that replicas add throughput
 * rather than queue behind each other's disk flushes:
 * - sequencing: the records queued in this replica are sealed after the chain's head and inserted
 *   in one transaction under the instance's lock; it commits without waiting for the disk, so the
 *   lock is held for a few round trips, not for a flush;
 * - durability: a durable append (an intent) resolves once a flush issued after its commit
 *   returned. One flush is in flight per replica at a time and covers every batch committed before
 *   it; the flushes of all replicas share the disk's (group commit). Other records are flushed
 *   within SYNC_LATER_MS, as the embedded trail syncs them.
 * A batch is visible to other replicas before it is flushed; a record chained after it is flushed
 * after it (the WAL is written in order), so a crash of the database loses a tail, never a middle.
 * docs/architecture.md says why this design and not the others.
 */
class PgAudit implements AuditStore {
  readonly where: string;
  private queue: { record: Record<string, unknown>; durable: boolean; resolve(): void; reject(e: Error): void }[] = [];
  private busy = false;
  /** the flush in flight, and the one queued behind it (for commits made after the first began) */
  private flushing?: Promise<void>;
  private nextFlush?: Promise<void>;
  private later?: NodeJS.Timeout;
  constructor(
    private readonly db: Db,
    private readonly hooks: TrailHooks = {},
  ) {
    this.where = `postgresql:${db.instance}`;
  }

  /** Resolves once sealed and committed; a durable record (the default) once also flushed to disk. */
  append(record: Record<string, unknown>, durable = true): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, durable, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  /** Records queued while a batch is being sequenced go out together in the next one. */
  private async drain(): Promise<void> {
    this.busy = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0, 500);
      let heads: [Record<string, unknown>, Head, string][];
      try {
        heads = await this.sequence(batch.map((p) => p.record));
      } catch (e) {
        const err = new AuditUnavailable(`audit trail ${this.where} cannot be written: ${(e as Error).message}`);
        for (const p of batch) p.reject(err);
        continue;
      }
      if (this.hooks.onRecord) for (const [r, h, l] of heads) this.hooks.onRecord(r, h, l);
      const durable = batch.filter((p) => p.durable);
      for (const p of batch) if (!p.durable) p.resolve();
      if (durable.length) {
        this.flush().then(
          () => {
            for (const p of durable) p.resolve();
          },
          (e: Error) => {
            const err = new AuditUnavailable(`audit trail ${this.where} cannot be flushed to disk: ${e.message}`);
            for (const p of durable) p.reject(err);
          },
        );
      } else this.flushLater();
    }
    this.busy = false;
  }

  /**
   * Seals the records after the head and commits them without waiting for the disk, in two round
   * trips: the lock and the head (each statement of a multi-statement query reads afresh, so the
   * head is read after the lock is held), then the rows and the commit.
   */
  private sequence(records: Record<string, unknown>[]): Promise<[Record<string, unknown>, Head, string][]> {
    const db = this.db;
    return db.session(async (q) => {
      const inst = db.literal(db.instance);
      const got =
        (await q(`BEGIN; SET LOCAL synchronous_commit = off; ${lockKey(db.literal(`fleet.audit:${db.instance}`))};
        SELECT seq, hash FROM fleet_audit WHERE instance = ${inst} ORDER BY seq DESC LIMIT 1`)) as unknown as PgTypes.QueryResult[];
      const last = got[got.length - 1]!.rows[0];
      let { seq, hash } = last ? { seq: Number(last.seq), hash: last.hash as string } : emptyHead(db.instance);
      const heads: [Record<string, unknown>, Head, string][] = [];
      const rows: string[] = [];
      for (const r of records) {
        const sealed = seal(r, ++seq, hash);
        hash = sealed.hash;
        heads.push([r, { seq, hash }, sealed.line]);
        rows.push(`(${inst}, ${seq}, '${hash}', ${db.literal(sealed.line.slice(0, -1))})`);
      }
      await q(`INSERT INTO fleet_audit (instance, seq, hash, line) VALUES ${rows.join(', ')}; COMMIT`);
      return heads;
    });
  }

  /** Resolves once every batch committed before the call is on disk. */
  private flush(): Promise<void> {
    if (!this.flushing) {
      clearTimeout(this.later);
      this.later = undefined;
      const f = this.db.flush();
      this.flushing = f;
      const clear = () => {
        if (this.flushing === f) this.flushing = undefined;
      };
      f.then(clear, clear);
      return f;
    }
    // the flush in flight may have begun before this commit: the next one covers it
    return (this.nextFlush ??= this.flushing
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.nextFlush = undefined;
        return this.flush();
      }));
  }

  /** Records that need not wait are flushed soon all the same (a crash loses at most SYNC_LATER_MS of them). */
  private flushLater(): void {
    if (this.later) return;
    if (this.flushing) {
      this.flush().catch(() => {});
      return;
    }
    this.later = setTimeout(() => {
      this.later = undefined;
      this.flush().catch(() => {});
    }, SYNC_LATER_MS);
    this.later.unref();
  }

  private async lockedHead(q: Q): Promise<ChainHead> {
    await q(lockKey('$1'), [`fleet.audit:${this.db.instance}`]);
    const r = await q('SELECT seq, hash FROM fleet_audit WHERE instance = $1 ORDER BY seq DESC LIMIT 1', [
      this.db.instance,
    ]);
    return r.rows[0] ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash } : emptyHead(this.db.instance);
  }

  /** The head, once on disk: a record seen committed may not be flushed yet (see sequencing above). */
  async head(): Promise<ChainHead> {
    const head = await this.db.tx(async (q) => {
      const r = await q('SELECT seq, hash FROM fleet_audit WHERE instance = $1 ORDER BY seq DESC LIMIT 1', [
        this.db.instance,
      ]);
      return r.rows[0] ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash as string } : emptyHead(this.db.instance);
    });
    if (head.seq > 0) await this.db.flush();
    return head;
  }

  /** The trail in pages of 1,000 lines: constant memory for a trail of any size. */
  async *lines(): AsyncIterable<string> {
    let after = 0;
    for (;;) {
      const page = await this.db.tx((q) =>
        q('SELECT seq, line FROM fleet_audit WHERE instance = $1 AND seq > $2 ORDER BY seq LIMIT 1000', [
          this.db.instance,
          after,
        ]),
      );
      if (page.rows.length) await this.db.flush(); // only lines on disk are handed out
      for (const r of page.rows) yield `${r.line as string}\n`;
      if (page.rows.length < 1000) return;
      after = Number(page.rows[page.rows.length - 1].seq);
    }
  }

  /**
   * Appends a trail sealed elsewhere (an embedded JSONL file), line by line as written, so its hashes
   * and chain carry over. Lines already here (same seq and hash) are skipped, so an import can be
   * run again; a line that does not continue the chain stops it. Only a last line may be torn.
   */
  async importLines(lines: AsyncIterable<string>): Promise<number> {
    let imported = 0;
    let batch: { seq: number; hash: string; line: string }[] = [];
    let torn: number | undefined;
    let n = 0;
    let head: ChainHead | undefined;
    const flush = async () => {
      if (!batch.length) return;
      const rows = batch;
      batch = [];
      await this.db.tx(async (q) => {
        const now = await this.lockedHead(q);
        if (now.seq !== head!.seq || now.hash !== head!.hash)
          throw new Error('the trail in PostgreSQL changed during the import');
        const values: unknown[] = [this.db.instance];
        const tuples = rows.map((r) => {
          values.push(r.seq, r.hash, r.line);
          const i = values.length;
          return `($1, $${i - 2}, $${i - 1}, $${i})`;
        });
        await q(`INSERT INTO fleet_audit (instance, seq, hash, line) VALUES ${tuples.join(', ')}`, values);
      });
      imported += rows.length;
      head = { seq: rows[rows.length - 1]!.seq, hash: rows[rows.length - 1]!.hash };
    };
    const start = await this.head();
    let expect: ChainHead = emptyHead(this.db.instance);
    for await (const line of lines) {
      n++;
      if (!line) continue;
      const o = line.endsWith('\n') ? openVerified(line.slice(0, -1)) : undefined;
      if (torn !== undefined)
        throw new Error(`line ${torn} is not a sealed record and is not the last line: run fleet audit verify`);
      if (!o) {
        torn = n; // only a last line cut off mid-write may be torn; anything after it is refused
        continue;
      }
      if (o.record.seq !== expect.seq + 1 || o.record.prev !== expect.hash)
        throw new Error(`line ${n} does not continue the chain (record ${String(o.record.seq)} after ${expect.seq})`);
      expect = { seq: o.record.seq, hash: o.hash };
      if (expect.seq <= start.seq) {
        // already imported: it must be the very same record
        const r = await this.db.tx((q) =>
          q('SELECT hash FROM fleet_audit WHERE instance = $1 AND seq = $2', [this.db.instance, expect.seq]),
        );
        if (r.rows[0]?.hash !== expect.hash)
          throw new Error(`record ${expect.seq} differs from the one already in ${this.where}: a different trail`);
        continue;
      }
      head ??= start;
      batch.push({ seq: expect.seq, hash: expect.hash, line: line.slice(0, -1) });
      if (batch.length >= 500) await flush();
    }
    await flush();
    return imported;
  }

  /** Flushes the records still waiting for their later flush. */
  async close(): Promise<void> {
    if (this.later === undefined && !this.flushing) return;
    await this.flush().catch(() => {});
  }
}

class PgKeys implements KeyStore {
  constructor(private readonly db: Db) {}

  async claim(key: string, fingerprint: string, now = Date.now()): Promise<Claim> {
    await this.db.holdOwner();
    const inst = this.db.instance;
    return this.db.tx(async (q): Promise<Claim> => {
      const ins = await q(
        "INSERT INTO fleet_keys (instance, key, args, state, owner, at) VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT DO NOTHING RETURNING key",
        [inst, key, fingerprint, this.db.owner, now],
      );
      if (ins.rowCount) {
        if (now % 64 === 0) await q('DELETE FROM fleet_keys WHERE instance = $1 AND at < $2', [inst, now - KEEP_MS]);
        return { kind: 'claimed' };
      }
      const row = (
        await q(
          'SELECT args, state, owner, awaiting, result FROM fleet_keys WHERE instance = $1 AND key = $2 FOR UPDATE',
          [inst, key],
        )
      ).rows[0];
      if (!row) return { kind: 'unknown' };
      if (row.args !== fingerprint) return { kind: 'conflict' };
      if (row.state === 'done') return { kind: 'replay', result: JSON.parse(row.result) as CallToolResult };
      const alive = (
        await q(
          "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2 AND granted) AS alive",
          [OWNER_NS, Number(row.owner)],
        )
      ).rows[0].alive;
      if (alive) return { kind: 'running', awaitingApproval: row.awaiting };
      if (row.awaiting) {
        // its replica died while a person was asked: nothing reached the upstream; take it over
        await q('UPDATE fleet_keys SET owner = $3, awaiting = false WHERE instance = $1 AND key = $2', [
          inst,
          key,
          this.db.owner,
        ]);
        return { kind: 'claimed' };
      }
      return { kind: 'unknown' };
    });
  }

  awaiting(key: string, waiting: boolean): Promise<boolean> {
    return this.db.tx(
      async (q) =>
        !!(
          await q('UPDATE fleet_keys SET awaiting = $3 WHERE instance = $1 AND key = $2 AND owner = $4', [
            this.db.instance,
            key,
            waiting,
            this.db.owner,
          ])
        ).rowCount,
    );
  }

  done(key: string, result: CallToolResult): Promise<void> {
    return this.settle(key, result);
  }

  release(key: string): Promise<void> {
    return this.settle(key, null);
  }

  /**
   * Keys whose outcome (or release) could not be written while the database was away. This
   * replica still holds them, so a retry elsewhere waits (or, once this replica's owner lock was
   * lost with its connection, reads UNKNOWN): they are written as soon as the database answers,
   * else a key refused during an outage would stay "running" until the replica restarts.
   */
  private unsettled = new Map<string, CallToolResult | null>();
  private retry?: NodeJS.Timeout;

  private async settle(key: string, result: CallToolResult | null): Promise<void> {
    try {
      await this.write(key, result);
      this.unsettled.delete(key);
    } catch (e) {
      this.unsettled.set(key, result);
      this.retry ??= setInterval(() => void this.flush(), 1000).unref();
      throw e;
    }
  }

  private write(key: string, result: CallToolResult | null): Promise<void> {
    return this.db.tx(
      async (q) =>
        void (await (result
          ? q("UPDATE fleet_keys SET state = 'done', awaiting = false, result = $3 WHERE instance = $1 AND key = $2", [
              this.db.instance,
              key,
              JSON.stringify(result),
            ])
          : q('DELETE FROM fleet_keys WHERE instance = $1 AND key = $2 AND owner = $3', [
              this.db.instance,
              key,
              this.db.owner,
            ]))),
    );
  }

  private async flush(): Promise<void> {
    for (const [key, result] of [...this.unsettled]) {
      try {
        await this.write(key, result);
        this.unsettled.delete(key);
      } catch {
        return; // still away: the next tick tries again
      }
    }
    clearInterval(this.retry);
    this.retry = undefined;
  }

  stop(): void {
    clearInterval(this.retry);
    this.retry = undefined;
  }
}

class PgRate implements RateStore {
  constructor(private readonly db: Db) {}

  take(name: string, limit: number, windowMs: number, now = Date.now()): Promise<Slot> {
    const inst = this.db.instance;
    return this.db.tx(async (q): Promise<Slot> => {
      await q(lockKey('$1'), [`fleet.rate:${inst}:${name}`]);
      await q('DELETE FROM fleet_rate WHERE instance = $1 AND name = $2 AND t <= $3', [inst, name, now - windowMs]);
      const n = Number(
        (await q('SELECT count(*) AS n FROM fleet_rate WHERE instance = $1 AND name = $2', [inst, name])).rows[0].n,
      );
      if (n >= limit) {
        const t = Number(
          (
            await q('SELECT t FROM fleet_rate WHERE instance = $1 AND name = $2 ORDER BY t LIMIT 1 OFFSET $3', [
              inst,
              name,
              n - limit,
            ])
          ).rows[0].t,
        );
        return { ok: false, next: t + windowMs };
      }
      await q('INSERT INTO fleet_rate (instance, name, t) VALUES ($1, $2, $3)', [inst, name, now]);
      return { ok: true };
    });
  }
}

class PgApprovals implements ApprovalStore {
  constructor(private readonly db: Db) {}

  private async row(q: Q, id: string): Promise<ApprovalEntry | undefined> {
    const r = (
      await q(
        'SELECT id, call, status, ref, by, why, opened, expires, decided FROM fleet_approvals WHERE instance = $1 AND id = $2',
        [this.db.instance, id],
      )
    ).rows[0];
    return r && approvalFromRow(r);
  }

  open(
    e: { id: string; call: string; expires: number; ref?: Record<string, unknown> },
    now = Date.now(),
  ): Promise<ApprovalEntry> {
    return this.db.tx(async (q) => {
      await q(
        `INSERT INTO fleet_approvals (instance, id, call, status, ref, opened, expires) VALUES ($1, $2, $3, 'pending', $4, $5, $6)
        ON CONFLICT (instance, id) DO UPDATE SET call = excluded.call, status = 'pending', ref = excluded.ref, by = NULL, why = NULL,
          opened = excluded.opened, expires = excluded.expires, decided = NULL
        WHERE fleet_approvals.status NOT IN ('pending', 'approved') OR fleet_approvals.expires <= excluded.opened`,
        [this.db.instance, e.id, e.call, e.ref ? JSON.stringify(e.ref) : null, now, e.expires],
      );
      if (now % 64 === 0)
        await q("DELETE FROM fleet_approvals WHERE instance = $1 AND opened < $2 AND status <> 'pending'", [
          this.db.instance,
          now - KEEP_MS,
        ]);
      return (await this.row(q, e.id))!;
    });
  }

  get(id: string): Promise<ApprovalEntry | undefined> {
    return this.db.tx((q) => this.row(q, id));
  }

  setRef(id: string, ref: Record<string, unknown>): Promise<void> {
    return this.db.tx(
      async (q) =>
        void (await q('UPDATE fleet_approvals SET ref = $3 WHERE instance = $1 AND id = $2', [
          this.db.instance,
          id,
          JSON.stringify(ref),
        ])),
    );
  }

  decide(
    id: string,
    v: { status: Exclude<ApprovalEntry['status'], 'pending'>; by?: string; why?: string },
    now = Date.now(),
  ): Promise<ApprovalEntry> {
    return this.db.tx(async (q) => {
      await q(
        "UPDATE fleet_approvals SET status = $3, by = $4, why = $5, decided = $6 WHERE instance = $1 AND id = $2 AND status = 'pending'",
        [this.db.instance, id, v.status, v.by ?? null, v.why ?? null, now],
      );
      const r = await this.row(q, id);
      if (!r) throw new StateUnavailable(`approval ${id} is not open`);
      return r;
    });
  }

  withdrawn(now = Date.now()): Promise<ApprovalEntry[]> {
    return this.db.tx(async (q) =>
      (
        await q(
          "SELECT id, call, status, ref, by, why, opened, expires, decided FROM fleet_approvals WHERE instance = $1 AND status = 'withdrawn' AND expires > $2 ORDER BY opened",
          [this.db.instance, now],
        )
      ).rows.map(approvalFromRow),
    );
  }

  noteLate(id: string, answer: string): Promise<boolean> {
    return this.db.tx(async (q) => {
      // the row is locked until the transaction ends: two replicas noting the same answer take turns
      const r = (
        await q(
          'SELECT id, call, status, ref, by, why, opened, expires, decided FROM fleet_approvals WHERE instance = $1 AND id = $2 FOR UPDATE',
          [this.db.instance, id],
        )
      ).rows[0];
      const ref = r && withLate(approvalFromRow(r).ref, answer);
      if (!ref) return false;
      await q('UPDATE fleet_approvals SET ref = $3 WHERE instance = $1 AND id = $2', [
        this.db.instance,
        id,
        JSON.stringify(ref),
      ]);
      return true;
    });
  }
}

const TASK_COLUMNS = 'id, owner, status, message, request, result, holder, created, updated, ttl, poll';
const ENDED = TERMINAL.map((t) => `'${t}'`).join(', ');

class PgTasks implements TaskStore {
  constructor(private readonly db: Db) {}

  create(
    t: { id: string; owner: string; request: Record<string, unknown>; ttl: number; poll: number; message?: string },
    now = Date.now(),
  ): Promise<TaskEntry> {
    return this.db.holdOwner().then(() =>
      this.db.tx(async (q) => {
        const r = (
          await q(
            `INSERT INTO fleet_tasks (instance, id, owner, status, message, request, holder, created, updated, ttl, poll)
        VALUES ($1, $2, $3, 'working', $4, $5, $6, $7, $7, $8, $9) RETURNING ${TASK_COLUMNS}`,
            [
              this.db.instance,
              t.id,
              t.owner,
              t.message ?? null,
              JSON.stringify(t.request),
              this.db.owner,
              now,
              t.ttl,
              t.poll,
            ],
          )
        ).rows[0];
        if (now % 64 === 0)
          await q('DELETE FROM fleet_tasks WHERE instance = $1 AND created + ttl < $2', [this.db.instance, now]);
        return taskFromRow(r);
      }),
    );
  }

  get(id: string, owner: string, now = Date.now()): Promise<TaskEntry | undefined> {
    return this.db.tx(async (q) => {
      const r = (
        await q(
          `SELECT ${TASK_COLUMNS} FROM fleet_tasks WHERE instance = $1 AND id = $2 AND owner = $3 AND created + ttl >= $4`,
          [this.db.instance, id, owner, now],
        )
      ).rows[0];
      return r ? taskFromRow(r) : undefined;
    });
  }

  list(owner: string, now = Date.now()): Promise<TaskEntry[]> {
    return this.db.tx(async (q) =>
      (
        await q(
          `SELECT ${TASK_COLUMNS} FROM fleet_tasks WHERE instance = $1 AND owner = $2 AND created + ttl >= $3 ORDER BY created DESC, id`,
          [this.db.instance, owner, now],
        )
      ).rows.map(taskFromRow),
    );
  }

  update(
    id: string,
    v: { status?: TaskStatus; message?: string; result?: Record<string, unknown> },
    now = Date.now(),
  ): Promise<TaskEntry | undefined> {
    return this.db.tx(async (q) => {
      await q(
        `UPDATE fleet_tasks SET status = coalesce($3, status), message = coalesce($4, message), result = coalesce($5, result), updated = $6
        WHERE instance = $1 AND id = $2 AND status NOT IN (${ENDED})`,
        [this.db.instance, id, v.status ?? null, v.message ?? null, v.result ? JSON.stringify(v.result) : null, now],
      );
      const r = (
        await q(`SELECT ${TASK_COLUMNS} FROM fleet_tasks WHERE instance = $1 AND id = $2 AND created + ttl >= $3`, [
          this.db.instance,
          id,
          now,
        ])
      ).rows[0];
      return r ? taskFromRow(r) : undefined;
    });
  }

  async adopt(id: string, now = Date.now()): Promise<boolean> {
    await this.db.holdOwner();
    return this.db.tx(async (q) => {
      const r = (
        await q(
          `SELECT status, holder FROM fleet_tasks WHERE instance = $1 AND id = $2 AND created + ttl >= $3 FOR UPDATE`,
          [this.db.instance, id, now],
        )
      ).rows[0];
      if (!r || TERMINAL.includes(r.status) || Number(r.holder) === this.db.owner) return false;
      const alive = (
        await q(
          "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2 AND granted) AS alive",
          [OWNER_NS, Number(r.holder)],
        )
      ).rows[0].alive;
      if (alive) return false;
      await q('UPDATE fleet_tasks SET holder = $3, updated = $4 WHERE instance = $1 AND id = $2', [
        this.db.instance,
        id,
        this.db.owner,
        now,
      ]);
      return true;
    });
  }
}

class PgCheckpoints implements CheckpointStore {
  constructor(private readonly db: Db) {}
  put(c: Checkpoint): Promise<void> {
    return this.db.tx(
      async (q) =>
        void (await q(
          'INSERT INTO fleet_checkpoints (instance, seq, hash, text) VALUES ($1, $2, $3, $4) ON CONFLICT (instance, seq) DO UPDATE SET hash = excluded.hash, text = excluded.text',
          [this.db.instance, c.seq, c.hash, c.text],
        )),
    );
  }
  latest(): Promise<Checkpoint | undefined> {
    return this.db.tx(async (q) => {
      const r = (
        await q('SELECT seq, hash, text FROM fleet_checkpoints WHERE instance = $1 ORDER BY seq DESC LIMIT 1', [
          this.db.instance,
        ])
      ).rows[0];
      return r ? { seq: Number(r.seq), hash: r.hash, text: r.text } : undefined;
    });
  }
}

class PgSuspensions implements SuspensionStore {
  readonly where = 'PostgreSQL state store';
  constructor(private readonly db: Db) {}
  put(s: Suspension): Promise<Suspension | undefined> {
    return this.db.tx(async (q) => {
      const before = (
        await q('SELECT target, reason, by, at FROM fleet_suspensions WHERE target = $1 FOR UPDATE', [s.target])
      ).rows[0] as Suspension | undefined;
      await q(
        'INSERT INTO fleet_suspensions (target, reason, by, at) VALUES ($1, $2, $3, $4) ON CONFLICT (target) DO UPDATE SET reason = excluded.reason, by = excluded.by, at = excluded.at',
        [s.target, s.reason, s.by, s.at],
      );
      return before ? { ...before } : undefined;
    });
  }
  remove(target: string): Promise<Suspension | undefined> {
    return this.db.tx(async (q) => {
      const r = (await q('DELETE FROM fleet_suspensions WHERE target = $1 RETURNING target, reason, by, at', [target]))
        .rows[0] as Suspension | undefined;
      return r ? { ...r } : undefined;
    });
  }
  list(): Promise<Suspension[]> {
    return this.db.tx(async (q) =>
      (await q('SELECT target, reason, by, at FROM fleet_suspensions ORDER BY target')).rows.map(
        (r) => ({ ...r }) as Suspension,
      ),
    );
  }
}

/** The one NOTIFY channel of the fleet's processes on a database; a message names its topic. */
const SIGNAL_CHANNEL = 'fleet_signals';
/** NOTIFY's payload limit is 8,000 bytes */
const MAX_SIGNAL = 7900;

/** LISTEN on one connection of its own (re-opened after a loss while anyone listens), NOTIFY through the pool. */
class PgSignals implements Signals {
  private listeners = new Map<string, Set<(m: string) => void>>();
  private client?: Promise<PgTypes.Client>;
  private retry?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly url: () => Promise<string>,
  ) {}

  async publish(topic: string, message: string): Promise<void> {
    const payload = JSON.stringify({ t: topic, m: message });
    if (Buffer.byteLength(payload) > MAX_SIGNAL)
      throw new Error(`a signal of ${Buffer.byteLength(payload)} bytes is over NOTIFY's limit`);
    await this.db.session((q) => q('SELECT pg_notify($1, $2)', [SIGNAL_CHANNEL, payload]));
  }

  subscribe(topic: string, fn: (m: string) => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(fn);
    this.listen();
    return () => {
      set.delete(fn);
      if (!set.size) this.listeners.delete(topic);
      if (!this.listeners.size) this.drop();
    };
  }

  private listen(): void {
    if (this.client || this.closed) return;
    const lost = () => {
      this.client = undefined;
      if (this.listeners.size && !this.closed && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.listen();
        }, 1000);
        this.retry.unref();
      }
    };
    this.client = (async () => {
      const pg = await loadDriver();
      const c = new pg.Client({ connectionString: await this.url(), connectionTimeoutMillis: 5000 });
      c.on('error', lost);
      c.on('end', lost);
      c.on('notification', (n) => {
        if (n.channel !== SIGNAL_CHANNEL || !n.payload) return;
        let msg: { t?: string; m?: string };
        try {
          msg = JSON.parse(n.payload) as typeof msg;
        } catch {
          return;
        }
        for (const fn of [...(this.listeners.get(msg.t ?? '') ?? [])]) fn(msg.m ?? '');
      });
      await c.connect();
      await c.query(`LISTEN ${SIGNAL_CHANNEL}`);
      return c;
    })();
    this.client.catch(lost);
  }

  /** Resolves once this process listens (a test waits for it before the first publish). */
  async listening(): Promise<void> {
    this.listen();
    await this.client;
  }

  private drop(): void {
    const c = this.client;
    this.client = undefined;
    void c?.then((x) => x.end()).catch(() => {});
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.drop();
  }
}

export class PostgresState implements StateStore {
  readonly engine = 'postgres';
  readonly audit: PgAudit;
  readonly keys: PgKeys;
  readonly rate: RateStore;
  readonly approvals: ApprovalStore;
  readonly checkpoints: CheckpointStore;
  readonly suspensions: SuspensionStore;
  readonly tasks: TaskStore;
  readonly signals: PgSignals;
  private readonly db: Db;

  /** `url` resolves the connection string (a credential reference) on first use */
  constructor(instance: string, url: () => Promise<string>, pool = 4, hooks: TrailHooks = {}) {
    this.db = new Db(instance, url, pool);
    this.signals = new PgSignals(this.db, url);
    this.audit = new PgAudit(this.db, hooks);
    this.keys = new PgKeys(this.db);
    this.rate = new PgRate(this.db);
    this.approvals = new PgApprovals(this.db);
    this.checkpoints = new PgCheckpoints(this.db);
    this.suspensions = new PgSuspensions(this.db);
    this.tasks = new PgTasks(this.db);
  }

  async close(): Promise<void> {
    this.keys.stop();
    this.signals.close();
    await this.audit.close();
    return this.db.close();
  }
}
