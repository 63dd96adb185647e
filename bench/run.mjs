#!/usr/bin/env node
// `npm run bench`: the whole fleet against its peers, in one run. Prints the tables and writes
// them to docs/benchmarks.md (and the summary between the bench markers of docs/operations.md, where
// present). Not part of `npm test`; bench/smoke.test.ts (`npm run bench:smoke`) runs it with tiny counts.
//
//   node bench/run.mjs [--starts 20] [--calls 2000] [--warmup 200] [--audit 20000]
//     [--processes 4] [--cli dist/cli.js] [--scopes scopes] [--out docs/benchmarks.md]
//     [--readme docs/operations.md] [--json file] [--no-write]
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { auditThroughput } from './audit.mjs';
import { benchLib, bundleLikeTheFleet } from './bundle.mjs';
import { verifySpeed } from './verify.mjs';
import { perCall } from './calls.mjs';
import { machine, markdown, readmeSummary } from './report.mjs';
import { clientStart, coldStart, spawnToExit } from './stdio.mjs';
import { surfaceSize } from './surface.mjs';
import { bareNode, fleetTarget, peerTargets } from './targets.mjs';
import { load, loadSpan, median, uptime } from './stats.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    starts: { type: 'string', default: '20' },
    calls: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    audit: { type: 'string', default: '20000' },
    processes: { type: 'string', default: '4' },
    'verify-mb': { type: 'string', default: '1024' },
    durability: { type: 'string', default: '400' },
    cli: { type: 'string', default: process.env.FLEET_CLI || 'dist/cli.js' },
    scopes: { type: 'string', default: 'scopes' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
    readme: { type: 'string', default: 'docs/operations.md' },
    json: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const count = (name, min) => {
  const n = Number(o[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${name} must be an integer ≥ ${min}, got ${JSON.stringify(o[name])}\n`);
    process.exit(2);
  }
  return n;
};
const settings = {
  starts: count('starts', 1),
  calls: count('calls', 1),
  warmup: count('warmup', 0),
  auditEvents: count('audit', 1),
  processes: count('processes', 2),
  verifyMB: count('verify-mb', 1),
  durability: count('durability', 1),
};
const cli = resolve(ROOT, o.cli);
const scopes = resolve(ROOT, o.scopes);
if (!existsSync(cli)) {
  process.stderr.write(`bench: ${cli} does not exist; run \`node build.mjs\` first (npm run bench does)\n`);
  process.exit(2);
}
const say = (s) => process.stderr.write(`bench: ${s}\n`);

const loadAtStart = loadavg()[0];
const uptimeAtStart = uptime();
const work = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
try {
  // The bench's view of the project's source (connectors, manifests, audit), bundled like the CLI.
  const libFile = join(work, 'lib.mjs');
  const lib = await benchLib('lib', libFile);
  const { instances, skipped } = lib.discover(scopes);
  const auditDir = join(work, 'audit');
  // a state folder of the run's own, as fresh as its trail: not the checkout's .fleet/state
  const stateDir = join(work, 'state');

  let dopplerSandbox;
  const notes = [];
  const dopplerInstance = instances.find((i) => i.connector === 'doppler');
  if (dopplerInstance) {
    const sb = await lib.CONNECTORS.doppler.sandbox();
    dopplerSandbox = { url: sb.url, token: sb.issueToken(dopplerInstance.manifest), close: () => sb.close() };
  }

  const targets = [
    ...instances.map((instance) => fleetTarget({ root: ROOT, cli, scopes, auditDir, stateDir, instance })),
    ...peerTargets({
      root: ROOT,
      dopplerSandbox,
      oneTool: await bundleLikeTheFleet(join(ROOT, 'bench', 'one-tool-server.mjs'), join(work, 'one-tool-server.mjs')),
    }),
  ];
  const bare = bareNode();
  bare.exits = [];
  // the launcher against the bundle it falls back to: the first fleet instance's start, and --version
  const first = targets.find((t) => t.kind === 'fleet' && t.command !== process.execPath);
  const bundled = first && {
    ...first,
    name: `${first.name} from the bundle (node dist/cli.js)`,
    kind: 'bundle',
    command: process.execPath,
    args: [cli, ...first.args],
  };
  if (bundled) targets.splice(targets.indexOf(first) + 1, 0, bundled);
  const version = first && {
    launcher: { command: first.command, args: ['--version'], env: first.env, exits: [] },
    bundle: { command: process.execPath, args: [cli, '--version'], env: first.env, exits: [] },
  };
  const loads = { start: load() };
  say(
    `${instances.length} fleet instance(s), ${targets.length - instances.length} peers; ${settings.starts} starts each`,
  );

  // Round-robin, one discarded warm-up round first: every server sees the same machine state.
  for (let round = 0; round <= settings.starts; round++) {
    for (const t of targets) {
      if (t.unavailable || t.error) continue;
      try {
        const r = await coldStart(t);
        const viaClient = await clientStart(t);
        if (round === 0) continue;
        (t.runs ??= []).push({ ...r, clientMs: viaClient });
        t.surface ??= surfaceSize(r.tools);
        t.listed ??= r.tools.map((x) => x.name);
      } catch (e) {
        t.error = `could not start: ${/** @type {Error} */ (e).message.split('\n')[0]?.slice(0, 300)}`;
        say(`${t.name}: ${t.error}`);
      }
    }
    const exit = await spawnToExit(bare);
    if (round > 0) bare.exits.push(exit);
    if (version) {
      for (const v of [version.launcher, version.bundle]) {
        const ms = await spawnToExit(v);
        if (round > 0) v.exits.push(ms);
      }
    }
  }
  loads.startup = loadSpan(loads.start, load());
  await dopplerSandbox?.close();
  targets.push(bare);

  let calls;
  const dev = targets.find(
    (t) =>
      t.kind === 'fleet' &&
      t.instance.connector === 'slack' &&
      t.instance.manifest.tools.read_history &&
      t.instance.env === 'dev',
  );
  if (dev) {
    say(`per-call overhead: ${settings.calls} calls per path`);
    const oneTool = targets.find((t) => t.ref === 'oneTool');
    calls = await perCall({
      lib,
      instance: dev.instance,
      fleet: dev,
      oneTool,
      calls: settings.calls,
      warmup: settings.warmup,
    });
  } else notes.push('Per-call overhead not measured: no Slack dev instance granting read_history.');

  say(`audit throughput: ${settings.auditEvents} events by 1 and by ${settings.processes} processes`);
  const audit = [];
  for (const processes of [1, settings.processes]) {
    const before = load();
    audit.push({
      ...(await auditThroughput({
        lib,
        libFile,
        dir: work,
        processes,
        perProcess: Math.ceil(settings.auditEvents / processes),
      })),
      load: loadSpan(before, load()),
    });
  }

  say(`durability: ${settings.durability} records appended with and without fdatasync, and 32 at once`);
  let before = load();
  const { serialSync, serialNoSync, ...d } = await lib.durability(work, settings.durability);
  const durability = {
    ...d,
    serialSyncMs: median(serialSync),
    serialNoSyncMs: median(serialNoSync),
    load: loadSpan(before, load()),
  };
  say(`audit verify: a ${settings.verifyMB} MiB trail, against sha256sum of the same file`);
  before = load();
  const verify = {
    ...(await verifySpeed({ lib, libFile, dir: work, mb: settings.verifyMB })),
    load: loadSpan(before, load()),
  };

  const launcher = version && { launcher: median(version.launcher.exits), bundle: median(version.bundle.exits) };
  const result = {
    date: new Date().toISOString().slice(0, 10),
    root: ROOT,
    machine: machine(),
    load: [loadAtStart, loadavg()[0]],
    uptime: [uptimeAtStart, uptime()],
    loads,
    settings,
    targets,
    skipped,
    calls,
    audit,
    durability,
    verify,
    launcher,
    // what a snapshot start deserialises before the fleet's first line: each snapshot beside the CLI, in MB
    snapshotsMB: Object.fromEntries(
      readdirSync(dirname(cli))
        .filter((f) => /^snapshot.*\.blob$/.test(f))
        .map((f) => [f, statSync(join(dirname(cli), f)).size / 2 ** 20]),
    ),
    notes,
  };
  const md = markdown(result);
  process.stdout.write(`${md}\n`);
  if (o.json)
    writeFileSync(
      resolve(o.json),
      JSON.stringify(result, (k, v) => ((k === 'tools' && Array.isArray(v)) || k === 'instance' ? undefined : v), 2),
    );
  if (!o['no-write']) {
    writeFileSync(resolve(ROOT, o.out), `${md}\n`);
    say(`wrote ${o.out}`);
    const readme = resolve(ROOT, o.readme);
    const START = '<!-- bench:start -->';
    const END = '<!-- bench:end -->';
    const text = existsSync(readme) ? readFileSync(readme, 'utf8') : '';
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    if (a >= 0 && b > a) {
      writeFileSync(readme, `${text.slice(0, a + START.length)}\n${readmeSummary(result)}\n${text.slice(b)}`);
      say(`updated the summary in ${o.readme}`);
    } else say(`${o.readme} has no ${START} … ${END} block; summary not written there`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
