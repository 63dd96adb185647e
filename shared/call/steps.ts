// The steps of a call (their order is in ./call.ts). Each has one job: it returns nothing to let
// the call go on, or the result that ends it.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseDuration } from '../base/duration.js';
import { AuditUnavailable, Denied } from '../base/errors.js';
import type { Instance } from '../connector/instance.js';
import type { ToolContext, ToolDef } from '../connector/tool.js';
import { sha256 } from '../audit/chain.js';
import type { Approval } from '../manifest/types.js';
import { argumentLines, elicitationChannel, type ApprovalRequest, type Verdict } from './approval.js';
import { sameId } from './identity.js';
import { derivedFacts, lookedUp } from './covers.js';
import { upstreamError } from './faults.js';
import { KEY_META } from './idempotency.js';
import { attributionRule } from '../manifest/attribution.js';
import { proveActor as proveActorOf } from './proof.js';
import { allows, decide, where } from './policy.js';
import { parseRate } from './rate.js';
import { StateUnavailable, type ApprovalEntry, type Claim } from '../state/store.js';
import { findEvidence } from './promotion.js';
import type { Promotion } from '../manifest/schema.js';
import { AUDIT_RETRY_MS, auditDown, type CallState } from './state.js';
import { activeSuspension } from '../state/suspension.js';
import { refreshExceptions } from '../connector/instance.js';
import { baseOf, exceptionFor, isActive } from '../manifest/exceptions.js';

export type Step = (c: CallState) => Promise<CallToolResult | undefined> | CallToolResult | undefined;

const WAIT_POLL_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `fleet suspend` of this instance, or of the calling client, refuses the call, naming the
 * suspension. Runs first, and again just before the intent record (an approval may have waited).
 */
export const suspended: Step = async (c) => {
  let s;
  try {
    s = await activeSuspension(c.inst.state.suspensions, c.inst.manifest.id, c.who.client.id);
  } catch (e) {
    return c.refuse('suspension', `refused: ${(e as Error).message}`, 'failed');
  }
  if (!s) return;
  const what = s.target.startsWith('client:') ? `client ${s.target.slice('client:'.length)}` : `instance ${s.target}`;
  try {
    await c.record({ phase: 'decision', decision: 'deny', rule: 'suspension', suspension: { target: s.target, at: s.at, by: s.by, reason: s.reason }, args: c.logged });
  } catch (e) {
    c.inst.log.error((e as Error).message);
  }
  return c.failure(`refused: ${what} is suspended since ${s.at} by ${s.by}: ${s.reason}; nothing was done (\`fleet resume ${s.target}\` lifts it)`, 'denied');
};

/**
 * Time-boxed exceptions: the instance's tools are those granted now (an exception that started or
 * expired since the last call is applied first); a call to a tool whose exception is not active
 * is refused naming the exception and its window.
 */
export const exceptionWindow: Step = (c) => {
  refreshExceptions(c.inst);
  if (c.inst.tools.has(c.req.name)) return;
  const base = baseOf(c.inst.manifest);
  const i = (base.exceptions ?? []).findIndex((e) => e.tool === c.req.name);
  if (i < 0) return;
  const e = base.exceptions![i]!;
  const now = Date.now();
  const why = !e.expires ? 'has no expiry, so it is never active'
    : e.approver.trim() === e.owner.trim() ? 'is approved by its own owner, so it is never active'
    : Date.parse(e.expires) <= now ? `expired at ${e.expires}`
    : `starts at ${e.starts}`;
  return c.refuse('exception', `denied: ${c.req.name} is granted to ${base.id} only by exception ${e.id}, which ${why} (${where(base, `exceptions.${i}`)}); ask its owner ${e.owner} for a new one`);
};

/** A call allowed only thanks to an exception is marked with it in every later audit record. */
export const markException: Step = (c) => {
  const tool = c.tool!;
  const e = exceptionFor(c.inst.manifest, tool.name);
  if (!e) return;
  const base = baseOf(c.inst.manifest);
  if (base.tools[tool.name] === undefined || !decide(tool, base, c.facts!, c.who).allow) c.marks.exception = e.id;
  return undefined;
};

/**
 * A call that only an exception allows is refused if that exception ended while the call waited
 * (for an approval, say): outside its window an exception does not exist.
 */
export const exceptionStillActive: Step = (c) => {
  const id = c.marks.exception;
  if (typeof id !== 'string') return;
  const base = baseOf(c.inst.manifest);
  const i = (base.exceptions ?? []).findIndex((e) => e.id === id);
  const e = base.exceptions?.[i];
  if (e && isActive(e, Date.now())) return;
  return c.refuse('exception', `denied: exception ${id} of ${base.id} ended at ${e?.expires ?? 'its removal'} while the call waited (${where(base, `exceptions.${Math.max(i, 0)}`)}); nothing was done; ask its owner ${e?.owner ?? base.owner} for a new one`);
};

export const findTool: Step = (c) => {
  c.tool = c.inst.tools.get(c.req.name);
  if (c.tool) return;
  const { manifest } = c.inst;
  const granted = [...c.inst.tools.keys()].join(', ') || 'none';
  return c.refuse('tools', `denied: unknown tool "${c.req.name}" for ${manifest.id} (${where(manifest, 'tools')}); this instance grants: ${granted}`);
};

export const parseArguments: Step = (c) => {
  const tool = c.tool!;
  const parsed = tool.input.safeParse(c.req.arguments ?? {});
  if (!parsed.success) return c.refuse('input', `invalid arguments for ${tool.name}: ${inputProblem(parsed.error)}`);
  c.args = parsed.data as Record<string, unknown>;
  c.logged = auditArgs(tool, c.args, c.inst.manifest.audit.bodies);
};

/** The attribution is well-formed, and present where the manifest requires it: decided before any lookup. */
export const attribution: Step = (c) => {
  const { manifest } = c.inst;
  if (c.attributionError) return c.refuse('attribution', `denied: ${c.attributionError} (${where(manifest, 'attribution')})`);
  if (attributionRule(manifest.attribution).required && !c.who.actor && !c.who.token) {
    return c.refuse('attribution', `denied: ${manifest.id} requires attribution (${where(manifest, 'attribution')}); ${howToAttribute(c)}`);
  }
};

/** What a call must carry to name its human, as this instance proves it and over this transport. */
function howToAttribute(c: CallState): string {
  const { proof } = attributionRule(c.inst.manifest.attribution);
  if (proof === 'oidc') return 'pass _meta "fleet/actor-token" (a signed token from the issuer this instance trusts) with the call';
  if (proof === 'slack-message') return 'pass _meta "fleet/actor" (their Slack user ID) and "fleet/thread" (<channel>/<ts> of the Slack message in which they asked) with the call';
  // only a stdio process's environment names its session's human; an HTTP server's names nobody's
  return `pass _meta "fleet/actor" (and "fleet/thread") with the call${c.who.client.via.startsWith('stdio') ? ', or set FLEET_ACTOR for the server' : ''}`;
}

/** The client principal is one this instance serves, where the manifest lists them. */
export const clientAllowed: Step = (c) => {
  const { manifest } = c.inst;
  if (!manifest.clients || manifest.clients.includes(c.who.client.id)) return;
  return c.refuse('clients', `denied: client ${c.who.client.id} may not call ${manifest.id} (${where(manifest, 'clients')}); it serves ${manifest.clients.join(', ')}`);
};

/** The actor is proven as the manifest's attribution asks, before anything else reaches the upstream. */
export const proveActor: Step = async (c) => {
  const { inst } = c;
  const r = await proveActorOf(c.who, { manifest: inst.manifest, line: where(inst.manifest, 'attribution'), reader: inst.messages });
  c.who.proof = r.proof;
  c.who.token = undefined;
  if (!r.ok) return c.refuse('attribution.proof', r.message, r.status ?? 'denied');
};

export const readIdempotencyKey: Step = (c) => {
  if (!c.writes) return;
  const k = c.req.meta?.[KEY_META];
  if (k === undefined || k === null) return;
  if (typeof k !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(k)) {
    return c.refuse('idempotency', `denied: _meta "${KEY_META}" must be 1 to 200 printable ASCII characters`);
  }
  c.key = k;
};

export const auditHealthy: Step = (c) => {
  const broken = c.inst.audit.broken;
  if (broken) return c.failure(`refused: ${broken}; no upstream call was made`, 'failed');
  const down = auditDown.get(c.inst.audit);
  if (!down || Date.now() - down.at >= AUDIT_RETRY_MS) return;
  c.inst.log.error(down.why);
  return c.failure(`refused: ${down.why}; no upstream call was made`, 'failed');
};

export const openUpstream: Step = async (c) => {
  const { inst } = c;
  const tool = c.tool!;
  let upstream;
  try {
    upstream = await inst.upstream();
  } catch (e) {
    return c.refuse('startup', `${inst.manifest.id} is not available: ${(e as Error).message}`, 'failed');
  }
  c.upstream = upstream;
  c.startTimer();
  const { manifest } = inst;
  c.ctx = {
    client: upstream.client,
    grant: manifest.tools[tool.name]!,
    identity: upstream.identity,
    manifest,
    get signal() {
      return c.signal;
    },
    allows: (on, value) => allows(tool, manifest, on, value),
  };
};

export const touches: Step = async (c) => {
  const tool = c.tool!;
  try {
    // what the arguments name, read by the core from the tool's covers; then what only the upstream can tell
    const derived = derivedFacts(tool, c.args);
    const found = (await tool.facts?.(c.args, c.ctx!)) ?? [];
    c.facts = [...derived, ...found];
    // a look-up is owed only when nothing the arguments name is refused already (a tool never reads a refused resource)
    const owed = derived.every((f) => c.ctx!.allows(f.on, f.value));
    const missing = owed ? lookedUp(tool, c.args).filter((k) => !found.some((f) => f.on === k)) : [];
    if (missing.length) throw new TypeError(`${tool.name}.facts() reported nothing on ${missing.join(', ')}, which its covers say it looks up`);
  } catch (e) {
    if (e instanceof Denied) return c.refuse(e.rule, e.message);
    const u = upstreamError(c.inst.connector, e);
    if (!u) return c.fault(e, 'before');
    return c.refuse('upstream', `${c.inst.connector.name} error while checking the call: ${u.code}: ${u.message}`, 'failed');
  }
};

export const checkPolicy: Step = (c) => {
  const decision = decide(c.tool!, c.inst.manifest, c.facts!, c.who);
  if (!decision.allow) return c.refuse(decision.rule, decision.message);
};

/** A key that already ran returns its first outcome, without the upstream. */
export const claimKey: Step = async (c) => {
  const { key, inst } = c;
  if (!key) return;
  const fingerprint = sha256(JSON.stringify([c.tool!.name, c.args]));
  for (;;) {
    let claim: Claim;
    try {
      claim = await inst.keys.claim(key, fingerprint);
    } catch (e) {
      return stateRefusal(c, 'idempotency', e);
    }
    if (claim.kind === 'claimed') {
      c.claimed = true;
      return;
    }
    if (claim.kind === 'replay') {
      await c.record({ phase: 'decision', decision: 'replay', rule: 'idempotency', args: c.logged, resources: c.facts, key });
      const first = claim.result;
      const sc = (first.structuredContent ?? {}) as Record<string, unknown>;
      const text = `replayed: idempotency key ${key} already ran; this is its first outcome, the upstream was not called again\n${first.content.map((x) => (x.type === 'text' ? x.text : '')).join('\n')}`;
      return { ...first, content: [{ type: 'text', text }], structuredContent: { ...sc, status: 'replayed' } };
    }
    if (claim.kind === 'conflict') {
      return c.refuse('idempotency', `denied: idempotency key ${key} was first used with different arguments; use a new key for a different call`);
    }
    if (claim.kind === 'unknown') {
      return c.refuse('idempotency', `denied: the first call with idempotency key ${key} stopped before its outcome was recorded; check ${inst.connector.name} before retrying with a new key`, 'failed');
    }
    if (claim.awaitingApproval) {
      return c.refuse('approval', `pending: the call with idempotency key ${key} is waiting for approval; retry with the same key later`, 'pending_approval', 'pending');
    }
    if (c.signal.aborted) return c.refuse('idempotency', `the call with idempotency key ${key} is still running; retry with the same key later`, 'failed');
    await sleep(WAIT_POLL_MS);
  }
};

export const rateLimit: Step = async (c) => {
  const { manifest } = c.inst;
  const tool = c.tool!;
  const rate = manifest.tools[tool.name]!.rate as string | undefined;
  if (!rate) return;
  const { limit, windowMs } = parseRate(rate);
  let slot;
  try {
    slot = await c.inst.state.rate.take(tool.name, limit, windowMs);
  } catch (e) {
    return stateRefusal(c, `tools.${tool.name}.rate`, e);
  }
  if (slot.ok) return;
  const wait = Math.ceil((slot.next - Date.now()) / 1000);
  return c.refuse(`tools.${tool.name}.rate`,
    `denied: rate limit ${rate} of ${tool.name} in ${manifest.id} reached (${where(manifest, `tools.${tool.name}.rate`)}); next call allowed at ${new Date(slot.next).toISOString()} (in ${wait}s)`);
};

/** State that cannot be read or written ends the call with a refusal on the record, naming where it lives. */
async function stateRefusal(c: CallState, rule: string, e: unknown): Promise<CallToolResult> {
  if (!(e instanceof StateUnavailable)) throw e;
  c.inst.log.error(e.message);
  return c.refuse(rule, `refused: ${e.message}; the call was not made`, 'failed', 'failed', { error: 'state_unavailable', error_message: e.message });
}

/** Proof before promotion: the grant's `promotion` evidence must be in the development instance's trail. */
export const requireEvidence: Step = async (c) => {
  const tool = c.tool!;
  const { manifest } = c.inst;
  const p = manifest.tools[tool.name]!.promotion as Promotion | undefined;
  if (!p || !tool.evidence) return;
  const trail = c.inst.auditOf?.(p.from);
  const verdict = trail
    ? await findEvidence(tool, c.args, p, trail, c.inst.anchorsOf ? () => c.inst.anchorsOf!(p.from) : undefined)
    : ({ ok: false, missing: `no evidence: this instance cannot locate the audit trail of ${p.from}` } as const);
  if (!verdict.ok) return c.refuse(`tools.${tool.name}.promotion`, `denied: ${verdict.missing} (${where(manifest, `tools.${tool.name}.promotion`)})`);
  c.cited = verdict.cited;
};

export const approve: Step = async (c) => {
  const tool = c.tool!;
  const { manifest } = c.inst;
  const approval = manifest.tools[tool.name]!.approval as Approval | undefined;
  if (!approval) return;
  // the approval has its own timeout; the instance's is the upstream's
  c.stopTimer();
  const line = where(manifest, `tools.${tool.name}.approval`);
  const verdict = await seekApproval(c, tool, approval);
  if (verdict.status === 'approved') {
    const broken = separationOfDuties(c, approval, verdict);
    if (!broken) return;
    await c.record({ phase: 'approval', status: 'refused', via: approval.via, by: verdict.by, why: broken, digest: c.digest });
    return c.refuse(`tools.${tool.name}.approval`, `denied: the approval of ${tool.name} by ${verdict.by} does not count: ${broken} (${line}); nothing was done`, 'approval_declined');
  }
  if (verdict.status === 'withdrawn') {
    return c.refuse(`tools.${tool.name}.approval`, `cancelled: ${verdict.why} while its approval was pending; the request was withdrawn and nothing was done`, 'failed');
  }
  if (verdict.status === 'failed') {
    return c.refuse(`tools.${tool.name}.approval`, `refused: no approval for ${tool.name} could be had: ${verdict.why} (${line}); nothing was done`, 'failed');
  }
  const expired = verdict.status === 'expired';
  return c.refuse(`tools.${tool.name}.approval`,
    expired
      ? `denied: approval for ${tool.name} expired with no answer (${line}); nothing was done`
      : `denied: approval for ${tool.name} declined${verdict.by ? ` by ${verdict.by}` : ''}: ${verdict.why} (${line}); nothing was done`,
    expired ? 'approval_expired' : 'approval_declined');
};

/**
 * Requester, approver and executor are three different principals; a Slack approver is a listed
 * human; the approval is for this exact call and still fresh. Checked on the proven, canonical IDs
 * whatever the channel already checked. Returns what is wrong, or undefined.
 */
function separationOfDuties(c: CallState, approval: Approval, v: Extract<Verdict, { status: 'approved' }>): string | undefined {
  if (v.digest !== c.digest) return 'it was given for a different call (digest mismatch)';
  if (Date.now() > c.approvalExpires) return 'it came after the request expired';
  if (c.cancelled?.aborted) return 'the client withdrew the call';
  if (approval.via !== 'slack') return undefined;
  if (c.who.actor && sameId(v.by, c.who.actor)) return 'the requester cannot approve their own request';
  if (executorIds(c).includes(v.by)) return "the instance's own identity cannot approve what it executes";
  if (!(approval.approvers ?? []).includes(v.by)) return `${v.by} is not a listed approver`;
  return undefined;
}

const executorIds = (c: CallState): string[] => [c.ctx?.identity.user, c.ctx?.identity.bot].filter((x): x is string => typeof x === 'string');

/** A call whose client has gone (cancelled, timed out, disconnected) never reaches the upstream. */
export const stillWanted: Step = (c) => {
  if (!c.cancelled?.aborted) return;
  return c.refuse('cancelled', 'cancelled: the client withdrew the call before it ran; nothing was done', 'failed');
};

export const recordIntent: Step = async (c) => {
  try {
    const id = c.ctx!.identity;
    // the executor: the instance's own upstream identity, and the reference (never the value) of its
    // credential; a minted one is the broker's reference, the token itself is named by id
    const executor = {
      id: id.user ?? id.bot, ...(id.bot ? { bot: id.bot } : {}), home: id.home, credential: c.inst.manifest.credential,
      ...(c.inst.manifest.mint ? { minted: true, ...(typeof id.token === 'string' ? { token_id: id.token } : {}) } : {}),
      // when the upstream says the credential was issued (its age, for `fleet review`)
      ...(typeof id.issued === 'string' ? { issued: id.issued } : {}),
    };
    // durable: on stable storage before the upstream is called
    await c.record({ phase: 'intent', decision: 'allow', executor, args: c.logged, resources: c.facts, ...(c.key ? { key: c.key } : {}), ...(c.cited ? { evidence_from: c.cited } : {}) }, true);
  } catch (e) {
    const why = e instanceof AuditUnavailable ? e.message : String(e);
    c.inst.log.error(why);
    return c.failure(`refused: ${why}; no upstream call was made`, 'failed');
  }
};

/** The instance's timeout starts afresh for the upstream call: a slow approval is not a slow upstream. */
export const startClock: Step = (c) => {
  c.startTimer();
  return undefined;
};

export const runUpstream: Step = async (c) => {
  const { inst, ctx, signal } = c;
  const tool = c.tool!;
  const sent = c.upstream?.sent?.();
  let raw: unknown;
  c.ran = true;
  try {
    raw = await Promise.race([
      tool.run(c.args, ctx!),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
    ]);
  } catch (e) {
    const u = upstreamError(inst.connector, e);
    if (!u) {
      // a fault of ours: definite when the client sent nothing since run() began
      const before = sent !== undefined && c.upstream!.sent!() === sent;
      return c.outcome(c.internal(e, before ? 'before' : 'during'), !before);
    }
    const msg = inst.redactor.scrub(u.message);
    const result = c.failure(`${inst.connector.name} error: ${u.code}: ${msg}${u.retryAfter ? ` (retry after ${u.retryAfter}s)` : ''}`, 'failed');
    return c.outcome({ result, record: { outcome: 'error', error: u.code, error_message: msg } }, !u.definite);
  }
  try {
    const out = shape(c, raw);
    const result: CallToolResult = { content: [{ type: 'text', text: tool.text(out) }], structuredContent: c.writes ? { ...out, status: 'completed' } : out };
    return c.outcome({ result, record: { outcome: 'ok', ...(tool.evidence ? { evidence: tool.evidence(c.args, out as never) } : {}) } }, true);
  } catch (e) {
    // the upstream answered and acted; only our rendering of its answer failed
    return c.outcome(c.internal(e, 'after'), true);
  }
};

/** What the upstream answered, as the client may see it: cut to the grant, then to the limit, checked against the output schema, redacted. */
function shape(c: CallState, raw: unknown): Record<string, unknown> {
  return c.inst.redactor.deep(shapeOutput(c.tool!, c.args, c.ctx!, raw)) as Record<string, unknown>;
}

/** A tool's answer cut to the grant, then to the limit, then checked against its output schema. */
export function shapeOutput(tool: ToolDef, args: Record<string, unknown>, ctx: ToolContext<unknown>, raw: unknown): Record<string, unknown> {
  const narrowed = tool.filter ? tool.filter(raw as never, ctx) : raw;
  const listed = limitLists(tool, args, grantedItems(tool, ctx, narrowed as Record<string, unknown>));
  return tool.output.parse(listed) as Record<string, unknown>;
}

/** Each declared list keeps only the items whose every fact the grant allows. */
export function grantedItems(tool: ToolDef, ctx: ToolContext<unknown>, out: Record<string, unknown>): Record<string, unknown> {
  if (!tool.lists) return out;
  const kept = { ...out };
  for (const [field, keys] of Object.entries(tool.lists)) {
    const items = out[field];
    if (!Array.isArray(items)) throw new TypeError(`${tool.name} declares list "${field}", but its output has no such array`);
    const by = Object.entries(keys);
    kept[field] = items.filter((item) => by.every(([on, value]) => ctx.allows(on, value(item))));
  }
  return kept;
}

/** Then each declared list is cut to the call's limit: filter first, limit second, in every list. */
export function limitLists(tool: ToolDef, args: Record<string, unknown>, out: Record<string, unknown>): Record<string, unknown> {
  const n = tool.limit?.(args);
  if (n === undefined || !tool.lists) return out;
  const cut = { ...out };
  for (const field of Object.keys(tool.lists)) cut[field] = (out[field] as unknown[]).slice(0, n);
  return cut;
}

async function seekApproval(c: CallState, tool: ToolDef, approval: Approval): Promise<Verdict> {
  const { inst, req } = c;
  const secret = new Set(Object.entries(tool.audit ?? {}).filter(([, as]) => as === 'secret').map(([k]) => k));
  const timeoutMs = parseDuration(approval.timeout) ?? 15 * 60_000;
  c.approvalExpires = Date.now() + timeoutMs;
  const request: ApprovalRequest = {
    call: c.call,
    instance: inst.manifest.id,
    tool: tool.name,
    resources: c.facts!.filter((f) => tool.constraints[f.on]?.resources),
    lines: argumentLines(c.args, secret).map((l) => inst.redactor.scrub(l)),
    digest: c.digest,
    requester: c.who.actor,
    requesterKind: c.who.actorKind,
    proof: c.who.proof?.kind,
    thread: c.who.thread,
    reason: c.who.reason,
    approvers: approval.approvers ?? [],
    executor: executorIds(c),
    timeoutMs,
    expiresAt: c.approvalExpires,
    signal: c.cancelled,
  };
  const hooks = {
    progress: (m: string) => req.progress?.(m),
    event: (status: string, detail: Record<string, unknown>) =>
      void c.record({ phase: 'approval', status, via: approval.via, digest: c.digest, ...detail }).catch((e: Error) => inst.log.error(e.message)),
  };
  // The approval is kept in the instance's state, under the call's idempotency key (else the call),
  // where every process and replica sees it: a retry of the key that finds it approved (its first
  // holder died after the answer) runs on that answer instead of asking again, and the first
  // answer kept is the one that counts.
  const id = c.key ? `key:${c.key}` : `call:${c.call}`;
  let verdict: Verdict;
  try {
    if (c.key && !(await inst.keys.awaiting(c.key, true))) throw new StateUnavailable(`idempotency key ${c.key} is no longer held by this process`);
    const entry = await inst.state.approvals.open({ id, call: c.call, expires: c.approvalExpires, ref: { digest: c.digest } });
    // an answer counts for this exact call only (the same digest), and only until it expires
    if (entry.status === 'approved' && entry.ref?.digest === c.digest) verdict = asVerdict(entry, c.digest);
    else {
      const channel = approval.via === 'elicitation' ? elicitationChannel(req.elicit) : await openSlackApprovals(inst);
      const resume = resumable(entry, c.digest, approval.via);
      if (resume) {
        // the request this key's first holder posted before it stopped: wait on it, to its expiry
        c.approvalExpires = request.expiresAt = entry.expires;
        request.resume = resume;
      }
      // where it was posted: another replica resumes a pending request there, and once withdrawn,
      // whoever runs for the instance records late answers to it (./late.ts)
      const posted = (where: { channel: string; ts: string }) =>
        inst.state.approvals.setRef(id, { digest: c.digest, tool: tool.name, ...where }).catch((e: Error) => inst.log.error(`the approval request of ${id} cannot be resumed elsewhere: ${e.message}`));
      verdict = await channel.request(request, { ...hooks, posted });
    }
    verdict = asVerdict(await inst.state.approvals.decide(id, { status: verdict.status, ...('by' in verdict && verdict.by ? { by: verdict.by } : {}), ...('why' in verdict ? { why: verdict.why } : {}) }, verdict.status === 'approved' ? verdict.at : Date.now()), c.digest);
  } catch (e) {
    verdict = { status: 'failed', why: `the approval could not be requested: ${(e as Error).message}` };
  } finally {
    if (c.key) {
      const held = await inst.keys.awaiting(c.key, false).catch(() => false);
      if (!held && verdict!?.status === 'approved') verdict = { status: 'declined', why: `another process took over idempotency key ${c.key}` };
    }
  }
  const detail: Record<string, unknown> = { digest: c.digest, expires: new Date(c.approvalExpires).toISOString() };
  if ('by' in verdict && verdict.by) detail.by = verdict.by;
  if ('why' in verdict) detail.why = verdict.why;
  if (verdict.status === 'approved') detail.at = new Date(verdict.at).toISOString();
  await c.record({ phase: 'approval', status: verdict.status, via: approval.via, ...detail });
  return verdict;
}

/**
 * A pending request for this very call (same digest, not expired) that a process or replica which
 * has since stopped posted to Slack: where to resume waiting, instead of asking a second time.
 */
function resumable(e: ApprovalEntry, digest: string, via: string): { channel: string; ts: string } | undefined {
  const { ref } = e;
  if (via !== 'slack' || e.status !== 'pending' || e.expires <= Date.now() || ref?.digest !== digest) return undefined;
  return typeof ref.channel === 'string' && typeof ref.ts === 'string' ? { channel: ref.channel, ts: ref.ts } : undefined;
}

function asVerdict(e: ApprovalEntry, digest: string): Verdict {
  if (e.status === 'approved') return { status: 'approved', by: e.by ?? 'unknown', digest, at: e.decided ?? Date.now() };
  if (e.status === 'withdrawn') return { status: 'withdrawn', why: e.why ?? 'withdrawn' };
  if (e.status === 'failed') return { status: 'failed', why: e.why ?? 'failed' };
  if (e.status === 'declined') return { status: 'declined', ...(e.by ? { by: e.by } : {}), why: e.why ?? 'declined' };
  return { status: 'expired' };
}

async function openSlackApprovals(inst: Instance) {
  if (!inst.slackApprovals) throw new Error('no Slack approvals identity is configured (scopes/fleet.yaml approvals.slack)');
  return inst.slackApprovals();
}

function auditArgs(tool: ToolDef, args: Record<string, unknown>, bodies: 'hash' | 'keep'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    const as = (tool.audit as Record<string, string> | undefined)?.[k];
    const text = typeof v === 'string' ? v : JSON.stringify(v ?? null);
    if (as === 'secret') out[k] = { len: text.length };
    else if (as === 'body' && bodies === 'hash') out[k] = { len: text.length, sha256: sha256(text) };
    else out[k] = v;
  }
  return out;
}

function inputProblem(err: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}
