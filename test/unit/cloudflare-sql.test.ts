// The D1 `sql: read` verdict: SQLite itself (sql.js) decides, against the database's schema.
// Everything not provably a single read-only SELECT is refused.
import { describe, expect, it } from 'vitest';
import { readOnlyVerdict } from '../../servers/cloudflare/sql.js';

const SCHEMA = [
  'CREATE TABLE posts (id INTEGER PRIMARY KEY, slug TEXT UNIQUE NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL, published_at TEXT)',
  'CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)',
  "CREATE VIEW published AS SELECT id, slug, title FROM posts WHERE status = 'published'",
  'CREATE TRIGGER posts_audit AFTER DELETE ON posts BEGIN INSERT INTO authors(name) VALUES (old.slug); END',
];

const WRITES = [
  'WITH doomed AS (SELECT id FROM posts) DELETE FROM posts WHERE id IN (SELECT id FROM doomed)',
  'WITH x AS (SELECT 1) DELETE FROM posts',
  'SELECT 1; DROP TABLE posts',
  'SELECT * FROM posts; DELETE FROM posts',
  'SELECT 1 /* ; */ ; DROP TABLE posts -- trailing',
  '/* SELECT */ DELETE FROM posts',
  '-- SELECT\nDELETE FROM posts',
  "SELECT 1 WHERE 1 = 1 --\n; UPDATE posts SET title = 'x'",
  'PRAGMA user_version = 7',
  'PRAGMA writable_schema = 1',
  'PRAGMA journal_mode = DELETE',
  'PRAGMA foreign_keys = OFF',
  'PRAGMA table_info(posts)',
  "ATTACH DATABASE 'file:/tmp/x.db' AS x",
  'DETACH DATABASE x',
  "VACUUM INTO '/tmp/copy.db'",
  'VACUUM',
  "SELECT load_extension('/tmp/evil.so')",
  "REPLACE INTO posts (id, slug, title, status) VALUES (1, 'a', 'b', 'c')",
  "INSERT INTO posts (slug, title, status) VALUES ('a', 'b', 'c') RETURNING id",
  "INSERT OR REPLACE INTO authors VALUES (1, 'x') RETURNING *",
  "UPDATE posts SET title = 'x' RETURNING id",
  'DELETE FROM posts RETURNING *',
  'CREATE TABLE t (a)',
  'CREATE TEMP TABLE t AS SELECT * FROM posts',
  'DROP VIEW published',
  'ALTER TABLE posts ADD COLUMN x',
  'BEGIN',
  'COMMIT',
  'SAVEPOINT s',
  'ANALYZE',
  'REINDEX',
  'EXPLAIN DELETE FROM posts',
  'SELECT * FROM no_such_table',
  'SELEC * FROM posts',
  '',
  '   ;  ',
  '-- only a comment',
  // table-valued pragma functions are the PRAGMA they wrap; functions must be on the allowlist
  "SELECT * FROM pragma_journal_mode('wal')",
  'SELECT * FROM "PRAGMA_JOURNAL_MODE"(\'off\')',
  "SELECT (SELECT journal_mode FROM pragma_journal_mode('memory'))",
  "WITH j AS (SELECT * FROM pragma_journal_mode('delete')) SELECT * FROM j",
  "SELECT p.title FROM posts p JOIN pragma_journal_mode('wal')",
  "SELECT name FROM pragma_table_info('posts') UNION SELECT journal_mode FROM pragma_journal_mode('wal')",
  'SELECT * FROM pragma_optimize',
  'SELECT * FROM pragma_integrity_check',
  'SELECT * FROM pragma_schema_version',
  'SELECT * FROM pragma_user_version(7)',
  'SELECT * FROM pragma_foreign_keys(0)',
  "SELECT fts3_tokenizer('simple')",
  "SELECT sqlite_compileoption_used('X')",
  "SELECT upper(title) FROM posts WHERE fts3_tokenizer('x') IS NULL",
];

const READS = [
  'SELECT * FROM posts',
  "SELECT slug, title FROM posts WHERE status = 'published' ORDER BY published_at DESC LIMIT 10",
  'SELECT status, count(*) FROM posts GROUP BY status',
  'SELECT DISTINCT status FROM posts',
  'WITH recent AS (SELECT * FROM posts ORDER BY id DESC LIMIT 5) SELECT slug FROM recent',
  'SELECT p.slug, a.name FROM posts p LEFT JOIN authors a ON a.id = p.id',
  'SELECT * FROM published',
  "SELECT name FROM pragma_table_info('posts')",
  'VALUES (1), (2)',
  'SELECT ?1 AS x',
  '/* leading comment */ SELECT 1;',
  'SELECT 1 -- trailing comment',
  "SELECT name FROM pragma_index_list('posts')",
  "SELECT * FROM pragma_table_xinfo('posts') JOIN pragma_foreign_key_list('posts')",
  "SELECT key, value FROM json_each('[1,2]')",
  'SELECT upper(title), count(*), max(id, 2) FROM posts GROUP BY 1',
  "SELECT title ->> '$.x', json_extract(title, '$.y') FROM posts",
  'SELECT row_number() OVER (ORDER BY id), lag(slug) OVER (ORDER BY id) FROM posts',
  "SELECT date('now'), coalesce(NULL, 1), iif(1, 2, 3)",
];

describe('D1 read-only verdict', () => {
  it.each(WRITES)('refuses %j', async (sql) => {
    const v = await readOnlyVerdict(sql, SCHEMA);
    expect(v.readOnly).toBe(false);
    expect((v as { reason: string }).reason.length).toBeGreaterThan(5);
  });

  it.each(READS)('admits %j', async (sql) => {
    expect(await readOnlyVerdict(sql, SCHEMA)).toEqual({ readOnly: true });
  });

  it('compiles against the schema it is given: an unknown table is not proven', async () => {
    expect((await readOnlyVerdict('SELECT * FROM posts', [])).readOnly).toBe(false);
  });
});
