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
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    'rss-calls': { type: 'string', default: '10000' },
    levels: { type: 'string', default: '1,16,64' },
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
if (!(seconds > 0) || !Number.isInteger(rssCalls) || rssCalls < 1 || levels.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write('bench http: --seconds must be > 0, --rss-calls and --levels whole numbers ≥ 1\n');
  process.exit(2);
}
const say = (s) => process.stderr.write(`bench http: ${s}\n`);
const cli = resolve(ROOT, o.cli);
const work = mkdtempSync(join(tmpdir(), 'fleet-bench-http-'));

function spawnServer(args, env) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
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

const rssMB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** `clients` loops calling for `ms` (or until `total` calls are done); latencies in ms. */
async function load(call, clients, { ms, total }) {
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
  return { calls: lat.length, errors, perSecond: lat.length / wall, p50: pct(lat, 50), p99: pct(lat, 99) };
}

function caller(url, headers) {
  let id = 0;
  return async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'list_channels', arguments: {}, _meta: { 'fleet/actor': 'bench@example.com' } } }),
    });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('"result"') || text.includes('"isError":true')) throw new Error(`${res.status} ${text.slice(0, 200)}`);
  };
}

let fleet;
let ref;
let sandbox;
try {
  const libFile = join(work, 'lib.mjs');
  await build({ entryPoints: [join(ROOT, 'bench', 'lib.ts')], outfile: libFile, bundle: true, format: 'esm', platform: 'node', target: 'node20', banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" }, logLevel: 'warning' });
  const lib = await import(pathToFileURL(libFile).href);
  const manifest = lib.discover(join(ROOT, 'scopes')).instances.find((i) => i.connector === 'slack' && i.env === 'dev').manifest;
  sandbox = await lib.CONNECTORS.slack.sandbox();
  const slackToken = sandbox.issueToken(manifest);

  const scopes = join(work, 'scopes');
  await import('node:fs').then((fs) => fs.mkdirSync(scopes));
  for (const f of readdirSync(join(ROOT, 'scopes'))) if (/\.yaml$/.test(f) && f !== 'clients.yaml') copyFileSync(join(ROOT, 'scopes', f), join(scopes, f));
  const token = `fleet_${randomBytes(32).toString('base64url')}`;
  writeFileSync(join(scopes, 'clients.yaml'), `clients:\n  bench:\n    owner: bench <bench@example.com>\n    purpose: The HTTP benchmark's load generator.\n    instances: [slack.dev]\n    token: sha256:${createHash('sha256').update(token).digest('hex')}\n`);

  fleet = spawnServer([cli, 'serve', '--http', '127.0.0.1:0', '--instance', 'slack.dev', '--upstream', sandbox.url, '--scopes', scopes, '--client-rate', '1000000/second', '--max-in-flight', '1024'], {
    SLACK_BOT_TOKEN_DEV: slackToken, FLEET_AUDIT_DIR: join(work, 'audit'), FLEET_STATE_DIR: join(work, 'state'),
  });
  ref = spawnServer([join(ROOT, 'bench', 'one-tool-http-server.mjs'), sandbox.url, slackToken], {});
  const targets = [
    { name: 'fleet serve --http (slack.dev list_channels)', call: caller(`${await fleet.url}/mcp/slack/dev`, { authorization: `Bearer ${token}` }), pid: fleet.child.pid },
    { name: 'SDK Streamable HTTP server, one tool', call: caller(await ref.url, {}), pid: ref.child.pid },
  ];
  const result = { date: new Date().toISOString().slice(0, 10), node: process.version, cores: cpus().length, load: loadavg()[0], seconds, rssCalls, levels: [], rss: {} };
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
  for (const t of targets) {
    say(`${rssCalls} calls at 16 clients: ${t.name}`);
    const r = await load(t.call, 16, { total: rssCalls });
    result.rss[t.name].after = rssMB(t.pid);
    result.rss[t.name].errors = r.errors;
  }
  const [F, R] = targets.map((t) => t.name);
  const f1 = (x) => x.toFixed(1);
  const f2 = (x) => x.toFixed(2);
  const L = [`# HTTP benchmark`, '', `Measured by \`npm run bench\` (bench/http.mjs) on ${result.date} (${result.cores} cores, Node ${result.node}, load ${f1(result.load)} at start). Each level runs ${seconds} s per server, interleaved; both servers read the same Slack sandbox.`, ''];
  L.push('| clients | server | calls/s | p50 ms | p99 ms | errors |', '|---:|---|---:|---:|---:|---:|');
  for (const row of result.levels) for (const name of [F, R]) L.push(`| ${row.clients} | ${name} | ${f1(row[name].perSecond)} | ${f2(row[name].p50)} | ${f2(row[name].p99)} | ${row[name].errors} |`);
  L.push('', '| server | RSS after warm-up | RSS after ' + rssCalls.toLocaleString('en') + ' calls |', '|---|---:|---:|');
  for (const name of [F, R]) L.push(`| ${name} | ${f1(result.rss[name].start)} MB | ${f1(result.rss[name].after)} MB |`);
  const ratios = result.levels.map((row) => ({ clients: row.clients, throughput: row[F].perSecond / row[R].perSecond, p99: row[F].p99 - row[R].p99 }));
  const rssRatio = result.rss[F].after / result.rss[R].after;
  result.ratios = { levels: ratios, rss: rssRatio };
  const summary = [
    `Measured by \`npm run bench\` on ${result.date} (${result.cores} cores, ${result.node}); fleet \`serve --http\` (client check, attribution, policy, two audit records per call) against the SDK's own stateless Streamable HTTP server with one equivalent tool, same sandbox upstream. Full table in [docs/benchmarks-http.md](benchmarks-http.md).`,
    '',
    '| clients | throughput vs SDK server (goal ≥ 0.8× at 16) | p99 added (goal ≤ 1 ms) |',
    '|---:|---:|---:|',
    ...ratios.map((r) => `| ${r.clients} | ${f2(r.throughput)}× | ${r.p99 >= 0 ? '+' : ''}${f2(r.p99)} ms |`),
    '',
    `RSS after ${rssCalls.toLocaleString('en')} calls: ${f1(result.rss[F].after)} MB vs ${f1(result.rss[R].after)} MB, ${f2(rssRatio)}× (goal ≤ 1.2×).`,
  ].join('\n');
  L.push('', '## Ratios', '', summary, '');
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
      if (a >= 0 && b > a) writeFileSync(readme, `${text.slice(0, a)}<!-- bench-http:start -->\n${summary}\n${text.slice(b)}`);
    }
  }
} finally {
  fleet?.child.kill('SIGTERM');
  ref?.child.kill('SIGTERM');
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
}
