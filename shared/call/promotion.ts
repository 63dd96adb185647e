// Proof before promotion: a production grant with `promotion: { from, within, smoke }` lets a call
// run only when the named development instance's audit trail shows the same evidence (the same
// digests) from a successful call of the same tool within the window, and, unless `smoke: false`,
// a passing smoke check of that deployment after it. Evidence is read from the trail's verified
// stream (shared/audit/trail.ts): only sealed, chained records count, the whole trail must verify,
// and each record cited must be covered by a signed checkpoint of that instance (it signs one as
// it records evidence), so a record appended by someone who can write the file is not evidence.
// The evidence records are cited by instance, seq and hash; a refusal names what is missing.
import { fileTrail } from '../audit/trail.js';
import { parseDuration } from '../base/duration.js';
import type { Evidence, ToolDef } from '../connector/tool.js';
import type { Promotion } from '../manifest/schema.js';

export interface Cited {
  instance: string;
  seq: number;
  hash: string;
  what: 'deploy' | 'smoke';
}

export type PromotionVerdict = { ok: true; cited: Cited[] } | { ok: false; missing: string };

/** The evidence keys that must match: every digest the tool records (`check`/`passed` and names excepted). */
const matchKeys = (want: Evidence) => Object.keys(want).filter((k) => k.endsWith('_sha256'));
const short = (h: unknown) => String(h).slice(0, 12);

export async function findEvidence(
  tool: ToolDef,
  args: Record<string, unknown>,
  p: Promotion,
  trailFile: string,
  anchors?: () => Map<number, string> | undefined,
  now = Date.now(),
): Promise<PromotionVerdict> {
  const want = tool.evidence!(args);
  const keys = matchKeys(want);
  const same = (e: Evidence | undefined) => !!e && keys.every((k) => e[k] === want[k]);
  const wanted = keys.map((k) => `${k.replace(/_sha256$/, '')} sha256 ${short(want[k])}…`).join(', ');
  // Nothing in a trail is trusted before its whole chain verifies as that instance's, and reaches
  // and agrees with every signed checkpoint of it; evidence must be a sealed record at or before
  // the newest checkpoint (a sealed record appended after it could be anyone's).
  let checkpoints: Map<number, string> | undefined;
  try {
    checkpoints = anchors?.();
  } catch (e) {
    return {
      ok: false,
      missing: `the checkpoints of ${p.from} cannot be trusted (${(e as Error).message}), so its evidence is not trusted`,
    };
  }
  const window = parseDuration(p.within)!;
  const since = now - window;
  type Rec = { seq: number; hash: string; time: number; evidence?: Evidence; tool: string };
  const outcomes: Rec[] = [];
  const trail = fileTrail(trailFile, { instance: p.from, ...(checkpoints ? { anchors: checkpoints } : {}) });
  for await (const { record: r, seq, hash } of trail) {
    if (r.phase !== 'outcome' || r.outcome !== 'ok' || !r.evidence) continue;
    outcomes.push({ seq, hash, time: Date.parse(r.time), evidence: r.evidence, tool: r.tool });
  }
  if (trail.unreadable)
    return {
      ok: false,
      missing: `no evidence: the audit trail of ${p.from} cannot be read (${trail.unreadable}: ${trailFile})`,
    };
  const v = trail.verdict!;
  if (!v.ok)
    return {
      ok: false,
      missing: `the audit trail of ${p.from} does not verify (line ${v.problem!.line}: ${v.problem!.message}), so its evidence is not trusted`,
    };
  const covered = checkpoints?.size ? Math.max(...checkpoints.keys()) : 0;
  const uncovered = (r: Rec) => r.seq > covered;

  const deploys = outcomes.filter((r) => r.tool === tool.name && r.evidence?.check === undefined && same(r.evidence));
  if (!deploys.length) {
    const last = outcomes.filter((r) => r.tool === tool.name && r.evidence?.check === undefined).at(-1);
    const differ = last
      ? `; its last ${tool.name} (seq ${last.seq}) had ${keys.map((k) => `${k.replace(/_sha256$/, '')} sha256 ${short(last.evidence![k])}…`).join(', ')}`
      : '';
    return {
      ok: false,
      missing: `no evidence: ${p.from} never ran ${tool.name} with this exact content (${wanted})${differ}; run it there first`,
    };
  }
  const fresh = deploys.filter((r) => r.time >= since);
  if (!fresh.length) {
    const last = deploys.at(-1)!;
    return {
      ok: false,
      missing: `stale evidence: the matching ${tool.name} in ${p.from} (seq ${last.seq}, ${new Date(last.time).toISOString()}) is older than the ${p.within} window; run it there again`,
    };
  }
  const deploy = fresh.at(-1)!;
  if (uncovered(deploy)) return { ok: false, missing: uncoveredWhy(p.from, deploy.seq, covered, tool.name) };
  const cited: Cited[] = [{ instance: p.from, seq: deploy.seq, hash: deploy.hash, what: 'deploy' }];
  if (p.smoke) {
    const checks = outcomes.filter(
      (r) => r.evidence?.check === 'smoke' && r.seq > deploy.seq && r.time >= since && same(r.evidence),
    );
    const check = checks.at(-1);
    if (!check)
      return {
        ok: false,
        missing: `no smoke check: ${p.from} has no smoke check of that deployment after it (seq ${deploy.seq}); run the smoke check there`,
      };
    if (check.evidence!.passed !== true) {
      const e = check.evidence!;
      return {
        ok: false,
        missing: `failed smoke check: the last smoke check of that deployment in ${p.from} (seq ${check.seq}) failed (status ${e.status}, expected ${e.expected_status}${e.body_ok === false ? ', body digest differs' : ''}); fix it and check again`,
      };
    }
    if (uncovered(check)) return { ok: false, missing: uncoveredWhy(p.from, check.seq, covered, 'smoke check') };
    cited.push({ instance: p.from, seq: check.seq, hash: check.hash, what: 'smoke' });
  }
  return { ok: true, cited };
}

const uncoveredWhy = (from: string, seq: number, covered: number, what: string) =>
  covered
    ? `unproven evidence: the ${what} in ${from} (seq ${seq}) comes after its newest signed checkpoint (record ${covered}), so nothing shows ${from} wrote it; an instance signs a checkpoint as it records evidence (FLEET_CHECKPOINT_KEY), and this one has not been seen (FLEET_CHECKPOINT_FILE)`
    : `unproven evidence: no signed checkpoint of ${from} covers its ${what} (seq ${seq}), so nothing shows ${from} wrote it rather than someone who can write its trail; run ${from} with FLEET_CHECKPOINT_KEY and give this instance its checkpoints (FLEET_CHECKPOINT_FILE)`;
