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
import type { Manifest } from '../../../shared/base/manifest.js';
import { compareSides, type Change, type Side } from '../../../shared/review/diff.js';
import {
  InstanceReviewer,
  inWindow,
  reviewMarkdown,
  reviewText,
  windowDays,
  type InstanceReview,
  type TrailSource,
} from '../../../shared/review/evidence.js';
import { failed, formatFindings } from '../../../shared/review/findings.js';
import { narrow, Replayer, type Replay } from '../../../shared/review/narrow.js';
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
 * The instance's calls, each handed to `each` as the verified stream of its trail passes
 * (shared/audit/trail.ts; memory never holds the calls, whatever the trail's length): from
 * --audit-dir when given, else from its state as fleet.yaml names it (the shared PostgreSQL trail
 * of every replica, or the embedded trail file). `warnings` says what the trail could not vouch
 * for: missing, torn, or failing verification (then only the records before the problem count);
 * `source` is the same verdict for the review itself, for a review of no trail (or of a broken one)
 * is no evidence to narrow by.
 */
async function trail(
  o: ReviewOptions,
  id: string,
  each: (r: CallRow) => void,
): Promise<{ warnings: string[]; whole: boolean; missing?: boolean; source: TrailSource }> {
  if (!o.auditDir && readStoreConfig(o.scopes).engine === 'postgres') {
    const state = instanceStore(o.scopes, id);
    try {
      const t = new Trail(state.audit.where, () => counted(state.audit.lines(), progress(`reading ${id}`)), {
        instance: id,
      });
      for await (const r of streamCalls(t)) each(r);
      return { warnings: t.warnings(), whole: t.whole, source: sourceOf(t) };
    } finally {
      await state.close().catch(() => {});
    }
  }
  const file = join(o.auditDir ?? fleetDir('audit', o.scopes), `${id}.jsonl`);
  const t = new Trail(
    file,
    () => counted(fileLines(file), progress(`reading ${id}`, existsSync(file) ? statSync(file).size : undefined)),
    { instance: id },
  );
  for await (const r of streamCalls(t)) each(r);
  const warnings = t
    .warnings()
    .map((w) =>
      t.unreadable ? `${w}: ${id} is reviewed as if it made no call, which is not evidence that it made none` : w,
    );
  return { warnings, whole: t.whole, missing: t.missing, source: sourceOf(t) };
}

/** The review's own verdict on a trail read to its end. */
function sourceOf(t: Trail): TrailSource {
  if (t.unreadable || t.verdict?.problem?.kind === 'empty')
    return { where: t.where, status: 'missing', problem: t.unreadable ?? 'no records' };
  if (!t.whole)
    return { where: t.where, status: 'unverifiable', problem: t.warnings()[0]?.replace(`${t.where}:`, 'line ') };
  return { where: t.where, status: 'verified' };
}

function sideOf(dir: string, label: string): Side {
  const files = new Map<string, string>();
  for (const f of readdirSync(dir)) if (/\.ya?ml$/.test(f)) files.set(f, readFileSync(join(dir, f), 'utf8'));
  if (existsSync(join(dir, 'surface')))
    for (const f of readdirSync(join(dir, 'surface')))
      files.set(`surface/${f}`, readFileSync(join(dir, 'surface', f), 'utf8'));
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

  const inTime = inWindow(now, days);
  const reviews: { m: Manifest; review: InstanceReview }[] = [];
  let unvouched = false;
  for (const file of chosen) {
    const m = loadManifest(file, CONNECTORS);
    const reviewer = new InstanceReviewer(m, CONNECTORS[m.connector]!, { now, days });
    const t = await trail(o, m.id, (r) => inTime(r) && reviewer.add(r));
    // said plainly, first: a review of a trail that is missing or fails verification proves nothing
    for (const w of t.warnings) warn(`warning: ${w}`);
    // no trail at all is said, not failed: a new instance has none yet
    if (!t.whole && !t.missing) unvouched = true;
    reviews.push({ m, review: { ...reviewer.finish(), trail: t.source } });
  }

  if (!o.propose && !o.write) {
    const rs = reviews.map((r) => r.review);
    out(
      o.format === 'json'
        ? JSON.stringify({ instances: rs }, null, 2)
        : o.format === 'markdown'
          ? reviewMarkdown(rs)
          : reviewText(rs),
    );
    return unvouched ? 1 : 0;
  }

  // The proposal: a full copy of the scopes folder (so verify and diff see the whole fleet) with the
  // narrowed manifests in place and the generated files regenerated for them.
  const target = o.write ? o.scopes : o.propose!;
  if (!o.write) {
    if (existsSync(target) && readdirSync(target).length)
      throw new Error(`${target} is not empty: --propose writes into a new or empty folder`);
    mkdirSync(join(target, 'surface'), { recursive: true });
    for (const f of readdirSync(o.scopes))
      if (statSync(join(o.scopes, f)).isFile()) copyFileSync(join(o.scopes, f), join(target, f));
    for (const f of existsSync(join(o.scopes, 'surface')) ? readdirSync(join(o.scopes, 'surface')) : [])
      copyFileSync(join(o.scopes, 'surface', f), join(target, 'surface', f));
  }
  const before = sideOf(o.scopes, o.scopes);
  const proposals: Proposal[] = [];
  /** instances left as they are, and why: no evidence to narrow by, or no valid narrowing */
  const skipped: { instance: string; why: string }[] = [];
  for (const { m, review } of reviews) {
    const connector = CONNECTORS[m.connector]!;
    const t = review.trail;
    if (t && t.status !== 'verified') {
      skipped.push({
        instance: m.id,
        why:
          t.status === 'missing'
            ? `not narrowed: no audit trail (${t.where}: ${t.problem})`
            : `not narrowed: the audit trail ${t.where} does not verify (${t.problem})`,
      });
      continue;
    }
    const text = readFileSync(m.file, 'utf8');
    const n = narrow(text, m, connector, review);
    if (!n.cuts.length) continue;
    if (!review.tools.some((t) => t.allowed > 0)) {
      skipped.push({
        instance: m.id,
        why: `not narrowed: no call was allowed in ${days} days, and a manifest granting nothing is not one to write (remove the instance if it is not needed)`,
      });
      continue;
    }
    const file = join(target, basename(m.file));
    writeFileSync(file, n.text);
    let proposed: Manifest;
    try {
      proposed = loadManifest(file, CONNECTORS);
    } catch (e) {
      // never leave an invalid manifest behind: the instance keeps its own
      writeFileSync(file, text);
      skipped.push({
        instance: m.id,
        why: `not narrowed: the narrowed manifest would be invalid (${(e as Error).message.split('\n')[0]})`,
      });
      continue;
    }
    // the window's calls again, through the proposal's policy (a second pass: none is kept from the first)
    const replayer = new Replayer(proposed, connector);
    await trail(o, m.id, (r) => inTime(r) && replayer.add(r));
    proposals.push({ instance: m.id, file, cuts: n.cuts, replay: replayer.result });
  }
  const docs = o.write ? join(o.scopes, '..', 'docs', 'tools.md') : undefined;
  const check = () => {
    const loaded = manifestFiles(target).map((f) => loadManifest(f, CONNECTORS));
    writeGenerated(target, loaded, CONNECTORS, docs && existsSync(docs) ? docs : undefined);
    return {
      loaded,
      findings: verifyScopes(target, { connectors: CONNECTORS, docs: docs && existsSync(docs) ? docs : undefined, now })
        .findings,
    };
  };
  let { loaded, findings } = check();
  // a narrowed manifest `fleet verify` rejects is not a proposal: the instance keeps its own
  const rejected = proposals.filter((p) => findings.some((f) => f.severity === 'error' && f.file === p.file));
  if (rejected.length) {
    for (const p of rejected) {
      const first = findings.find((f) => f.severity === 'error' && f.file === p.file)!;
      writeFileSync(p.file, readFileSync(reviews.find((r) => r.m.id === p.instance)!.m.file, 'utf8'));
      skipped.push({
        instance: p.instance,
        why: `not narrowed: the narrowed manifest would be invalid (${first.rule}: ${first.message})`,
      });
      proposals.splice(proposals.indexOf(p), 1);
    }
    ({ loaded, findings } = check());
  }
  const changes: Change[] = compareSides(before, sideOf(target, target), CONNECTORS);
  const escalations = changes.filter((c) => c.class === 'escalation');
  const refused = proposals.flatMap((p) => p.replay.refused);

  if (o.format === 'json') {
    out(
      JSON.stringify(
        {
          folder: target,
          written: !!o.write,
          proposals,
          skipped,
          verify: { ok: !failed(findings), findings },
          diff: changes,
        },
        null,
        2,
      ),
    );
  } else {
    const lines: string[] = [];
    lines.push(
      proposals.length
        ? `Proposed narrowing (${o.write ? `written over ${target}` : `written to ${target}; nothing applied`}):`
        : skipped.length
          ? 'Nothing narrowed:'
          : `Nothing to narrow: every grant and listed resource was used in the last ${days} days.`,
    );
    for (const k of skipped) lines.push(`  ${k.instance}: ${k.why}`);
    for (const p of proposals) {
      lines.push(`  ${p.instance} → ${p.file}`);
      for (const c of p.cuts) lines.push(`    - ${c}`);
      lines.push(
        `    replay: ${p.replay.checked} call(s) allowed in the window, ${p.replay.refused.length ? `${p.replay.refused.length} WOULD BE REFUSED` : 'all still allowed'}`,
      );
      for (const r of p.replay.refused) lines.push(`      ${r.time} ${r.tool}: ${r.why}`);
    }
    lines.push(`verify: ${formatFindings(findings, 'text', loaded.length).split('\n').pop()}`);
    lines.push(
      `diff: ${changes.filter((c) => c.class === 'reduction').length} reduction(s), ${escalations.length} escalation(s), ${changes.filter((c) => c.class === 'neutral').length} neutral`,
    );
    if (failed(findings)) lines.push(formatFindings(findings, 'text', loaded.length));
    for (const e of escalations) lines.push(`  ESCALATION ${e.instance}: ${e.what}`);
    if (!o.write && proposals.length)
      lines.push(
        `Review with \`fleet diff ${o.scopes} ${target}\`; apply by copying the manifests (or run again with --write) and commit.`,
      );
    out(lines.join('\n'));
  }
  // an instance asked for by name that could not be judged fails the run
  return refused.length || escalations.length || failed(findings) || unvouched || (instances.length && skipped.length)
    ? 1
    : 0;
}
