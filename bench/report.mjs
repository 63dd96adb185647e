// Turns the measurements into the Markdown that `npm run bench` prints and writes to
// docs/benchmarks.md, with the goals checked as ratios to references of the same run, each figure
// beside the machine's load while it was taken. Only what the run measured is written: no prose
// here states a figure it did not take.
import os from 'node:os';
import { isAbsolute, relative as rel } from 'node:path';
import { median, spread } from './stats.mjs';

const relative = (root, a) => (isAbsolute(a) ? rel(root, a) : a);
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const ms = (xs) => (xs.length ? `${f1(median(xs))} (${spread(xs).map(f1).join('–')})` : '–');

export function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** Per target: medians, and the sizes of what it listed. */
export function summarise(t) {
  const runs = t.runs ?? [];
  return {
    init: median(runs.map((r) => r.initMs)),
    list: median(runs.map((r) => r.listMs)),
    rss: median(runs.map((r) => r.rssMB)),
    settled: median(runs.map((r) => r.settledMB)),
    client: median(runs.map((r) => r.clientMs)),
  };
}

function startRow(t) {
  if (t.kind === 'floor') return `| ${t.name} | – | – | ${ms(t.exits)} (exit) | – | – | – | – | – | – | – |`;
  if (!t.runs?.length)
    return `| ${t.name} | ${(t.unavailable ?? t.error ?? 'no run').replaceAll('|', '\\|')} | | | | | | | | | |`;
  const s = t.surface;
  const rss = t.runs.map((r) => r.rssMB);
  return `| ${t.name} | ${s.tools} | ${ms(t.runs.map((r) => r.initMs))} | ${ms(t.runs.map((r) => r.listMs))} | ${ms(t.runs.map((r) => r.clientMs))} | ${f1(median(rss))} | ${f1(median(t.runs.map((r) => r.settledMB)))} | ${f0(s.total)} | ${f0(s.perTool)} | ${f0(s.modelPerTool)} | ${f0(s.restPerTool)} |`;
}

/** Each goal, as a ratio to a reference of the same run: the measured value, the limit, whether it holds. */
export function goals(r) {
  const slack = r.targets.find((t) => t.ref === 'slack');
  const ref = slack?.runs?.length ? summarise(slack) : undefined;
  /** @type {{ met: boolean, line: string, what?: string, value?: string, limit?: string }[]} */
  const rows = [];
  const check = (what, value, limit, fmt, unit = '', atLeast = false) => {
    const ok = Number.isFinite(value) && Number.isFinite(limit);
    const met = ok && (atLeast ? value >= limit : value <= limit);
    const by = ok && !met ? ` (${f2(value / limit)}× the limit)` : '';
    rows.push({
      what,
      value: `${fmt(value)}${unit}`,
      limit: `${atLeast ? '≥' : '≤'} ${fmt(limit)}${unit}`,
      met,
      line: `| ${what} | ${fmt(value)}${unit} | ${atLeast ? '≥' : '≤'} ${fmt(limit)}${unit} | ${met ? 'holds' : `**does not hold**${by}`} |`,
    });
  };
  for (const t of r.targets.filter((x) => x.kind === 'fleet' && x.runs?.length)) {
    const s = summarise(t);
    check(`${t.name}: spawn→tools/list ≤ 1.0× the official Slack server's`, s.list, ref?.list, f1, ' ms');
    check(
      `${t.name}: spawn→tools/list via SDK Client ≤ 1.2× the official Slack server's`,
      s.client,
      ref ? ref.client * 1.2 : NaN,
      f1,
      ' ms',
    );
    check(
      `${t.name}: settled RSS ≤ 1.2× the official Slack server's`,
      s.settled,
      ref ? ref.settled * 1.2 : NaN,
      f1,
      ' MB',
    );
    check(`${t.name}: bytes per tool a model is shown`, t.surface.modelPerTool, 300, f0, ' B');
    const extra = t.listed.filter((n) => !t.granted.includes(n));
    const missing = t.granted.filter((n) => !t.listed.includes(n));
    const exact = !extra.length && !missing.length;
    rows.push({
      met: exact,
      line: `| ${t.name}: lists exactly its ${t.granted.length} grants | ${t.listed.length} listed | = grants | ${exact ? 'holds' : `**does not hold** (extra: ${extra.join(', ') || 'none'}; missing: ${missing.join(', ') || 'none'})`} |`,
    });
  }
  const bundled = r.targets.find((t) => t.kind === 'bundle' && t.runs?.length);
  const launched =
    bundled && r.targets.find((t) => t.kind === 'fleet' && t.name === bundled.name.replace(/ from the bundle.*$/, ''));
  if (bundled && launched)
    check(
      `${launched.name}: spawn→tools/list through dist/fleet ≤ 1.0× from the bundle`,
      summarise(launched).list,
      summarise(bundled).list,
      f1,
      ' ms',
    );
  if (r.launcher)
    check(
      '`fleet --version` through dist/fleet ≤ 1.0× from the bundle',
      r.launcher.launcher,
      r.launcher.bundle,
      f1,
      ' ms',
    );
  if (r.calls) {
    const sync = r.durability ? r.durability.serialSyncMs - r.durability.serialNoSyncMs : 0;
    check(
      `the core's share per call, median, less the intent's fdatasync (median ${f2(sync)} ms) (${r.calls.tool})`,
      r.calls.core.median - sync,
      0.5,
      f2,
      ' ms',
    );
  }
  const single = r.audit?.find((a) => a.processes === 1);
  if (single) {
    const met = single.perSecond >= 10_000 && single.intact;
    rows.push({
      met,
      line: `| audit events/s from 1 process, chain intact | ${f0(single.perSecond)}/s, ${single.intact ? 'intact' : 'BROKEN'} | ≥ 10,000/s | ${met ? 'holds' : '**does not hold**'} |`,
    });
  }
  if (r.verify && !r.verify.sha256sum.error) {
    check(
      "`fleet audit verify` speed ≥ 0.5× sha256sum's on the same trail",
      r.verify.verify.mbPerS / r.verify.sha256sum.mbPerS,
      0.5,
      f2,
      '×',
      true,
    );
    check(
      '`fleet audit verify` peak RSS, whole trail vs 1/16 of it (constant memory) ≤ 1.2×',
      r.verify.verify.maxRssMB / r.verify.small.maxRssMB,
      1.2,
      f2,
      '×',
    );
  }
  return rows;
}

export function markdown(r) {
  const m = r.machine;
  const L = [];
  L.push('# Benchmarks');
  L.push('');
  L.push(`Generated by \`npm run bench\` (bench/run.mjs) on ${r.date}. Every number below comes from the same run.`);
  L.push('');
  L.push(`Machine: ${m.cores} cores (${m.cpu}), ${f1(m.memoryGiB)} GiB memory, Node ${m.node}, ${m.platform}.`);
  if (r.load) {
    const busy = Math.max(...r.load) > m.cores;
    L.push(
      `Load average (1 min) at start and end: ${r.load.map(f1).join(' and ')}${busy ? ` — **above the ${m.cores} cores: other work shared the machine, so absolute times are inflated; regenerate on a quiet machine**` : ''}.`,
    );
  }
  if (r.uptime)
    L.push(
      `Machine load (\`uptime\`) at the start: \`${r.uptime[0]}\`; at the end: \`${r.uptime[1]}\`. Each section below names the load average (1 min) at its start and end.`,
    );
  L.push(
    `Settings: ${r.settings.starts} cold starts per server (after one discarded warm-up round, servers interleaved), ${r.settings.calls} calls per path (after ${r.settings.warmup} warm-up calls), audit ${f0(r.settings.auditEvents)} events per run.`,
  );
  L.push('Every server is started with the same minimal environment (PATH, HOME and its own variables).');
  L.push('');
  L.push('## Start-up and tool surface');
  L.push('');
  L.push(
    `Times are ms from spawn() to the answer arriving: median (p10–p90), through the bench's raw pipe and, separately, through the SDK's own \`Client\` (which also compiles every outputSchema on tools/list). RSS is VmRSS of the server process right after tools/list, and settled: a fleet instance's once it has said its upstream is open (the sandbox started and the identity check done; \`FLEET_TRACE_START\`), what a user lives with; a peer opens nothing before a call, so its settled RSS is read at tools/list too. "Model-shown" is name + description + input schema as JSON; "other" is output schema and annotations.${r.loads?.startup ? ` Start-ups measured at ${r.loads.startup}.` : ''}`,
  );
  L.push('');
  L.push(
    '| server | tools | spawn→initialize ms | spawn→tools/list ms | via SDK Client ms | RSS at list MB | settled RSS MB | tools/list bytes | bytes/tool | model-shown B/tool | other B/tool |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of r.targets) L.push(startRow(t));
  L.push('');
  for (const t of r.targets.filter((x) => x.note || x.kind === 'fleet')) {
    L.push(
      `- ${t.name}: ${t.kind === 'fleet' ? `\`${[t.command === process.execPath ? 'node' : relative(r.root, t.command), ...t.args.map((a) => relative(r.root, a) || a)].join(' ')}\`` : t.note}`,
    );
  }
  if (r.skipped.length) L.push(`- not measured (connector not registered): ${r.skipped.join('; ')}`);
  L.push('');
  const traced = r.targets.filter((t) => t.kind === 'fleet' && t.runs?.some((x) => x.trace?.main >= 0));
  if (traced.length) {
    L.push('### Where a start goes');
    L.push('');
    L.push(
      `Each fleet start's own milestones (\`FLEET_TRACE_START\`: ms since its process began), medians of the runs above. Before the fleet's first line run Node's own start and, from a snapshot (\`serve <connector>\` starts from the one warmed for its connector), its deserialisation; then JavaScript until tools/list is answered (the command line, fleet.yaml and the manifest, the instance composed, the MCP session); the upstream opens after that answer. A bare \`node -e 0\` exited in ${f1(median(r.targets.find((t) => t.kind === 'floor')?.exits ?? []))} ms.`,
    );
    L.push('');
    L.push(
      '| server | starts from | process start → first line ms | first line → tools/list answered ms | tools/list answered → upstream open ms |',
    );
    L.push('|---|---|---:|---:|---:|');
    for (const t of traced) {
      const tr = t.runs.map((x) => x.trace);
      L.push(
        `| ${t.name} | ${tr[0].from ?? '?'}${r.snapshotsMB?.[tr[0].from] ? ` (${f1(r.snapshotsMB[tr[0].from])} MB)` : ''} | ${f1(median(tr.map((x) => x.main)))} | ${f1(median(tr.map((x) => x.listed - x.main)))} | ${f1(median(tr.map((x) => x.open - x.listed)))} |`,
      );
    }
    L.push('');
  }
  if (r.calls) {
    const c = r.calls;
    L.push('## Per-call overhead');
    L.push('');
    L.push(
      `${c.tool} through the fleet dev instance over stdio (\`serve --upstream\` at a Slack sandbox) against ${c.upstream} made directly with @slack/web-api to the same sandbox and the one-tool server's echo, one of each per round, ${c.fleet.n} rounds (${c.load}). The differences are per round: their median and p99 are those of the per-round differences.`,
    );
    L.push('');
    L.push('| path | median ms | p99 ms |');
    L.push('|---|---:|---:|');
    L.push(
      `| fleet over stdio (MCP + attribution + policy + 2 audit records + SDK + sandbox) | ${f2(c.fleet.median)} | ${f2(c.fleet.p99)} |`,
    );
    L.push(`| @slack/web-api directly (SDK + sandbox) | ${f2(c.sdk.median)} | ${f2(c.sdk.p99)} |`);
    L.push(
      `| **fleet overhead** (fleet − SDK, per round) | **${f2(c.overhead.median)}** | **${f2(c.overhead.p99)}** |`,
    );
    L.push(
      `| one-tool SDK server, echo over stdio (the MCP transport alone, paid by any MCP server) | ${f2(c.echo.median)} | ${f2(c.echo.p99)} |`,
    );
    L.push(
      `| **the core's share** (fleet − SDK − echo, per round: attribution, policy, 2 audit records, validation) | **${f2(c.core.median)}** | ${f2(c.core.p99)} |`,
    );
    L.push('');
  }
  if (r.audit?.length) {
    L.push('## Audit throughput');
    L.push('');
    L.push(
      "Events appended through shared/audit/log.ts to one file, each awaited before the next (lock, read tail if another process wrote, seal, write; synced within 20 ms, as decision and outcome records are — an intent's fdatasync wait is in the durability table below), then the whole chain verified.",
    );
    L.push('');
    L.push('| processes | events | seconds | events/s | chain | load |');
    L.push('|---:|---:|---:|---:|---|---|');
    for (const a of r.audit)
      L.push(
        `| ${a.processes} | ${f0(a.events)} | ${f2(a.seconds)} | ${f0(a.perSecond)} | ${a.intact ? `intact (${f0(a.chain.records)} records)` : `BROKEN: ${a.chain.problem ?? `${a.chain.records} records`}`} | ${a.load ?? ''} |`,
      );
    L.push('');
  }
  if (r.durability) {
    const d = r.durability;
    L.push('## Durability (fdatasync before the upstream)');
    L.push('');
    L.push(
      `An intent record resolves only once fdatasync has put it on stable storage; decision and outcome records are written at once and synced with the next intent or within 20 ms. Concurrent intents share one fdatasync (group commit). One at a time: the median of each append's time; at once: wall time per record (${d.load ?? ''}).`,
    );
    L.push('');
    L.push('| appends | ms per record |');
    L.push('|---|---:|');
    L.push(`| one at a time, each awaited, with fdatasync (an intent) | ${f2(d.serialSyncMs)} |`);
    L.push(`| one at a time, each awaited, synced later (a decision or outcome) | ${f3(d.serialNoSyncMs)} |`);
    L.push(
      `| ${d.inFlight} at once, with fdatasync | ${f2(d.concurrentMs)} (${f2(d.syncsPerRecord)} fdatasync per record) |`,
    );
    L.push('');
    L.push(
      `So a call pays one fdatasync (${f2(d.serialSyncMs - d.serialNoSyncMs)} ms here, the disk's latency, not the core's work) on its intent; under concurrency each call's share drops to ${f2(d.concurrentMs)} ms. The per-call table above includes it.`,
    );
    L.push('');
  }
  if (r.verify) {
    const v = r.verify;
    L.push('## Audit verify');
    L.push('');
    L.push(
      `\`fleet audit verify\`'s streaming check (shared/audit/verify.ts \`verifyFile\`: every line's sealed ending read as bytes, re-hashed and chained) on a ${f0(v.sizeMB)} MiB trail of ${f0(v.records)} records, in its own process, against \`sha256sum\` of the same file in the same run (page cache warm for both; ${v.load ?? ''}).`,
    );
    L.push('');
    L.push('| reader | seconds | MB/s | peak RSS |');
    L.push('|---|---:|---:|---:|');
    L.push(
      `| fleet audit verify (${v.verify.ok ? 'intact' : 'FAILED'}) | ${f2(v.verify.seconds)} | ${f0(v.verify.mbPerS)} | ${f1(v.verify.maxRssMB)} MB |`,
    );
    L.push(
      `| fleet audit verify, a trail 1/16 the size (${f1(v.small.sizeMB)} MiB) | | | ${f1(v.small.maxRssMB)} MB |`,
    );
    L.push(
      v.sha256sum.error
        ? `| sha256sum | ${v.sha256sum.error} | | |`
        : `| sha256sum | ${f2(v.sha256sum.seconds)} | ${f0(v.sha256sum.mbPerS)} | |`,
    );
    L.push('');
    if (!v.sha256sum.error)
      L.push(
        `Verify ran at ${f2(v.verify.mbPerS / v.sha256sum.mbPerS)}× sha256sum's speed, with its V8 heap capped at ${v.verify.heapCapMB ?? '–'} MB; its peak RSS was ${f2(v.verify.maxRssMB / v.small.maxRssMB)}× that on a trail 16 times smaller.`,
      );
    L.push('');
  }
  if (r.launcher) {
    L.push('## The launcher against the bundle');
    L.push('');
    L.push(
      `\`fleet --version\`, spawn→exit, median of ${r.settings.starts} (interleaved with the start-ups above): through dist/fleet ${f1(r.launcher.launcher)} ms, \`node dist/cli.js\` ${f1(r.launcher.bundle)} ms.`,
    );
    L.push('');
  }
  L.push('## Goals, as ratios to references measured in this run');
  L.push('');
  L.push('| goal | measured | limit | result |');
  L.push('|---|---:|---:|---|');
  for (const g of goals(r)) L.push(g.line);
  L.push('');
  const reasons = why(r);
  if (reasons.length) {
    L.push('## What this run says about the goals that do not hold');
    L.push('');
    for (const n of reasons) L.push(`- ${n}`);
    L.push('');
  }
  if (r.notes?.length) {
    L.push('## Notes');
    L.push('');
    for (const n of r.notes) L.push(`- ${n}`);
    L.push('');
  }
  return L.join('\n');
}

/** What this run's own numbers say about the goals it missed (no figure that it did not take). */
export function why(r) {
  const missed = goals(r)
    .filter((g) => !g.met)
    .map((g) => g.line);
  const has = (re) => missed.some((l) => re.test(l));
  const bare = r.targets.find((t) => t.kind === 'floor');
  const out = [];
  if (has(/spawn→tools\/list/))
    out.push(
      `Start-up: a bare \`node -e 0\` took ${f1(median(bare?.exits ?? []))} ms to exit in this run; "Where a start goes" above splits a fleet start.`,
    );
  for (const t of r.targets.filter((x) => x.kind === 'fleet' && x.surface && x.surface.modelPerTool > 300)) {
    out.push(
      `Tool surface of ${t.name}: ${f0(t.surface.modelPerTool)} B per tool on average; the largest are ${t.surface.largest.map((x) => `${x.name} (${x.model} B)`).join(', ')}.`,
    );
  }
  if (has(/settled RSS/)) {
    const grow = r.targets
      .filter((t) => t.kind === 'fleet' && t.runs?.length)
      .map((t) => `${t.name.replace(/^fleet /, '')} +${f1(summarise(t).settled - summarise(t).rss)} MB`);
    out.push(`Settled RSS minus RSS at tools/list, in this run: ${grow.join(', ')}.`);
  }
  if (has(/core's share/) && r.calls) {
    out.push(
      `Per call: the MCP stdio transport alone (the one-tool server's echo) took ${f2(r.calls.echo.median)} ms median in this run, the whole fleet overhead ${f2(r.calls.overhead.median)} ms (per-round median).`,
    );
  }
  return out;
}

/** The short block the README carries between its bench markers. */
export function readmeSummary(r) {
  const met = goals(r);
  const missed = met.filter((g) => !g.met);
  const slack = r.targets.find((t) => t.ref === 'slack');
  const ref = slack?.runs?.length ? summarise(slack) : undefined;
  const ratio = (v, of) => (Number.isFinite(v) && Number.isFinite(of) ? ` (${f2(v / of)}×)` : '');
  const lines = [
    `Measured by \`npm run bench\` on ${r.date} (${r.machine.cores} cores, Node ${r.machine.node}); ratios are to the official Slack server in the same run. Full tables, goals and reasons in [docs/benchmarks.md](benchmarks.md).`,
    '',
  ];
  lines.push(
    '| server | spawn→tools/list (raw pipe) | via SDK Client | RSS at list | settled RSS (once its upstream is open) | bytes per tool shown to the model |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const t of r.targets.filter((x) => x.runs?.length)) {
    const s = summarise(t);
    const fl = t.kind === 'fleet';
    lines.push(
      `| ${t.name} | ${f1(s.list)} ms${fl ? ratio(s.list, ref?.list) : ''} | ${f1(s.client)} ms${fl ? ratio(s.client, ref?.client) : ''} | ${f1(s.rss)} MB${fl ? ratio(s.rss, ref?.rss) : ''} | ${f1(s.settled)} MB${fl ? ratio(s.settled, ref?.settled) : ''} | ${f0(t.surface.modelPerTool)} B |`,
    );
  }
  lines.push('');
  if (r.calls)
    lines.push(
      `Per call (${r.calls.tool}, median): the core adds ${f2(r.calls.core.median)} ms (attribution, policy, two audit records, validation); with the MCP stdio transport, ${f2(r.calls.overhead.median)} ms over calling the SDK directly.`,
    );
  const single = r.audit?.find((x) => x.processes === 1);
  const multi = r.audit?.find((x) => x.processes > 1);
  if (single)
    lines.push(
      `Audit: ${f0(single.perSecond)} events/s from one process${multi ? `, ${f0(multi.perSecond)}/s from ${multi.processes}` : ''}, chain intact.`,
    );
  if (r.durability)
    lines.push(
      `Durability: an intent waits for one fdatasync, ${f2(r.durability.serialSyncMs)} ms alone, ${f2(r.durability.concurrentMs)} ms per call with ${r.durability.inFlight} at once (group commit).`,
    );
  if (r.verify && !r.verify.sha256sum.error)
    lines.push(
      `Audit verify: ${f0(r.verify.verify.mbPerS)} MB/s on a ${f0(r.verify.sizeMB)} MiB trail (sha256sum: ${f0(r.verify.sha256sum.mbPerS)} MB/s), peak RSS ${f1(r.verify.verify.maxRssMB)} MB (${f1(r.verify.small.maxRssMB)} MB on 1/16 of it).`,
    );
  // One phrase per kind of goal missed ("spawn→tools/list vs official Slack server (1.0×): 6 instances, 1.10–1.22×").
  const kinds = new Map();
  for (const g of missed) {
    const kind = (g.what ?? 'listing').replace(/^fleet \S+: /, '');
    // rows without a numeric limit (a listing, the audit rate) count as missed but carry no ratio
    const ratio = g.limit ? Number.parseFloat(g.value ?? '') / Number.parseFloat(g.limit.replace('≤ ', '')) : NaN;
    kinds.set(kind, [...(kinds.get(kind) ?? []), ratio]);
  }
  const phrases = [...kinds].map(
    ([kind, rs]) =>
      `${kind}: ${rs.length > 1 ? `${rs.length} instances, ` : ''}${f2(Math.min(...rs))}${rs.length > 1 ? `–${f2(Math.max(...rs))}` : ''}× the limit`,
  );
  if (r.verify && !r.verify.sha256sum.error)
    lines.push(
      `Audit verify: ${f2(r.verify.verify.mbPerS / r.verify.sha256sum.mbPerS)}× sha256sum's speed on the same trail.`,
    );
  lines.push(
    `Load (\`uptime\`) at the start: \`${r.uptime?.[0] ?? ''}\`; start-ups measured at ${r.loads?.startup ?? '–'}; the load under every other figure is in the full tables.`,
  );
  if (r.launcher)
    lines.push(
      `\`fleet --version\`: ${f1(r.launcher.launcher)} ms through dist/fleet, ${f1(r.launcher.bundle)} ms from the bundle.`,
    );
  lines.push(
    '',
    missed.length
      ? `${met.length - missed.length} of ${met.length} goals hold. Not holding — ${phrases.join('; ')}.${why(r).length ? ' From this run:' : ''}`
      : `All ${met.length} goals hold.`,
  );
  if (missed.length) lines.push('', ...why(r).map((w) => `- ${w}`));
  return lines.join('\n');
}
