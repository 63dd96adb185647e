// `fleet review [instance...]`: least privilege from evidence. Reads each instance's audit trail
// over a window and reports what its grants were used for; with --propose DIR (or --write) it
// writes narrowed manifests — never applied to the scopes folder unless --write says so — and
// checks them: every call the window allowed still allowed, `fleet verify` clean, and `fleet diff`
// showing reductions only.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CONNECTORS } from '../connectors.js';
import { fleetDir } from '../../../shared/base/install.js';
import { streamCalls, type CallRow } from '../../../shared/audit/read.js';
import { Trail } from '../../../shared/audit/trail.js';
import { fileLines } from '../../../shared/audit/verify.js';
import { counted, progress } from '../../../shared/base/terminal.js';
import { readStoreConfig } from '../../../shared/state/config.js';
import { instanceStore } from '../compose/store.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import type { Manifest } from '../../../shared/manifest/types.js';
import { compareSides, type Change, type Side } from '../../../shared/review/diff.js';
import { reviewInstance, reviewMarkdown, reviewText, inWindow, windowDays, type InstanceReview } from '../../../shared/review/evidence.js';
import { failed, formatFindings } from '../../../shared/review/findings.js';
import { narrow, replay, type Replay } from '../../../shared/review/narrow.js';
import { writeGenerated } from '../../../shared/review/surface-files.js';
import { chosenManifests, manifestFiles, verifyScopes } from '../../../shared/review/verify.js';

export interface ReviewOptions {
  scopes: string;
  /** audit folder; default $FLEET_AUDIT_DIR or .fleet/audit */
  auditDir?: string;
  window: string;
  format: 'text' | 'markdown' | 'json';
  /** folder to write the proposal to */
  propose?: string;
  /** write the proposal over the scopes folder */
  write?: boolean;
  /** judge the window against this time (ms); default now */
  now?: number;
}

export interface Proposal {
  instance: string;
  file: string;
  cuts: string[];
  replay: Replay;
}

/**
 * The instance's calls, from the verified stream of its trail (shared/audit/trail.ts): from
 * --audit-dir when given, else from its state as fleet.yaml names it (the shared PostgreSQL trail
 * of every replica, or the embedded trail file). `warnings` says what the trail could not vouch
 * for: missing, torn, or failing verification (then only the records before the problem count).
 */
async function trail(o: ReviewOptions, id: string): Promise<{ rows: CallRow[]; warnings: string[]; whole: boolean; missing?: boolean }> {
  const rows: CallRow[] = [];
  if (!o.auditDir && readStoreConfig(o.scopes).engine === 'postgres') {
    const state = instanceStore(o.scopes, id);
    try {
      const t = new Trail(state.audit.where, () => counted(state.audit.lines(), progress(`reading ${id}`)), { instance: id });
      for await (const r of streamCalls(t)) rows.push(r);
      return { rows, warnings: t.warnings(), whole: t.whole };
    } finally {
      await state.close().catch(() => {});
    }
  }
  const file = join(o.auditDir ?? fleetDir('audit', o.scopes), `${id}.jsonl`);
  const t = new Trail(file, () => counted(fileLines(file), progress(`reading ${id}`, existsSync(file) ? statSync(file).size : undefined)), { instance: id });
  for await (const r of streamCalls(t)) rows.push(r);
  const warnings = t.warnings().map((w) => (t.unreadable ? `${w}: ${id} is reviewed as if it made no call, which is not evidence that it made none` : w));
  return { rows, warnings, whole: t.whole, missing: t.missing };
}

function sideOf(dir: string, label: string): Side {
  const files = new Map<string, string>();
  for (const f of readdirSync(dir)) if (/\.ya?ml$/.test(f)) files.set(f, readFileSync(join(dir, f), 'utf8'));
  if (existsSync(join(dir, 'surface'))) for (const f of readdirSync(join(dir, 'surface'))) files.set(`surface/${f}`, readFileSync(join(dir, 'surface', f), 'utf8'));
  return { label, files, display: (n) => join(dir, n) };
}

export async function reviewCmd(
  instances: string[],
  o: ReviewOptions,
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  warn: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
): Promise<number> {
  const days = windowDays(o.window);
  const now = o.now ?? Date.now();
  const chosen = chosenManifests(o.scopes, instances);

  const reviews: { m: Manifest; review: InstanceReview; rows: CallRow[] }[] = [];
  let unvouched = false;
  for (const file of chosen) {
    const m = loadManifest(file, CONNECTORS);
    const t = await trail(o, m.id);
    // said plainly, first: a review of a trail that is missing or fails verification proves nothing
    for (const w of t.warnings) warn(`warning: ${w}`);
    // no trail at all is said, not failed: a new instance has none yet
    if (!t.whole && !t.missing) unvouched = true;
    const rows = inWindow(t.rows, now, days);
    reviews.push({ m, rows, review: reviewInstance(m, CONNECTORS[m.connector]!, rows, { now, days }) });
  }

  if (!o.propose && !o.write) {
    const rs = reviews.map((r) => r.review);
    out(o.format === 'json' ? JSON.stringify({ instances: rs }, null, 2) : o.format === 'markdown' ? reviewMarkdown(rs) : reviewText(rs));
    return unvouched ? 1 : 0;
  }

  // The proposal: a full copy of the scopes folder (so verify and diff see the whole fleet) with the
  // narrowed manifests in place and the generated files regenerated for them.
  const target = o.write ? o.scopes : o.propose!;
  if (!o.write) {
    if (existsSync(target) && readdirSync(target).length) throw new Error(`${target} is not empty: --propose writes into a new or empty folder`);
    mkdirSync(join(target, 'surface'), { recursive: true });
    for (const f of readdirSync(o.scopes)) if (statSync(join(o.scopes, f)).isFile()) copyFileSync(join(o.scopes, f), join(target, f));
    for (const f of existsSync(join(o.scopes, 'surface')) ? readdirSync(join(o.scopes, 'surface')) : []) copyFileSync(join(o.scopes, 'surface', f), join(target, 'surface', f));
  }
  const before = sideOf(o.scopes, o.scopes);
  const proposals: Proposal[] = [];
  for (const { m, review, rows } of reviews) {
    const connector = CONNECTORS[m.connector]!;
    const text = readFileSync(m.file, 'utf8');
    const n = narrow(text, m, connector, review);
    if (!n.cuts.length) continue;
    const file = join(target, basename(m.file));
    writeFileSync(file, n.text);
    const proposed = loadManifest(file, CONNECTORS);
    proposals.push({ instance: m.id, file, cuts: n.cuts, replay: replay(rows, proposed, connector) });
  }
  const loaded = manifestFiles(target).map((f) => loadManifest(f, CONNECTORS));
  const docs = o.write ? join(o.scopes, '..', 'docs', 'tools.md') : undefined;
  writeGenerated(target, loaded, CONNECTORS, docs && existsSync(docs) ? docs : undefined);
  const { findings } = verifyScopes(target, { connectors: CONNECTORS, docs: docs && existsSync(docs) ? docs : undefined, now });
  const changes: Change[] = compareSides(before, sideOf(target, target), CONNECTORS);
  const escalations = changes.filter((c) => c.class === 'escalation');
  const refused = proposals.flatMap((p) => p.replay.refused);

  if (o.format === 'json') {
    out(JSON.stringify({ folder: target, written: !!o.write, proposals, verify: { ok: !failed(findings), findings }, diff: changes }, null, 2));
  } else {
    const lines: string[] = [];
    lines.push(proposals.length ? `Proposed narrowing (${o.write ? `written over ${target}` : `written to ${target}; nothing applied`}):` : `Nothing to narrow: every grant and listed resource was used in the last ${days} days.`);
    for (const p of proposals) {
      lines.push(`  ${p.instance} → ${p.file}`);
      for (const c of p.cuts) lines.push(`    - ${c}`);
      lines.push(`    replay: ${p.replay.checked} call(s) allowed in the window, ${p.replay.refused.length ? `${p.replay.refused.length} WOULD BE REFUSED` : 'all still allowed'}`);
      for (const r of p.replay.refused) lines.push(`      ${r.time} ${r.tool}: ${r.why}`);
    }
    lines.push(`verify: ${formatFindings(findings, 'text', loaded.length).split('\n').pop()}`);
    lines.push(`diff: ${changes.filter((c) => c.class === 'reduction').length} reduction(s), ${escalations.length} escalation(s), ${changes.filter((c) => c.class === 'neutral').length} neutral`);
    if (failed(findings)) lines.push(formatFindings(findings, 'text', loaded.length));
    for (const e of escalations) lines.push(`  ESCALATION ${e.instance}: ${e.what}`);
    if (!o.write && proposals.length) lines.push(`Review with \`fleet diff ${o.scopes} ${target}\`; apply by copying the manifests (or run again with --write) and commit.`);
    out(lines.join('\n'));
  }
  return refused.length || escalations.length || failed(findings) || unvouched ? 1 : 0;
}
