// The D1 `sql: read` verdict, from SQLite itself (sql.js: SQLite compiled to wasm). A statement
// runs under `read` only when SQLite proves all of this, against the database's own schema:
//   1. the text is exactly one statement (comments cannot hide a second one from the tokenizer);
//   2. it parses as a SELECT: wrapped as `SELECT * FROM (<it>)` it still compiles, which no
//      INSERT/UPDATE/DELETE (with or without WITH/RETURNING), PRAGMA, ATTACH, VACUUM, BEGIN, ...
//      can do;
//   3. its compiled program (EXPLAIN) opens no write transaction and holds no writing opcode, and
//      it returns rows;
//   4. every function its program calls, and every table-valued function it reads (an eponymous
//      virtual table such as pragma_table_info or json_each, named from the program's own VOpen),
//      is on the read-only allowlist (./sql-allow.ts). A table-valued pragma function is the
//      PRAGMA it wraps (pragma_journal_mode('wal') sets the journal mode): only pragmas that report
//      on the schema are allowed. An allowlist, not a list of the bad: whatever SQLite adds later
//      is refused until someone reads it and lists it.
// Anything SQLite cannot compile (unknown function such as load_extension, unknown table, syntax
// error) is not proven, so it is refused.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Database, SqlJsStatic } from 'sql.js';
import { bundleFile, installRequire } from '../../shared/base/install.js';
import { READ_FUNCTIONS, READ_PRAGMAS, READ_TABLE_FUNCTIONS } from './sql-allow.js';

export type Verdict = { readOnly: true } | { readOnly: false; reason: string };

const WRITING = new Set([
  'OpenWrite',
  'CreateBtree',
  'Destroy',
  'Clear',
  'DropTable',
  'DropIndex',
  'DropTrigger',
  'ParseSchema',
  'SetCookie',
  'Vacuum',
  'IncrVacuum',
  'VCreate',
  'VDestroy',
  'VUpdate',
  'VRename',
  'VBegin',
  'AutoCommit',
  'Savepoint',
  'JournalMode',
  'Checkpoint',
  'Expire',
  'LoadAnalysis',
  'MaxPgcnt',
  'SqlExec',
  'IntegrityCk',
]);

let engine: Promise<SqlJsStatic> | undefined;

/**
 * sql.js and its wasm load on the first verdict: the copies build.mjs puts beside the bundle (so an
 * installed package needs no node_modules), or sql.js from node_modules when run from the sources
 * before a build.
 */
function loadEngine(): Promise<SqlJsStatic> {
  return (engine ??= (async () => {
    const beside = join(dirname(bundleFile()), 'sql-wasm.cjs');
    const main = existsSync(beside) ? beside : installRequire().resolve('sql.js');
    const init = createRequire(main)(main) as (cfg: { locateFile(f: string): string }) => Promise<SqlJsStatic>;
    return init({ locateFile: (f) => join(dirname(main), f) });
  })());
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0]!;

interface Op {
  op: string;
  p2: number;
  p4: string;
}
const FUNCTION_OPS = new Set(['Function', 'PureFunc', 'AggStep', 'AggStep1', 'AggFinal', 'AggValue', 'AggInverse']);

function explain(db: Database, sql: string): Op[] {
  const st = db.prepare(`EXPLAIN ${sql}`);
  try {
    const ops: Op[] = [];
    while (st.step()) {
      const row = st.get();
      ops.push({ op: String(row[1]), p2: Number(row[3]), p4: String(row[5] ?? '') });
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
  let ops: Op[];
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
  return namesOnlyReads(db, ops);
}

/** Every function called and every virtual table opened is on the read-only allowlist. */
function namesOnlyReads(db: Database, ops: Op[]): Verdict {
  for (const { op, p4 } of ops) {
    if (!FUNCTION_OPS.has(op)) continue;
    const name = /^(.+)\(-?\d+\)$/.exec(p4)?.[1]?.toLowerCase();
    if (!name) return { readOnly: false, reason: `it calls a function SQLite does not name (${op} ${p4})` };
    if (!READ_FUNCTIONS.has(name))
      return { readOnly: false, reason: `it calls ${name}(), which is not on the read-only allowlist of functions` };
  }
  const opened = ops.filter((o) => o.op === 'VOpen').map((o) => o.p4);
  if (!opened.length) return { readOnly: true };
  const names = virtualTables(db);
  for (const vtab of opened) {
    const name = names.get(vtab);
    if (!name) return { readOnly: false, reason: 'it reads a virtual table SQLite here cannot name' };
    if (name.startsWith('table:')) continue; // a virtual table of the schema, read
    if (name.startsWith('pragma_')) {
      const pragma = name.slice('pragma_'.length);
      if (!READ_PRAGMAS.has(pragma))
        return {
          readOnly: false,
          reason: `it calls ${name}(), the table-valued form of PRAGMA ${pragma}, which is not on the read-only allowlist of pragmas`,
        };
    } else if (!READ_TABLE_FUNCTIONS.has(name)) {
      return { readOnly: false, reason: `it reads ${name}, a table-valued function not on the read-only allowlist` };
    }
  }
  return { readOnly: true };
}

/** The virtual tables of this connection by the handle EXPLAIN shows: eponymous modules, and the schema's own. */
function virtualTables(db: Database): Map<string, string> {
  const out = new Map<string, string>();
  const probe = (name: string, as: string) => {
    try {
      for (const o of explain(db, `SELECT * FROM "${name.replace(/"/g, '""')}"`))
        if (o.op === 'VOpen') out.set(o.p4, as);
    } catch {
      /* not an eponymous table (a module that needs CREATE VIRTUAL TABLE) */
    }
  };
  const list = (sql: string) => (db.exec(sql)[0]?.values ?? []).map((r) => String(r[0]));
  for (const m of list('SELECT name FROM pragma_module_list')) probe(m, m.toLowerCase());
  for (const t of list("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"))
    probe(t, `table:${t}`);
  return out;
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
