// The D1 `sql: read` verdict, from SQLite itself (sql.js: SQLite compiled to wasm). A statement
// runs under `read` only when SQLite proves all of this, against the database's own schema:
//   1. the text is exactly one statement (comments cannot hide a second one from the tokenizer);
//   2. it parses as a SELECT: wrapped as `SELECT * FROM (<it>)` it still compiles, which no
//      INSERT/UPDATE/DELETE (with or without WITH/RETURNING), PRAGMA, ATTACH, VACUUM, BEGIN, ...
//      can do;
//   3. its compiled program (EXPLAIN) opens no write transaction and holds no writing opcode, and
//      it returns rows.
// Anything SQLite cannot compile (unknown function such as load_extension, unknown table, syntax
// error) is not proven, so it is refused.
import { dirname, join } from 'node:path';
import type { Database, SqlJsStatic } from 'sql.js';
import { installRequire } from '../../shared/base/install.js';

export type Verdict = { readOnly: true } | { readOnly: false; reason: string };

const WRITING = new Set([
  'OpenWrite', 'CreateBtree', 'Destroy', 'Clear', 'DropTable', 'DropIndex', 'DropTrigger', 'ParseSchema',
  'SetCookie', 'Vacuum', 'IncrVacuum', 'VCreate', 'VDestroy', 'VUpdate', 'VRename', 'VBegin', 'AutoCommit',
  'Savepoint', 'JournalMode', 'Checkpoint', 'Expire', 'LoadAnalysis', 'MaxPgcnt', 'SqlExec', 'IntegrityCk',
]);

let engine: Promise<SqlJsStatic> | undefined;

/** sql.js and its wasm load on the first verdict, from node_modules beside the bundle. */
function loadEngine(): Promise<SqlJsStatic> {
  return (engine ??= (async () => {
    const req = installRequire();
    const main = req.resolve('sql.js');
    const init = req(main) as (cfg: { locateFile(f: string): string }) => Promise<SqlJsStatic>;
    return init({ locateFile: (f) => join(dirname(main), f) });
  })());
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0]!;

function explain(db: Database, sql: string): { op: string; p2: number }[] {
  const st = db.prepare(`EXPLAIN ${sql}`);
  try {
    const ops: { op: string; p2: number }[] = [];
    while (st.step()) {
      const row = st.get();
      ops.push({ op: String(row[1]), p2: Number(row[3]) });
    }
    return ops;
  } finally {
    st.free();
  }
}

function judge(db: Database, sql: string): Verdict {
  const texts: string[] = [];
  try {
    for (const st of db.iterateStatements(sql)) {
      texts.push(st.getSQL());
      st.free();
      if (texts.length > 1) return { readOnly: false, reason: 'it holds more than one statement' };
    }
  } catch (e) {
    return { readOnly: false, reason: `SQLite cannot compile it (${firstLine(e)})` };
  }
  if (texts.length !== 1) return { readOnly: false, reason: 'it holds no statement' };
  const text = texts[0]!.replace(/;\s*$/, '');
  try {
    db.prepare(`SELECT * FROM (\n${text}\n)`).free();
  } catch {
    return { readOnly: false, reason: 'it is not a SELECT' };
  }
  let ops: { op: string; p2: number }[];
  try {
    ops = explain(db, text);
  } catch (e) {
    return { readOnly: false, reason: `SQLite cannot compile it (${firstLine(e)})` };
  }
  for (const { op, p2 } of ops) {
    if (op === 'Transaction' && p2 !== 0) return { readOnly: false, reason: 'it opens a write transaction' };
    if (WRITING.has(op)) return { readOnly: false, reason: `its program writes (${op})` };
  }
  if (!ops.some((o) => o.op === 'ResultRow')) return { readOnly: false, reason: 'it returns no rows' };
  return { readOnly: true };
}

/** Judges `sql` against a database whose schema is `ddl` (its CREATE statements). */
export async function readOnlyVerdict(sql: string, ddl: string[]): Promise<Verdict> {
  const SQL = await loadEngine();
  const db = new SQL.Database();
  try {
    for (const stmt of ddl) {
      try {
        db.run(stmt);
      } catch {
        /* an object SQLite here cannot build (e.g. a virtual table module): queries on it are refused */
      }
    }
    return judge(db, sql);
  } finally {
    db.close();
  }
}

/** Runs SQL on a sql.js database, for the sandbox's D1. */
export async function sqlEngine(): Promise<SqlJsStatic> {
  return loadEngine();
}
