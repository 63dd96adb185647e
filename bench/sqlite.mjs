#!/usr/bin/env node
// `npm run bench:sqlite`: the SQLite drivers the embedded store could run on, on the store's own
// work, under the node that runs it: libsql (the dependency: a prebuilt binary per platform, from
// npm), better-sqlite3 (native, compiled at install where no prebuilt binary can be fetched; measured
// when --better-sqlite3 names an installed copy built for this node) and node:sqlite (built into
// Node >= 22.13):
// - a keyed claim: one IMMEDIATE transaction that looks a key up and inserts it, then one that
//   records the outcome (shared/state/embedded.ts, EmbeddedKeys.claim + done);
// - a rate-window take: delete what left the window, count, insert (EmbeddedRate.take);
// - the OS lock (shared/base/oslock.ts): BEGIN IMMEDIATE on a lock database with no busy wait, and
//   ROLLBACK; a second connection must be refused while it is held;
// - loading the driver in a fresh process;
// - with --install, `npm install libsql` into an empty folder from an empty npm cache.
// Every driver runs the same SQL on files in WAL mode with synchronous=FULL, interleaved.
// Writes (or replaces) this node's section of docs/benchmarks-sqlite.md.
//
//   node bench/sqlite.mjs [--ops 400] [--install] [--better-sqlite3 DIR] [--out docs/benchmarks-sqlite.md] [--no-write]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    ops: { type: 'string', default: '400' },
    install: { type: 'boolean', default: false },
    'better-sqlite3': { type: 'string' },
    out: { type: 'string', default: 'docs/benchmarks-sqlite.md' },
    'no-write': { type: 'boolean', default: false },
  },
});
const OPS = Number(o.ops);
const say = (s) => process.stderr.write(`bench:sqlite: ${s}\n`);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const us = (ns) => (ns / 1000).toFixed(0);
const loadAtStart = loadavg()[0];
const work = mkdtempSync(join(tmpdir(), 'fleet-bench-sqlite-'));
const DEP = 'libsql';
const depVersion = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies[DEP];

/** A driver with better-sqlite3's API (libsql has it too), from the package folder `dir`. */
function betterApi(name, dir) {
  try {
    const Database = createRequire(join(dir, 'package.json'))(dir);
    return {
      load: `require(${JSON.stringify(dir)})`,
      open: (file, busyMs) => new Database(file, { timeout: busyMs }),
      busy: (e) => e.code === 'SQLITE_BUSY',
    };
  } catch (e) {
    say(`${name} not measured: ${/** @type {Error} */ (e).message.split('\n')[0]}`);
    return undefined;
  }
}

/** The drivers behind the few calls the store makes; the dependency first. */
function drivers() {
  const out = {};
  const dep = betterApi(DEP, join(ROOT, 'node_modules', DEP));
  if (dep) out[DEP] = dep;
  if (o['better-sqlite3']) {
    const bs = betterApi('better-sqlite3', resolve(o['better-sqlite3']));
    if (bs) out['better-sqlite3'] = bs;
  }
  try {
    const { DatabaseSync } = /** @type {any} */ (process.getBuiltinModule('node:sqlite'));
    out['node:sqlite'] = {
      load: "process.getBuiltinModule('node:sqlite')",
      open: (file, busyMs) => {
        const db = new DatabaseSync(file);
        db.exec(`PRAGMA busy_timeout = ${busyMs}`);
        return db;
      },
      busy: (e) => e.errcode === 5,
    };
  } catch {
    say(`node:sqlite not measured: not in Node ${process.version}`);
  }
  return out;
}

const SCHEMA = `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, args TEXT NOT NULL, state TEXT NOT NULL, owner TEXT NOT NULL, at INTEGER NOT NULL, awaiting INTEGER NOT NULL DEFAULT 0, result TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate (name TEXT NOT NULL, t INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (name, t, n)) WITHOUT ROWID;`;
const RESULT = JSON.stringify({
  content: [{ type: 'text', text: 'posted' }],
  structuredContent: { status: 'completed', ts: '1767226200.000110' },
});

function immediate(db, fn) {
  db.exec('BEGIN IMMEDIATE');
  try {
    const r = fn();
    db.exec('COMMIT');
    return r;
  } catch (e) {
    db.exec('ROLLBACK');
    throw e;
  }
}

/** One round of each workload on a driver: per-operation times in ns. */
function round(d, dir, n, seq) {
  const db = d.open(join(dir, 'state.db'), 15_000);
  db.exec(SCHEMA);
  const get = db.prepare('SELECT args, state, owner, awaiting, result FROM keys WHERE key = ?');
  const insert = db.prepare("INSERT INTO keys (key, args, state, owner, at) VALUES (?, ?, 'running', ?, ?)");
  const done = db.prepare("UPDATE keys SET state = 'done', awaiting = 0, result = ? WHERE key = ?");
  const claims = [];
  for (let i = 0; i < n; i++) {
    const key = `k-${seq}-${i}`;
    const t = process.hrtime.bigint();
    immediate(db, () => get.get(key) ?? insert.run(key, 'fp', 'bench', Date.now()));
    immediate(db, () => done.run(RESULT, key));
    claims.push(Number(process.hrtime.bigint() - t));
  }
  const old = db.prepare('DELETE FROM rate WHERE name = ? AND t <= ?');
  const count = db.prepare('SELECT count(*) AS n FROM rate WHERE name = ?');
  const add = db.prepare('INSERT INTO rate (name, t, n) VALUES (?, ?, ?)');
  const rates = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    immediate(db, () => {
      const now = Date.now();
      old.run('post_message', now - 1000);
      if (count.get('post_message').n < 1_000_000) add.run('post_message', now, seq * n + i);
    });
    rates.push(Number(process.hrtime.bigint() - t));
  }
  db.close();
  const lockFile = join(dir, 'trail.oslock');
  const lock = d.open(lockFile, 0);
  const other = d.open(lockFile, 0);
  const locks = [];
  let refused = 0;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    lock.exec('BEGIN IMMEDIATE');
    locks.push(Number(process.hrtime.bigint() - t));
    if (i % 50 === 0) {
      try {
        other.exec('BEGIN IMMEDIATE');
        other.exec('ROLLBACK');
      } catch (e) {
        if (!d.busy(e)) throw e;
        refused++;
      }
    }
    lock.exec('ROLLBACK');
  }
  lock.close();
  other.close();
  return { claims, rates, locks, lockChecks: Math.ceil(n / 50), refused };
}

/** Starting a process that loads the driver (median ms); `bare` starts one that loads nothing. */
function loadMs(d) {
  const time = (code) => {
    const xs = [];
    for (let i = 0; i < 7; i++) {
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, ['--no-warnings', '-e', code], { stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${code} failed`);
      xs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return pct(xs, 0.5);
  };
  return d ? time(`${d.load}; 0`) : time('0');
}

function installCost() {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-sqlite-install-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'probe', private: true }));
  const t = Date.now();
  const r = spawnSync('npm', ['install', `${DEP}@${depVersion}`, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    env: { ...process.env, npm_config_cache: join(dir, 'cache') },
    encoding: 'utf8',
  });
  const s = (Date.now() - t) / 1000;
  // a compile leaves node-gyp's objects behind; libsql's binary is an npm package
  const built =
    spawnSync('find', [join(dir, 'node_modules'), '-name', 'obj.target'], { encoding: 'utf8' }).stdout.trim() !== '';
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`npm install ${DEP} failed: ${r.stderr.slice(-400)}`);
  return {
    seconds: s,
    how: built ? 'compiled from source' : 'nothing compiled (prebuilt binary from the npm registry)',
  };
}

const ds = drivers();
const names = Object.keys(ds);
const acc = Object.fromEntries(names.map((n) => [n, { claims: [], rates: [], locks: [], lockChecks: 0, refused: 0 }]));
const ROUNDS = 4;
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 ? [...names].reverse() : names) {
    const dir = mkdtempSync(join(work, `${name.replace(/\W/g, '')}-`));
    const x = round(ds[name], dir, Math.ceil(OPS / ROUNDS), r);
    for (const k of ['claims', 'rates', 'locks']) acc[name][k].push(...x[k]);
    acc[name].lockChecks += x.lockChecks;
    acc[name].refused += x.refused;
  }
}
const rows = names.map((name) => {
  const a = acc[name];
  say(`${name}: done`);
  return {
    name,
    claim: a.claims,
    rate: a.rates,
    lock: a.locks,
    exclusive: a.refused === a.lockChecks,
    loadMs: loadMs(ds[name]),
  };
});
const bareMs = loadMs(undefined);
const sqliteVersion = (name) => {
  const db = ds[name].open(':memory:', 0);
  const v = db.prepare('SELECT sqlite_version() AS v').get().v;
  db.close();
  return v;
};
const install = o.install ? installCost() : undefined;
rmSync(work, { recursive: true, force: true });

const machine = `${cpus().length} cores, Node ${process.version}, load average ${loadAtStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at the end`;
const date = new Date().toISOString().slice(0, 10);
const L = [
  `## Node ${process.version}`,
  '',
  `Measured by \`node bench/sqlite.mjs${o.install ? ' --install' : ''}${o['better-sqlite3'] ? ' --better-sqlite3 DIR' : ''}\` on ${date} (${machine}); ${OPS} operations of each kind per driver, interleaved in ${ROUNDS} rounds. Times per operation in µs, median / 95th percentile.`,
  '',
  '| driver | SQLite | keyed claim + outcome | rate-window take | OS lock take | lock excludes a second holder | a process that loads it |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${sqliteVersion(r.name)} | ${us(pct(r.claim, 0.5))} / ${us(pct(r.claim, 0.95))} | ${us(pct(r.rate, 0.5))} / ${us(pct(r.rate, 0.95))} | ${us(pct(r.lock, 0.5))} / ${us(pct(r.lock, 0.95))} | ${r.exclusive ? 'yes' : '**no**'} | ${r.loadMs.toFixed(1)} ms |`,
  ),
  '',
  `A process that loads nothing (\`node -e 0\`): ${bareMs.toFixed(1)} ms, median of 7 starts.`,
  '',
];
for (const b of rows.slice(1)) {
  const a = rows[0];
  const ratio = (k) => (pct(b[k], 0.5) / pct(a[k], 0.5)).toFixed(2);
  L.push(
    `${b.name} / ${a.name}, medians: keyed claim ${ratio('claim')}×, rate take ${ratio('rate')}×, lock take ${ratio('lock')}×.`,
    '',
  );
}
if (install)
  L.push(
    `\`npm install ${DEP}@${depVersion}\` from an empty npm cache on this node: ${install.seconds.toFixed(0)} s, ${install.how}.`,
    '',
  );
const section = L.join('\n');
process.stdout.write(`${section}\n`);

if (!o['no-write']) {
  const file = resolve(ROOT, o.out);
  const head = [
    '# SQLite drivers: libsql, better-sqlite3 and node:sqlite',
    '',
    'Generated by `node bench/sqlite.mjs` (one section per Node line it ran on; each section from one run). The',
    "embedded store's work per driver: see the script's header for what each column does.",
    '',
  ].join('\n');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : head;
  const sections = current.split(/^(?=## Node )/m);
  const major = process.version.split('.')[0];
  const kept = sections.slice(1).filter((s) => !s.startsWith(`## Node ${major}.`));
  const all = [...kept, `${section}\n`].sort(
    (x, y) => Number(y.slice(9).split('.')[0]) - Number(x.slice(9).split('.')[0]),
  );
  writeFileSync(
    file,
    `${[`${sections[0].trimEnd()}\n\n`, ...all.map((s) => `${s.trimEnd()}\n\n`)].join('').trimEnd()}\n`,
  );
  say(`wrote ${o.out}`);
}
