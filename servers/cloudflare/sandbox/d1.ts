// D1 in the sandbox: real SQLite (sql.js), one in-memory database per D1 database, answering the
// /query endpoint's shape: one result per statement with its rows and meta.
import type { Database } from 'sql.js';
import { sqlEngine } from '../sql.js';
import type { D1Database } from './seed.js';

export class D1Error extends Error {}

export interface D1Result {
  results: Record<string, unknown>[];
  success: true;
  meta: {
    changed_db: boolean;
    changes: number;
    duration: number;
    last_row_id: number;
    rows_read: number;
    rows_written: number;
    size_after: number;
  };
}

// D1 refuses these through its authorizer; the sandbox does too.
const UNAUTHORIZED = /^\s*(attach|detach)\b|\bvacuum\s+into\b|\bload_extension\s*\(/i;

export class D1Engine {
  private dbs = new Map<string, Promise<Database>>();

  private open(d: D1Database): Promise<Database> {
    let db = this.dbs.get(d.uuid);
    if (!db) {
      db = sqlEngine().then((SQL) => {
        const x = new SQL.Database();
        for (const s of d.seed) x.run(s);
        return x;
      });
      this.dbs.set(d.uuid, db);
    }
    return db;
  }

  async query(d: D1Database, sql: string, params: unknown[] = []): Promise<D1Result[]> {
    const db = await this.open(d);
    const out: D1Result[] = [];
    try {
      for (const st of db.iterateStatements(sql)) {
        const text = st.getSQL();
        if (UNAUTHORIZED.test(text)) {
          st.free();
          throw new D1Error('not authorized: SQLITE_AUTH');
        }
        const started = performance.now();
        const before = db.exec('SELECT total_changes()')[0]!.values[0]![0] as number;
        if (params.length) st.bind(params as never);
        const rows: Record<string, unknown>[] = [];
        while (st.step()) rows.push(st.getAsObject());
        st.free();
        const changes = (db.exec('SELECT total_changes()')[0]!.values[0]![0] as number) - before;
        const lastId = db.exec('SELECT last_insert_rowid()')[0]!.values[0]![0] as number;
        out.push({
          results: rows,
          success: true,
          meta: {
            changed_db: changes > 0,
            changes,
            duration: performance.now() - started,
            last_row_id: lastId,
            rows_read: rows.length,
            rows_written: changes,
            size_after: this.size(db),
          },
        });
      }
    } catch (e) {
      if (e instanceof D1Error) throw e;
      throw new D1Error(`${(e as Error).message}: SQLITE_ERROR`);
    }
    return out;
  }

  private size(db: Database): number {
    const [pages, size] = [db.exec('PRAGMA page_count'), db.exec('PRAGMA page_size')].map((r) =>
      Number(r[0]?.values[0]?.[0] ?? 0),
    );
    return pages! * size!;
  }

  close(): void {
    for (const db of this.dbs.values()) void db.then((x) => x.close()).catch(() => {});
    this.dbs.clear();
  }
}
