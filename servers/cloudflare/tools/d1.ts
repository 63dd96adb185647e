import { z } from 'zod';
import { Denied } from '../../../shared/base/errors.js';
import type { ToolContext } from '../../../shared/connector/tool.js';
import { C, DESTROY, READ, cfTool, collect, hexId, SHOWN, WALK, lines, text, type CF } from '../common.js';
import { free, lookup, on } from '../../../shared/connector/tool.js';

const SCHEMA_TTL_MS = 30_000;
const MAX_ROWS = 500;
const SCHEMA_SQL =
  "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' " +
  "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'view' THEN 1 ELSE 2 END";

export const d1ListDatabases = cfTool({
  name: 'd1_list_databases',
  description: 'List the D1 databases this instance may query, with their IDs.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({ databases: z.array(z.object({ id: z.string(), name: z.string() })) }),
  needs: ['D1 Read'],
  constraints: { databases: C.databases },
  covers: {},
  async run(_a, { client, signal }) {
    const all = await collect(
      client.api.d1.database.list({ account_id: client.account, per_page: 100 }, { signal }),
      WALK,
      signal,
    );
    return { databases: all.map((d) => ({ id: d.uuid ?? '', name: d.name ?? '' })) };
  },
  lists: { databases: { databases: (d: { id: string }) => d.id } },
  limit: () => SHOWN,
  text: (o) =>
    lines(
      o.databases.map((d) => `${d.id} ${d.name}`),
      '(no granted databases)',
    ),
});

async function rows(client: CF, db: string, sql: string, params: string[] | undefined, signal: AbortSignal) {
  const page = await client.api.d1.database.query(
    db,
    { account_id: client.account, sql, ...(params?.length ? { params } : {}) },
    { signal },
  );
  return page.getPaginatedItems();
}

/** The database's schema, read through D1 itself and kept briefly: the verdict compiles against it. */
async function schema(ctx: ToolContext<CF>, db: string, fresh: boolean): Promise<string[]> {
  const cached = ctx.client.schemas.get(db);
  if (!fresh && cached && Date.now() - cached.at < SCHEMA_TTL_MS) return cached.ddl;
  const [res] = await rows(ctx.client, db, SCHEMA_SQL, undefined, ctx.signal);
  const ddl = ((res?.results ?? []) as { sql?: unknown }[]).map((r) => String(r.sql ?? '')).filter(Boolean);
  ctx.client.schemas.set(db, { at: Date.now(), ddl });
  return ddl;
}

export const d1Query = cfTool({
  name: 'd1_query',
  description: 'Run SQL on a D1 database; a read-only grant runs one SELECT only.',
  // Classed as a write so a read-only production grant needs no approval; the hint still tells a
  // client that under a `sql: write` grant it may delete.
  access: 'write',
  annotations: { ...DESTROY, idempotentHint: false },
  input: z.object({
    database_id: hexId('D1 database'),
    sql: text(100_000, 'sql').describe('SQLite SQL'),
    params: z
      .array(z.string())
      .refine((p) => p.length <= 100, 'at most 100 params')
      .optional()
      .describe('for ? placeholders'),
  }),
  output: z.object({
    rows: z.array(z.record(z.string(), z.unknown())),
    truncated: z.boolean(),
    changes: z.number().optional(),
    rows_read: z.number().optional(),
  }),
  needs: ['D1 Read'],
  grantNeeds: (g) => (g.sql === 'write' ? ['D1 Write'] : []),
  constraints: { databases: C.databases, sql: C.sql },
  audit: { sql: 'body' },
  covers: {
    database_id: on('databases'),
    sql: lookup('sql'),
    params: free('values bound to ? placeholders by D1, never SQL'),
  },
  async facts(a, ctx) {
    // A refused database is never read, not even for its schema; a write grant needs no verdict.
    if (!ctx.allows('databases', a.database_id) || ctx.allows('sql', 'write')) return [{ on: 'sql', value: 'write' }];
    const { readOnlyVerdict } = await import('../sql.js');
    let v = await readOnlyVerdict(a.sql, await schema(ctx, a.database_id, false));
    if (!v.readOnly && /no such (table|column)/.test(v.reason))
      v = await readOnlyVerdict(a.sql, await schema(ctx, a.database_id, true));
    if (!v.readOnly) {
      const at = `${ctx.manifest.file}:${ctx.manifest.line('tools.d1_query.sql')}`;
      throw new Denied(
        'tools.d1_query.sql',
        `denied: the SQL is not provably read-only: ${v.reason}; d1_query.sql of ${ctx.manifest.id} is read (${at}); send one SELECT statement`,
      );
    }
    return [{ on: 'sql', value: 'read' }];
  },
  async run(a, { client, signal }) {
    const [res] = await rows(client, a.database_id, a.sql, a.params, signal);
    const all = (res?.results ?? []) as Record<string, unknown>[];
    return {
      rows: all.slice(0, MAX_ROWS),
      truncated: all.length > MAX_ROWS,
      changes: res?.meta?.changes,
      rows_read: res?.meta?.rows_read,
    };
  },
  text: (o) =>
    (o.rows.length ? o.rows.map((r) => JSON.stringify(r)).join('\n') : '(no rows)') +
    (o.truncated ? `\n[first ${MAX_ROWS} rows]` : '') +
    (o.changes ? `\n${o.changes} row(s) changed` : ''),
});
