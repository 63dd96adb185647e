#!/usr/bin/env node
// `npm run bench` (HTTP part): a read tool over Streamable HTTP — the fleet's slack.dev
// list_channels through `fleet serve --http` (client check, attribution, policy, two audit
// records) against the SDK's own stateless Streamable HTTP server with one equivalent tool
// (bench/one-tool-http-server.mjs), both reading the same Slack sandbox, in one run. Calls per
// second and p50/p99 latency at 1, 16 and 64 concurrent clients, then RSS after --rss-calls calls.
// Writes docs/benchmarks-http.md and the block between the bench-http markers of docs/bots.md.
//
//   node bench/http.mjs [--seconds 5] [--rss-calls 10000] [--cli dist/cli.js] [--out docs/benchmarks-http.md]
//     [--readme docs/bots.md] [--json file] [--no-write]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchLib, bundleLikeTheFleet } from './bundle.mjs';
import { load as loadNow, loadSpan, median, quantile, uptime } from './stats.mjs';

// The bench compares the fleet with the SDK on one upstream, not with Slack's budget: the sandbox
// enforces Slack's rate tiers, so its windows are shortened far enough that no call is refused (429).
process.env.FLEET_SANDBOX_SPEEDUP ??= '100000';

// Also: the latency the fleet adds, as the distribution of per-call differences of paired calls (a
// client calls one server, then the other; --paired pairs); with a PostgreSQL database (--pg, default
// $FLEET_TEST_PG), 1, 2 and 3 `serve --http` replicas sharing it against one replica on the embedded
// store, same clients. Every figure is printed with the machine's load while it was taken.

const ROOT = resolve(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    'rss-calls': { type: 'string', default: '10000' },
    levels: { type: 'string', default: '1,16,64' },
    paired: { type: 'string', default: '2000' },
    pg: { type: 'string', default: process.env.FLEET_TEST_PG ?? '' },
    cli: { type: 'string', default: process.env.FLEET_CLI || 'dist/cli.js' },
    out: { type: 'string', default: 'docs/benchmarks-http.md' },
    readme: { type: 'string', default: 'docs/bots.md' },
    json: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const seconds = Number(o.seconds);
const rssCalls = Number(o['rss-calls']);
const levels = o.levels.split(',').map(Number);
if (
  !(seconds > 0) ||
  !Number.isInteger(rssCalls) ||
  rssCalls < 1 ||
  levels.some((n) => !Number.isInteger(n) || n < 1)
) {
  process.stderr.write('bench http: --seconds must be > 0, --rss-calls and --levels whole numbers ≥ 1\n');
  process.exit(2);
}
const say = (s) => process.stderr.write(`bench http: ${s}\n`);
const cli = resolve(ROOT, o.cli);
const work = mkdtempSync(join(tmpdir(), 'fleet-bench-http-'));

function spawnServer(args, env) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const url = new Promise((res, rej) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) res(m[1]);
    });
    child.on('exit', (c) => rej(new Error(`server exited (${c}): ${err}`)));
  });
  return { child, url };
}

const rssMB = (pid) =>
  Number(/** @type {RegExpExecArray} */ (/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8')))[1]) / 1024;

/** `clients` loops calling for `ms` (or until `total` calls are done); latencies in ms. */
/**
 * @param {() => Promise<unknown>} call
 * @param {number} clients
 * @param {{ ms?: number, total?: number }} until a duration or a count of calls
 */
async function load(call, clients, { ms, total }) {
  const before = loadNow();
  const lat = [];
  let done = 0;
  let errors = 0;
  const end = ms ? performance.now() + ms : Infinity;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end && (total === undefined || done < total)) {
        done++;
        const s = performance.now();
        try {
          await call();
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  return {
    calls: lat.length,
    errors,
    perSecond: lat.length / wall,
    p50: median(lat),
    p99: quantile(lat, 0.99),
    load: loadSpan(before, loadNow()),
  };
}

/**
 * `clients` loops, each calling `a` then `b` (alternating which goes first), `total` pairs in all:
 * the distribution of a − b per pair is what `a` adds to a call, under the same load at the same moment.
 * @param {() => Promise<void>} a @param {() => Promise<void>} b @param {number} clients @param {number} total
 */
async function paired(a, b, clients, total) {
  const before = loadNow();
  const diffs = [];
  let started = 0;
  /** @param {() => Promise<void>} f */
  const timed = async (f) => {
    const s = performance.now();
    await f();
    return performance.now() - s;
  };
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (started < total) {
        const i = started++;
        if (i % 2) {
          const tb = await timed(b);
          diffs.push((await timed(a)) - tb);
        } else {
          const ta = await timed(a);
          diffs.push(ta - (await timed(b)));
        }
      }
    }),
  );
  return { pairs: diffs.length, p50: median(diffs), p99: quantile(diffs, 0.99), load: loadSpan(before, loadNow()) };
}

/** A caller spreading its calls over several servers in turn (replicas behind a round-robin balancer). @param {(() => Promise<void>)[]} calls */
function roundRobin(calls) {
  let i = 0;
  return () => calls[i++ % calls.length]();
}

function caller(url, headers) {
  let id = 0;
  return async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: ++id,
        method: 'tools/call',
        params: { name: 'list_channels', arguments: {}, _meta: { 'fleet/actor': 'bench@example.com' } },
      }),
    });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('"result"') || text.includes('"isError":true'))
      throw new Error(`${res.status} ${text.slice(0, 200)}`);
  };
}

let fleet;
let ref;
/** @type {{ child: import('node:child_process').ChildProcess }[]} */
/** @type {{ child: import('node:child_process').ChildProcess, url: Promise<string> }[]} */
let replicas = [];
let sandbox;
try {
  const libFile = join(work, 'lib.mjs');
  const lib = await benchLib('lib', libFile);
  const manifest = lib
    .discover(join(ROOT, 'scopes'))
    .instances.find((i) => i.connector === 'slack' && i.env === 'dev').manifest;
  sandbox = await lib.CONNECTORS.slack.sandbox();
  const slackToken = sandbox.issueToken(manifest);

  const scopes = join(work, 'scopes');
  await import('node:fs').then((fs) => fs.mkdirSync(scopes));
  for (const f of readdirSync(join(ROOT, 'scopes')))
    if (/\.yaml$/.test(f) && f !== 'clients.yaml') copyFileSync(join(ROOT, 'scopes', f), join(scopes, f));
  const token = `fleet_${randomBytes(32).toString('base64url')}`;
  writeFileSync(
    join(scopes, 'clients.yaml'),
    `clients:\n  bench:\n    owner: bench <bench@example.com>\n    purpose: The HTTP benchmark's load generator.\n    instances: [slack.dev]\n    token: sha256:${createHash('sha256').update(token).digest('hex')}\n`,
  );

  const serve = (dir, env = {}) =>
    spawnServer(
      [
        cli,
        'serve',
        '--http',
        '127.0.0.1:0',
        '--instance',
        'slack.dev',
        '--upstream',
        sandbox.url,
        '--scopes',
        dir,
        '--client-rate',
        '1000000/second',
        '--max-in-flight',
        '1024',
      ],
      {
        SLACK_BOT_TOKEN_DEV: slackToken,
        FLEET_AUDIT_DIR: join(work, 'audit'),
        FLEET_STATE_DIR: join(work, 'state'),
        ...env,
      },
    );
  fleet = serve(scopes);
  const refFile = await bundleLikeTheFleet(
    join(ROOT, 'bench', 'one-tool-http-server.mjs'),
    join(work, 'one-tool-http-server.mjs'),
  );
  ref = spawnServer([refFile, sandbox.url, slackToken], {});
  const targets = [
    {
      name: 'fleet serve --http (slack.dev list_channels)',
      call: caller(`${await fleet.url}/mcp/slack/dev`, { authorization: `Bearer ${token}` }),
      pid: fleet.child.pid,
    },
    { name: 'SDK Streamable HTTP server, one tool', call: caller(await ref.url, {}), pid: ref.child.pid },
  ];
  /** @type {Record<string, any> & { levels: Record<string, any>[], rss: Record<string, any> }} */
  const result = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    cores: cpus().length,
    load: loadavg()[0],
    uptime: uptime(),
    seconds,
    rssCalls,
    levels: [],
    rss: {},
  };
  for (const t of targets) {
    await load(t.call, 4, { total: 200 }); // warm-up
    result.rss[t.name] = { start: rssMB(t.pid) };
  }
  for (const n of levels) {
    const row = { clients: n };
    // interleaved, so a load change on the machine hits both alike
    for (const t of targets) {
      say(`${n} clients: ${t.name}`);
      row[t.name] = await load(t.call, n, { ms: seconds * 1000 });
    }
    result.levels.push(row);
  }
  say(`${o.paired} paired calls at 1 and at 16 clients`);
  result.paired = {
    1: await paired(targets[0].call, targets[1].call, 1, Number(o.paired)),
    16: await paired(targets[0].call, targets[1].call, 16, Number(o.paired)),
  };
  if (o.pg) {
    // replicas of slack.dev on one PostgreSQL store, against the embedded one-replica fleet above
    const pgScopes = join(work, 'scopes-pg');
    await import('node:fs').then((fs) => fs.cpSync(scopes, pgScopes, { recursive: true }));
    writeFileSync(
      join(pgScopes, 'fleet.yaml'),
      `${readFileSync(join(pgScopes, 'fleet.yaml'), 'utf8')}\nstore:\n  engine: postgres\n  url: env:FLEET_STATE_PG\n`,
    );
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FLEET_STATE_PG: o.pg };
    const { execFileSync } = await import('node:child_process');
    execFileSync(process.execPath, [cli, 'state', 'migrate', '--scopes', pgScopes], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    replicas = [0, 1, 2].map(() => serve(pgScopes, { FLEET_STATE_PG: o.pg }));
    const calls = await Promise.all(
      replicas.map(async (r) => caller(`${await r.url}/mcp/slack/dev`, { authorization: `Bearer ${token}` })),
    );
    for (const c of calls) await load(c, 4, { total: 100 }); // warm-up
    const sets = [
      { name: '1 replica, embedded store', call: targets[0].call },
      ...[1, 2, 3].map((n) => ({
        name: `${n} replica${n > 1 ? 's' : ''}, PostgreSQL`,
        call: roundRobin(calls.slice(0, n)),
      })),
    ];
    result.replicas = { clients: 16, rows: Object.fromEntries(sets.map((x) => [x.name, []])) };
    // interleaved, twice each, so a load change weighs on every row alike
    for (let round = 0; round < 2; round++) {
      for (const x of sets) {
        say(`replicas: ${x.name}, 16 clients`);
        result.replicas.rows[x.name].push(await load(x.call, 16, { ms: seconds * 1000 }));
      }
    }
  }
  for (const t of targets) {
    say(`${rssCalls} calls at 16 clients: ${t.name}`);
    const r = await load(t.call, 16, { total: rssCalls });
    result.rss[t.name].after = rssMB(t.pid);
    result.rss[t.name].errors = r.errors;
    result.rss[t.name].load = r.load;
  }
  result.uptimeAtEnd = uptime();
  const [F, R] = targets.map((t) => t.name);
  const f1 = (x) => x.toFixed(1);
  const f2 = (x) => x.toFixed(2);
  const L = [
    `# HTTP benchmark`,
    '',
    `Measured by \`npm run bench\` (bench/http.mjs) on ${result.date} (${result.cores} cores, Node ${result.node}). Each level runs ${seconds} s per server, interleaved; both servers read the same Slack sandbox; the SDK server is bundled as the fleet is (bench/bundle.mjs). Every row names the load average (1 min) at its start and end.`,
    '',
    `Machine load (\`uptime\`) at the start: \`${result.uptime}\`; at the end: \`${result.uptimeAtEnd}\`.`,
    '',
  ];
  L.push('| clients | server | calls/s | p50 ms | p99 ms | errors | load |', '|---:|---|---:|---:|---:|---:|---|');
  for (const row of result.levels)
    for (const name of [F, R])
      L.push(
        `| ${row.clients} | ${name} | ${f1(row[name].perSecond)} | ${f2(row[name].p50)} | ${f2(row[name].p99)} | ${row[name].errors} | ${row[name].load} |`,
      );
  L.push(
    '',
    `Latency the fleet adds: ${o.paired} paired calls (each client calls one server, then the other, alternating which goes first); the distribution of the per-pair difference, fleet − SDK server.`,
    '',
    '| clients | median added ms | p99 added ms | load |',
    '|---:|---:|---:|---|',
  );
  for (const [n, p] of Object.entries(result.paired)) L.push(`| ${n} | ${f2(p.p50)} | ${f2(p.p99)} | ${p.load} |`);
  L.push(
    '',
    `| server | RSS after warm-up | RSS after ${rssCalls.toLocaleString('en')} calls | load |`,
    '|---|---:|---:|---|',
  );
  for (const name of [F, R])
    L.push(
      `| ${name} | ${f1(result.rss[name].start)} MB | ${f1(result.rss[name].after)} MB | ${result.rss[name].load} |`,
    );
  const ratios = result.levels.map((row) => ({
    clients: row.clients,
    throughput: row[F].perSecond / row[R].perSecond,
  }));
  const rssRatio = result.rss[F].after / result.rss[R].after;
  const goals = [];
  const goal = (what, value, holds) => goals.push(`| ${what} | ${value} | ${holds ? 'holds' : '**does not hold**'} |`);
  for (const r of ratios)
    if (r.clients === 1 || r.clients === 16)
      goal(
        `throughput vs SDK server at ${r.clients} client${r.clients > 1 ? 's' : ''} ≥ 0.9×`,
        `${f2(r.throughput)}×`,
        r.throughput >= 0.9,
      );
  if (result.paired[16])
    goal('p99 added at 16 clients ≤ 2 ms', `${f2(result.paired[16].p99)} ms`, result.paired[16].p99 <= 2);
  goal('RSS after the calls ≤ 1.2× the SDK server', `${f2(rssRatio)}×`, rssRatio <= 1.2);
  let replicaLines = [];
  if (result.replicas) {
    const rate = Object.fromEntries(
      Object.entries(result.replicas.rows).map(([k, runs]) => [k, median(runs.map((x) => x.perSecond))]),
    );
    const names = Object.keys(rate);
    const [emb, ...pg] = names;
    L.push(
      '',
      `## Replicas on PostgreSQL`,
      '',
      `slack.dev list_channels at ${result.replicas.clients} clients for ${seconds} s, the clients' calls spread over the replicas in turn; each row run twice, interleaved with the others, the median of the two counted. The database runs on this machine, with fsync on.`,
      '',
      '| fleet | calls/s (each run) | median calls/s | vs 1 replica on the embedded store | load (each run) |',
      '|---|---:|---:|---:|---|',
    );
    for (const k of names)
      L.push(
        `| ${k} | ${result.replicas.rows[k].map((x) => f1(x.perSecond)).join(', ')} | ${f1(rate[k])} | ${f2(rate[k] / rate[emb])}× | ${result.replicas.rows[k].map((x) => x.load).join('; ')} |`,
      );
    const three = rate[pg[2]];
    const monotonic = pg.every((k, i) => i === 0 || rate[k] >= rate[pg[i - 1]]);
    goal('3 replicas on PostgreSQL vs 1 on the embedded store ≥ 1.0×', `${f2(three / rate[emb])}×`, three >= rate[emb]);
    goal(
      'more replicas never mean fewer calls/s (1 → 2 → 3 on PostgreSQL)',
      pg.map((k) => f1(rate[k])).join(' → '),
      monotonic,
    );
    replicaLines = [
      '',
      `Replicas (16 clients, median of 2 runs): ${names.map((k) => `${k} ${f1(rate[k])}/s`).join(', ')}.`,
    ];
  }
  L.push('', '## Goals', '', '| goal | this run | |', '|---|---:|---|', ...goals);
  result.ratios = { levels: ratios, rss: rssRatio };
  const summary = [
    `Measured by \`npm run bench\` on ${result.date} (${result.cores} cores, ${result.node}); fleet \`serve --http\` (client check, attribution, policy, two audit records per call) against the SDK's own stateless Streamable HTTP server with one equivalent tool, same sandbox upstream. Full table in [docs/benchmarks-http.md](benchmarks-http.md).`,
    '',
    `Load (\`uptime\`) at the start: \`${result.uptime}\`; the load under each figure is in the full table. The SDK server is bundled as the fleet is.`,
    '',
    '| goal | this run | |',
    '|---|---:|---|',
    ...goals,
    ...replicaLines,
  ].join('\n');
  const md = L.join('\n');
  process.stdout.write(`${md}\n`);
  if (o.json) writeFileSync(o.json, JSON.stringify(result, null, 2));
  if (!o['no-write']) {
    writeFileSync(resolve(ROOT, o.out), md);
    const readme = resolve(ROOT, o.readme);
    if (existsSync(readme)) {
      const text = readFileSync(readme, 'utf8');
      const a = text.indexOf('<!-- bench-http:start -->');
      const b = text.indexOf('<!-- bench-http:end -->');
      if (a >= 0 && b > a)
        writeFileSync(readme, `${text.slice(0, a)}<!-- bench-http:start -->\n${summary}\n${text.slice(b)}`);
    }
  }
} finally {
  fleet?.child.kill('SIGTERM');
  ref?.child.kill('SIGTERM');
  for (const r of replicas) r.child.kill('SIGTERM');
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
}
