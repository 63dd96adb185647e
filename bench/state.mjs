#!/usr/bin/env node
// `npm run bench:state`: what state costs per call, and whether it grows with history.
// - keyed write (claim + outcome, the state work of one keyed call) with 0, 10,000 and 100,000 keys
//   kept, on the embedded engine (SQLite), on per-key files (the other candidate), on the whole-file
//   JSON store it replaced (the reference), and on PostgreSQL when one is given;
// - audit appends per second on PostgreSQL from 1 replica and from 3 replicas at once.
// Figures are ratios within this run (the machine is shared; absolute times vary with load).
//
// Writes docs/benchmarks-state.md and the block between the state-bench markers of docs/operations.md.
//
//   node bench/state.mjs [--ops 200] [--appends 1000] [--pg URL (default $FLEET_TEST_PG)] [--out docs/benchmarks-state.md]
//     [--readme docs/operations.md] [--no-write]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { load as loadNow, loadSpan, median } from './stats.mjs';
import { benchLib } from './bundle.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    ops: { type: 'string', default: '200' },
    appends: { type: 'string', default: '1000' },
    inflight: { type: 'string', default: '16' },
    trail: { type: 'string', default: '10000,100000,300000' },
    sizes: { type: 'string', default: '0,10000,100000' },
    pg: { type: 'string', default: process.env.FLEET_TEST_PG ?? '' },
    out: { type: 'string', default: 'docs/benchmarks-state.md' },
    readme: { type: 'string', default: 'docs/operations.md' },
    'no-write': { type: 'boolean', default: false },
  },
});
const OPS = Number(o.ops);
const SIZES = o.sizes.split(',').map(Number);
const say = (s) => process.stderr.write(`bench:state: ${s}\n`);

const libFile = join(ROOT, 'node_modules', '.cache', 'fleet-bench', 'state-lib.mjs');
const lib = await benchLib('state-lib', libFile, ['libsql', 'pg']);
const work = mkdtempSync(join(tmpdir(), 'fleet-bench-state-'));
const load = loadavg()[0];
const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`;
  }
};
const uptimeAtStart = uptime();

const engines = {
  'embedded (SQLite)': async (n, dir) => {
    const s = new lib.EmbeddedState(join(dir, 'a.jsonl'), join(dir, 's.db'));
    await s.keys.claim('init', 'fp'); // creates the schema
    lib.prefillSqlite(join(dir, 's.db'), n);
    return {
      keyed: async (k) => {
        await s.keys.claim(k, 'fp');
        await s.keys.done(k, lib.RESULT);
      },
      close: () => s.close(),
      ops: OPS,
    };
  },
  'per-key files': async (n, dir) => {
    const s = new lib.PerKeyFiles(join(dir, 'keys'));
    s.prefill(n);
    return { keyed: (k) => s.keyed(k), close: async () => {}, ops: OPS };
  },
  'whole-file JSON (before)': async (n, dir) => {
    const s = new lib.WholeFileKeys(join(dir, 'keys.json'));
    s.prefill(n);
    return { keyed: (k) => s.keyed(k), close: async () => {}, ops: 5 };
  },
};
if (o.pg) {
  await lib.migrate(o.pg);
  engines.PostgreSQL = async (n) => {
    const instance = `bench-${process.pid}-${n}-${Date.now()}`;
    await lib.prefillPg(o.pg, instance, n);
    const s = new lib.PostgresState(instance, async () => o.pg);
    return {
      keyed: async (k) => {
        await s.keys.claim(k, 'fp');
        await s.keys.done(k, lib.RESULT);
      },
      close: () => s.close(),
      ops: OPS,
    };
  };
} else say('no PostgreSQL (--pg or FLEET_TEST_PG): its rows are skipped');

// The sizes of one engine are measured interleaved (one keyed write at each size in turn), so a
// change of load on a shared machine weighs on every size alike and the ratios stay honest.
const keyed = [];
for (const [name, open] of Object.entries(engines)) {
  const row = { engine: name, ms: {}, at: loadNow() };
  /** @type {{ n: number, dir: string, e: any, ts: number[] }[]} */
  const opened = [];
  for (const n of SIZES) {
    const dir = mkdtempSync(join(work, 'e-'));
    opened.push({ n, dir, e: await open(n, dir), ts: [] });
  }
  const ops = Math.min(...opened.map((o) => o.e.ops));
  for (const o of opened) for (let i = 0; i < Math.min(10, ops); i++) await o.e.keyed(`warm-${i}`);
  for (let i = 0; i < ops; i++) {
    for (const o of opened) {
      const t0 = performance.now();
      await o.e.keyed(`k-${i}`);
      o.ts.push(performance.now() - t0);
    }
  }
  for (const o of opened) {
    row.ms[o.n] = median(o.ts);
    await o.e.close();
    rmSync(o.dir, { recursive: true, force: true });
    say(`${name} with ${o.n} keys: ${row.ms[o.n].toFixed(3)} ms (${o.ts.length} writes)`);
  }
  row.load = loadSpan(row.at, loadNow());
  keyed.push(row);
}

/** Durable appends per second on one instance's chain from `replicas` processes, each with `inflight` callers. */
async function appendsPerSecond(replicas, inflight) {
  const instance = `bench-appends-${process.pid}-${replicas}-${inflight}-${Date.now()}`;
  const per = Number(o.appends) * (inflight > 1 ? 4 : 1);
  const kids = Array.from({ length: replicas }, () =>
    spawn(
      process.execPath,
      [join(ROOT, 'bench', 'state-worker.mjs'), libFile, o.pg, instance, String(per), String(inflight)],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  const said = (k, word) =>
    new Promise((res, rej) => {
      let buf = '';
      const on = (d) => {
        buf += d;
        if (buf.includes(`${word}\n`)) {
          k.stdout.off('data', on);
          res(undefined);
        }
      };
      k.stdout.on('data', on);
      k.on('exit', (c) => rej(new Error(`worker exited ${c}`)));
    });
  await Promise.all(kids.map((k) => said(k, 'ready')));
  const t0 = performance.now();
  const done = kids.map((k) => said(k, 'done'));
  for (const k of kids) k.stdin.write('go\n');
  await Promise.all(done);
  return (replicas * per) / ((performance.now() - t0) / 1000);
}
const appendsAt = loadNow();
// Serial (one caller per replica: each append's latency is the whole story) and with INFLIGHT callers per
// replica (a replica serving that many calls at once, as the HTTP bench's clients do).
const INFLIGHT = Number(o.inflight);
const APPENDS_GOAL = 3000;
const appends = o.pg
  ? {
      one: await appendsPerSecond(1, 1),
      three: await appendsPerSecond(3, 1),
      oneMany: await appendsPerSecond(1, INFLIGHT),
      threeMany: await appendsPerSecond(3, INFLIGHT),
    }
  : undefined;
const appendsLoad = loadSpan(appendsAt, loadNow());
if (appends)
  say(
    `appends/s on PostgreSQL: ${appends.one.toFixed(0)} from 1 replica, ${appends.three.toFixed(0)} from 3 (1 caller each); ${appends.oneMany.toFixed(0)} and ${appends.threeMany.toFixed(0)} (${INFLIGHT} callers each)`,
  );

// Streaming from PostgreSQL: verifying a trail read page by page from the database keeps the same
// peak memory whatever the trail's length (the reader of `fleet audit verify --instance`).
async function verifyFromPg(n) {
  const instance = `bench-trail-${process.pid}-${n}-${Date.now()}`;
  await lib.prefillPgTrail(o.pg, instance, n);
  const out = await new Promise((res, rej) => {
    const k = spawn(process.execPath, [join(ROOT, 'bench', 'state-verify-worker.mjs'), libFile, o.pg, instance], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    k.stdout.on('data', (d) => (buf += d));
    k.on('exit', (c) => (c === 0 ? res(JSON.parse(buf)) : rej(new Error(`verify worker exited ${c}: ${buf}`))));
  });
  if (out.records !== n) throw new Error(`verified ${out.records} records of ${n}`);
  say(`verify from PostgreSQL, ${n} records: ${out.maxRssMB.toFixed(0)} MiB peak, ${out.seconds.toFixed(1)} s`);
  return { n, ...out };
}
const TRAILS = o.trail.split(',').map(Number);
const streamed = [];
if (o.pg) for (const n of TRAILS) streamed.push(await verifyFromPg(n));
rmSync(work, { recursive: true, force: true });

const appendsGoal = appends
  ? `${appends.threeMany.toFixed(0)}/s with ${INFLIGHT} callers per replica: ${appends.threeMany >= APPENDS_GOAL ? 'holds' : 'does not hold'}; more replicas ${appends.threeMany >= appends.oneMany && appends.three >= appends.one ? 'never meant fewer appends/s' : 'meant fewer appends/s'} in this run`
  : '';
const fmt = (x) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
const ratio = (r, n) => `${(r.ms[n] / r.ms[SIZES[0]]).toFixed(2)}×`;
const date = new Date().toISOString().slice(0, 10);
const machine = `${cpus().length} cores, Node ${process.version}, load average ${load.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at the end`;
const lines = [
  '# State benchmarks',
  '',
  `Generated by \`npm run bench:state\` on ${date} (${machine}; the machine is shared, so absolute times move with its load and only ratios within one run count). Keyed writes: medians of ${OPS} per cell, the sizes of one engine interleaved (one write at each size in turn); the whole-file store only 5, it takes seconds per write at 100k.`,
  '',
  `Machine load (\`uptime\`) at the start: \`${uptimeAtStart}\`; at the end: \`${uptime()}\`.`,
  '',
  '## Keyed write (claim + outcome) with N keys kept',
  '',
  `| engine | ${SIZES.map((n) => `${n.toLocaleString('en')} keys`).join(' | ')} | growth ${SIZES[SIZES.length - 1].toLocaleString('en')} / ${SIZES[0]} | load |`,
  `|---|${SIZES.map(() => '---:').join('|')}|---:|---|`,
  ...keyed.map(
    (r) =>
      `| ${r.engine} | ${SIZES.map((n) => `${fmt(r.ms[n])} ms`).join(' | ')} | ${ratio(r, SIZES.at(-1))} | ${r.load} |`,
  ),
  '',
  ...(appends
    ? [
        '## Audit appends on PostgreSQL',
        '',
        `Each replica a process of its own appending durable records (each resolved only once on the database's disk, as a call's intent is) to one instance's chain, all starting together: with 1 caller per replica (${o.appends} records each, one after another) and with ${INFLIGHT} callers per replica (${Number(o.appends) * 4} records each). The database runs with \`fsync\` and \`synchronous_commit\` on; ${appendsLoad}.`,
        '',
        '| replicas | callers per replica | appends/s (all replicas) | vs 1 replica |',
        '|---|---:|---:|---:|',
        `| 1 | 1 | ${appends.one.toFixed(0)} | 1.00× |`,
        `| 3 at once | 1 | ${appends.three.toFixed(0)} | ${(appends.three / appends.one).toFixed(2)}× |`,
        `| 1 | ${INFLIGHT} | ${appends.oneMany.toFixed(0)} | 1.00× |`,
        `| 3 at once | ${INFLIGHT} | ${appends.threeMany.toFixed(0)} | ${(appends.threeMany / appends.oneMany).toFixed(2)}× |`,
        '',
        `Goal: at least ${APPENDS_GOAL.toLocaleString('en')} appends/s from 3 replicas — ${appendsGoal}.`,
        '',
        '## Verifying a trail streamed from PostgreSQL',
        '',
        "Peak memory (maxRSS) of a process verifying one instance's trail read from the database page by page (the reader of `fleet audit verify --instance` and `fleet audit show --instance`).",
        '',
        '| records | peak memory | time | memory vs smallest |',
        '|---:|---:|---:|---:|',
        ...streamed.map(
          (v) =>
            `| ${v.n.toLocaleString('en')} | ${v.maxRssMB.toFixed(0)} MiB | ${v.seconds.toFixed(1)} s | ${(v.maxRssMB / streamed[0].maxRssMB).toFixed(2)}× |`,
        ),
        '',
      ]
    : ['PostgreSQL rows skipped: no database was given.', '']),
];
const md = lines.join('\n');
process.stdout.write(`${md}\n`);

// The README's block: the ratios only (the doc has the times).
const row = (name) => keyed.find((r) => r.engine === name);
const pgRow = row('PostgreSQL');
const block = [
  `Measured by \`npm run bench:state\` on ${date} (${machine}); ratios within the run, full table in [docs/benchmarks-state.md](benchmarks-state.md).`,
  '',
  `| keyed write (claim + outcome) | ${SIZES.map((n) => `${n.toLocaleString('en')} keys`).join(' | ')} |`,
  `|---|${SIZES.map(() => '---:').join('|')}|`,
  ...keyed.map((r) => `| ${r.engine} | ${SIZES.map((n) => ratio(r, n)).join(' | ')} |`),
  ...(pgRow
    ? [
        '',
        `Load (\`uptime\`) at the start: \`${uptimeAtStart}\`; the load under each figure is in the full tables.`,
        `PostgreSQL vs embedded at ${SIZES[0]} keys: ${(pgRow.ms[SIZES[0]] / row('embedded (SQLite)').ms[SIZES[0]]).toFixed(2)}× the time of a keyed write.`,
      ]
    : []),
  ...(appends
    ? [
        `Audit appends on PostgreSQL (durable, fsync on): 3 replicas at once reach ${(appends.three / appends.one).toFixed(2)}× the appends/s of 1 with 1 caller each, ${(appends.threeMany / appends.oneMany).toFixed(2)}× with ${INFLIGHT} callers each. Goal ≥ ${APPENDS_GOAL.toLocaleString('en')}/s from 3 replicas: ${appendsGoal}.`,
      ]
    : []),
  ...(streamed.length > 1
    ? [
        `Verifying a trail streamed from PostgreSQL: peak memory ${streamed.map((v) => `${(v.maxRssMB / streamed[0].maxRssMB).toFixed(2)}× at ${v.n.toLocaleString('en')} records`).join(', ')} (the reader holds one page of 1,000 lines at a time).`,
      ]
    : []),
  '',
  `Growth of a keyed write from ${SIZES[0]} to ${SIZES[SIZES.length - 1].toLocaleString('en')} keys in this run: ${keyed.map((r) => `${r.engine} ${ratio(r, SIZES.at(-1))}`).join(', ')}.`,
  'SQLite is the embedded default because the rest of the state needs it',
  'too: a rate window is a counted index range inside the same transaction as its insert (per-key',
  'files would need a lock file and a rewritten list per tool), expiry of old keys is an index-range',
  'delete (per-key files need a directory scan that grows with history), approvals and checkpoints sit',
  'in the same durable, multi-process file, and one file is one thing to back up or move aside.',
];
if (!o['no-write']) {
  writeFileSync(resolve(ROOT, o.out), md);
  const readmeFile = resolve(ROOT, o.readme);
  const readme = readFileSync(readmeFile, 'utf8');
  const a = readme.indexOf('<!-- state-bench:start -->');
  const b = readme.indexOf('<!-- state-bench:end -->');
  if (a < 0 || b < a) throw new Error(`${readmeFile} has no state-bench markers`);
  writeFileSync(readmeFile, `${readme.slice(0, a)}<!-- state-bench:start -->\n${block.join('\n')}\n${readme.slice(b)}`);
  say(`wrote ${o.out} and the state-bench block of ${o.readme}`);
}
