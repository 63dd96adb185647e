// `fleet review --format html --out FILE` and `fleet audit show --format html --out FILE`: the
// reviewer's page (shared/review/report/). Each instance's trail is verified first — the verdict is
// the page's headline — and only records verified before any problem are counted; then it is
// streamed once more through the review and activity counters, so memory stays flat however long
// the trail is.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { streamCalls, type CallRow } from '../../../shared/audit/read.js';
import { fileLines, verifiedRecords, verifyLines } from '../../../shared/audit/verify.js';
import { DAY_MS } from '../../../shared/base/duration.js';
import { fleetDir } from '../../../shared/base/install.js';
import { counted, progress } from '../../../shared/base/terminal.js';
import { isProduction } from '../../../shared/connector/scopes.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import { InstanceReviewer, inWindow, windowDays } from '../../../shared/review/evidence.js';
import { narrow } from '../../../shared/review/narrow.js';
import { ActivityCollector } from '../../../shared/review/report/collect.js';
import { renderReport, type InstanceSection, type TrailState } from '../../../shared/review/report/html.js';
import { chosenManifests, instanceOf } from '../../../shared/review/verify.js';
import { readStoreConfig } from '../../../shared/state/config.js';
import type { StateStore } from '../../../shared/state/store.js';
import { CONNECTORS } from '../connectors.js';
import { VERSION } from '../version.js';
import { instanceStore } from '../compose/store.js';
import { readAnchors } from '../../../shared/audit/anchors.js';
import { fleetExtensions } from '../compose/extensions.js';

export interface ReportOptions {
  scopes: string;
  /** audit folder; default $FLEET_AUDIT_DIR or .fleet/audit */
  auditDir?: string;
  /** a duration of at least a day */
  window: string;
  out: string;
  /** judge the window against this time (ms); default now */
  now?: number;
  /** the grants sections (review) or the trail only (audit show) */
  grants: boolean;
  /** what `audit show` filters on */
  filter?: (r: CallRow) => boolean;
  /** a trail file named on the command line (audit show FILE) instead of the instances' own */
  file?: string;
  /** files of signed checkpoint notes the trails must reach and agree with (a cut tail shows) */
  checkpoints?: string[];
  command: string;
}

interface Opened {
  state: TrailState;
  /** the verified lines, read again: only those before any problem */
  lines?: () => AsyncIterable<string>;
  close(): Promise<void>;
}

async function* firstLines(lines: AsyncIterable<string>, n: number): AsyncIterable<string> {
  if (n <= 0) return;
  let i = 0;
  for await (const l of lines) {
    yield l;
    if (++i >= n) return;
  }
}

/** Opens and verifies one instance's trail: from a file, or from the PostgreSQL store fleet.yaml names. */
async function openTrail(o: ReportOptions, id: string): Promise<Opened> {
  let store: StateStore | undefined;
  let source: string;
  let read: () => AsyncIterable<string>;
  let size: number | undefined;
  if (!o.file && !o.auditDir && readStoreConfig(o.scopes).engine === 'postgres') {
    const opened = instanceStore(o.scopes, id);
    store = opened;
    source = `PostgreSQL state store (${opened.audit.where})`;
    read = () => opened.audit.lines();
  } else {
    const file = o.file ?? join(o.auditDir ?? fleetDir('audit', o.scopes), `${id}.jsonl`);
    source = file;
    if (!existsSync(file)) {
      return {
        state: {
          instance: id,
          source,
          status: 'missing',
          verdict: `no trail at ${file}: nothing was recorded there, or the trail is elsewhere (--audit-dir)`,
          records: 0,
        },
        close: async () => {},
      };
    }
    size = statSync(file).size;
    read = () => fileLines(file);
  }
  const close = async () => void (await store?.close().catch(() => {}));
  let anchors: Map<number, string> | undefined;
  for (const src of o.checkpoints ?? []) {
    const a = readAnchors(src, id, join(o.scopes, 'fleet.yaml'), fleetExtensions().checkpointSinks);
    if (a.problem)
      return {
        state: { instance: id, source, status: 'tampered', verdict: `checkpoints: ${a.problem}`, records: 0 },
        close: async () => void (await store?.close().catch(() => {})),
      };
    for (const [seq, hash] of a.anchors ?? []) (anchors ??= new Map()).set(seq, hash);
  }
  try {
    const r = await verifyLines(counted(read(), progress(`verifying ${id}`, size)), {
      instance: id,
      ...(anchors ? { anchors } : {}),
    });
    const verified = r.ok ? (r.torn ? r.lines - 1 : r.lines) : Math.max(0, (r.problem?.line ?? 1) - 1);
    const state: TrailState = r.ok
      ? {
          instance: id,
          source,
          status: 'intact',
          verdict: `chain intact, ${r.records} records; last record ${r.last?.seq}${o.checkpoints?.length && !r.checkpoints ? '; no checkpoint of this instance to compare with' : ''}`,
          records: r.records,
          ...(r.torn ? { torn: r.torn } : {}),
          ...(r.checkpoints ? { checkpoints: r.checkpoints } : {}),
        }
      : {
          instance: id,
          source,
          status: 'tampered',
          verdict: `line ${r.problem!.line}: ${r.problem!.kind}: ${r.problem!.message}; ${r.records} records verified before it, counted below`,
          records: r.records,
          ...(r.checkpoints ? { checkpoints: r.checkpoints } : {}),
        };
    return { state, lines: () => counted(firstLines(read(), verified), progress(`reading ${id}`, size)), close };
  } catch (e) {
    await close();
    return {
      state: {
        instance: id,
        source,
        status: 'unreadable',
        verdict: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        records: 0,
      },
      close: async () => {},
    };
  }
}

/** Writes the report; returns the exit code (1 when a trail is tampered or unreadable). */
export async function reportCmd(
  instances: string[],
  o: ReportOptions,
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
): Promise<number> {
  const days = windowDays(o.window);
  const now = o.now ?? Date.now();
  const manifests = new Map<string, Manifest>();
  for (const f of chosenManifests(o.scopes, instances)) manifests.set(instanceOf(f), loadManifest(f, CONNECTORS));
  const activity = new ActivityCollector((id) => {
    const m = manifests.get(id);
    return m ? isProduction(m) : /\.prod$/.test(id);
  });
  const wanted = o.filter ?? inWindow(now, days);
  const trails: TrailState[] = [];
  const sections: InstanceSection[] = [];
  for (const [id, m] of manifests) {
    const opened = await openTrail(o, id);
    trails.push(opened.state);
    const reviewer = new InstanceReviewer(m, CONNECTORS[m.connector]!, { now, days });
    try {
      if (opened.lines) {
        for await (const row of streamCalls(verifiedRecords(opened.lines(), { instance: id }))) {
          if (!wanted(row)) continue;
          reviewer.add(row);
          activity.add(row);
        }
      }
    } finally {
      await opened.close();
    }
    const review = reviewer.finish();
    const section: InstanceSection = { review, production: isProduction(m) };
    if (opened.state.status === 'intact') {
      const before = readFileSync(m.file, 'utf8');
      const n = narrow(before, m, CONNECTORS[m.connector]!, review);
      if (n.cuts.length) section.proposal = { cuts: n.cuts, before, after: n.text };
    }
    if (o.grants) sections.push(section);
  }
  const line = (instance: string, _tool: string, rule: string) => {
    const m = manifests.get(instance);
    if (!m) return undefined;
    // a policy denial's rule is the manifest path it broke (tools.post_message.channels); others name a block
    const path =
      rule.startsWith('tools.') || rule === 'tools'
        ? rule
        : rule.startsWith('attribution')
          ? 'attribution'
          : rule.startsWith('exception')
            ? 'exceptions'
            : undefined;
    return path ? `${m.file}:${m.line(path)}` : undefined;
  };
  const html = renderReport(
    {
      title: o.grants ? 'Access review' : 'Audit trail',
      generated: new Date(now),
      version: VERSION,
      command: o.command,
      window: { from: new Date(now - days * DAY_MS).toISOString(), to: new Date(now).toISOString(), days },
      trails,
      instances: sections,
      activity: activity.finish(),
    },
    line,
  );
  writeFileSync(o.out, html);
  for (const t of trails) if (t.status !== 'intact') out(`${t.instance}: ${t.status.toUpperCase()}: ${t.verdict}`);
  out(
    `wrote ${o.out} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KB): ${trails.length} trail(s), ${trails.reduce((s, t) => s + t.records, 0)} records`,
  );
  return trails.some((t) => t.status === 'tampered' || t.status === 'unreadable') ? 1 : 0;
}
