// The steps of a call (their order is in ./call.ts). Each has one job: it returns nothing to let
// the call go on, or the result that ends it; each declares the fields it needs from the steps
// before it and the ones it adds (./step.ts).
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseRate } from '../base/rate.js';
import { META } from '../base/wire.js';
import { AuditUnavailable, Denied } from '../base/errors.js';
import { sha256 } from '../audit/chain.js';
import type { Approval } from '../base/manifest.js';
import { derivedFacts, lookedUp } from './covers.js';
import { upstreamError } from './faults.js';
import { settleFromTrail } from './idempotency.js';
import { attributionRule } from '../manifest/attribution.js';
import { checkActorProof } from './proof.js';
import { allows, decide, where } from './policy.js';
import { StateUnavailable, type Claim } from '../state/store.js';
import { findEvidence } from './promotion.js';
import type { Promotion } from '../manifest/schema.js';
import { AUDIT_RETRY_MS, auditDown, type InFlightCall } from './in-flight.js';
import { activeSuspension } from '../state/suspension.js';
import { refreshExceptions, type Instance } from '../instance/instance.js';
import { baseOf, exceptionFor, isActive, selfApproved } from '../manifest/exceptions.js';
import { auditArgs, inputProblem } from './arguments.js';
import { shapeAnswer } from './output.js';
import { seekApproval, separationOfDuties, unresolvedRequester } from './seek-approval.js';
import { step } from './step.js';

const WAIT_POLL_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `fleet suspend` of this instance, or of the calling client, refuses the call, naming the
 * suspension. Runs first, and again just before the intent record (an approval may have waited).
 */
export const suspended = step('suspended', {}, async (c) => {
  let s;
  try {
    s = await activeSuspension(c.inst.store.suspensions, c.inst.manifest.id, c.who.client.id);
  } catch (e) {
    return c.refuse('suspension', `refused: ${(e as Error).message}`, 'failed');
  }
  if (!s) return;
  const what = s.target.startsWith('client:') ? `client ${s.target.slice('client:'.length)}` : `instance ${s.target}`;
  try {
    await c.record({
      phase: 'decision',
      decision: 'deny',
      rule: 'suspension',
      suspension: { target: s.target, at: s.at, by: s.by, reason: s.reason },
      args: c.logged,
    });
  } catch (e) {
    c.inst.log.error((e as Error).message);
  }
  return c.failure(
    `refused: ${what} is suspended since ${s.at} by ${s.by}: ${s.reason}; nothing was done (\`fleet resume ${s.target}\` lifts it)`,
    'denied',
  );
});

/**
 * Time-boxed exceptions: the instance's tools are those granted now (an exception that started or
 * expired since the last call is applied first); a call to a tool whose exception is not active
 * is refused naming the exception and its window.
 */
export const exceptionWindow = step('exceptionWindow', {}, (c) => {
  refreshExceptions(c.inst);
  if (c.inst.tools.has(c.req.name)) return;
  const base = baseOf(c.inst.manifest);
  const i = (base.exceptions ?? []).findIndex((e) => e.tool === c.req.name);
  const e = base.exceptions?.[i];
  if (!e) return;
  const now = Date.now();
  const why = !e.expires
    ? 'has no expiry, so it is never active'
    : selfApproved(e)
      ? 'is approved by its own owner, so it is never active'
      : Date.parse(e.expires) <= now
        ? `expired at ${e.expires}`
        : `starts at ${e.starts}`;
  return c.refuse(
    'exception',
    `denied: ${c.req.name} is granted to ${base.id} only by exception ${e.id}, which ${why} (${where(base, `exceptions.${i}`)}); ask its owner ${e.owner} for a new one`,
  );
});

/** A call allowed only thanks to an exception is marked with it in every later audit record. */
export const markException = step('markException', { needs: ['tool', 'facts'] }, (c) => {
  const { tool } = c;
  const e = exceptionFor(c.inst.manifest, tool.name);
  if (!e) return;
  const base = baseOf(c.inst.manifest);
  if (base.tools[tool.name] === undefined || !decide(tool, base, c.facts, c.who).allow) c.marks.exception = e.id;
  return undefined;
});

/**
 * A call that only an exception allows is refused if that exception ended while the call waited
 * (for an approval, say): outside its window an exception does not exist.
 */
export const exceptionStillActive = step('exceptionStillActive', {}, (c) => {
  const id = c.marks.exception;
  if (typeof id !== 'string') return;
  const base = baseOf(c.inst.manifest);
  const i = (base.exceptions ?? []).findIndex((e) => e.id === id);
  const e = base.exceptions?.[i];
  if (e && isActive(e, Date.now())) return;
  return c.refuse(
    'exception',
    `denied: exception ${id} of ${base.id} ended at ${e?.expires ?? 'its removal'} while the call waited (${where(base, `exceptions.${Math.max(i, 0)}`)}); nothing was done; ask its owner ${e?.owner ?? base.owner} for a new one`,
  );
});

export const findTool = step('findTool', { adds: ['tool', 'grant'] }, (c) => {
  c.tool = c.inst.tools.get(c.req.name);
  c.grant = c.inst.manifest.tools[c.req.name];
  if (c.tool && c.grant) return;
  const { manifest } = c.inst;
  const granted = [...c.inst.tools.keys()].join(', ') || 'none';
  return c.refuse(
    'tools',
    `denied: unknown tool "${c.req.name}" for ${manifest.id} (${where(manifest, 'tools')}); this instance grants: ${granted}`,
  );
});

export const parseArguments = step('parseArguments', { needs: ['tool'], adds: ['args', 'logged'] }, (c) => {
  const { tool } = c;
  const parsed = tool.input.safeParse(c.req.arguments ?? {});
  if (!parsed.success) return c.refuse('input', `invalid arguments for ${tool.name}: ${inputProblem(parsed.error)}`);
  c.args = parsed.data as Record<string, unknown>;
  c.logged = auditArgs(tool, c.args, c.inst.manifest.audit.bodies);
});

/** The attribution is well-formed, and present where the manifest requires it: decided before any lookup. */
export const attribution = step('attribution', {}, (c) => {
  const { manifest } = c.inst;
  if (c.attributionError)
    return c.refuse('attribution', `denied: ${c.attributionError} (${where(manifest, 'attribution')})`);
  if (attributionRule(manifest.attribution).required && !c.who.actor && !c.who.token) {
    return c.refuse(
      'attribution',
      `denied: ${manifest.id} requires attribution (${where(manifest, 'attribution')}); ${howToAttribute(c)}`,
    );
  }
});

/** What a call must carry to name its human, as this instance proves it and over this transport. */
function howToAttribute(c: InFlightCall): string {
  const { proof } = attributionRule(c.inst.manifest.attribution);
  if (proof === 'oidc')
    return `pass _meta "${META.actorToken}" (a signed token from the issuer this instance trusts) with the call`;
  if (proof !== 'asserted' && c.inst.prover) return c.inst.prover.howTo;
  // only a stdio process's environment names its session's human; an HTTP server's names nobody's
  return `pass _meta "${META.actor}" (and "${META.thread}") with the call${c.who.client.via.startsWith('stdio') ? ', or set FLEET_ACTOR for the server' : ''}`;
}

/** The client principal is one this instance serves, where the manifest lists them. */
export const clientAllowed = step('clientAllowed', {}, (c) => {
  const { manifest } = c.inst;
  if (!manifest.clients || manifest.clients.includes(c.who.client.id)) return;
  return c.refuse(
    'clients',
    `denied: client ${c.who.client.id} may not call ${manifest.id} (${where(manifest, 'clients')}); it serves ${manifest.clients.join(', ')}`,
  );
});

/** The actor is proven as the manifest's attribution asks, before anything else reaches the upstream. */
export const proveActor = step('proveActor', {}, async (c) => {
  const { inst } = c;
  const r = await checkActorProof(c.who, {
    manifest: inst.manifest,
    line: where(inst.manifest, 'attribution'),
    prover: inst.prover,
  });
  c.who.proof = r.proof;
  c.who.token = undefined;
  if (!r.ok) return c.refuse('attribution.proof', r.message, r.status ?? 'denied');
});

export const readIdempotencyKey = step('readIdempotencyKey', { needs: ['tool'] }, (c) => {
  if (!c.writes) return;
  const k = c.req.meta?.[META.idempotencyKey];
  if (k === undefined || k === null) return;
  if (typeof k !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(k)) {
    return c.refuse(
      'idempotency',
      `denied: _meta "${META.idempotencyKey}" must be 1 to 200 printable ASCII characters`,
    );
  }
  c.key = k;
});

export const auditHealthy = step('auditHealthy', {}, (c) => {
  const broken = c.inst.audit.broken;
  if (broken) return c.failure(`refused: ${broken}; no upstream call was made`, 'failed');
  const down = auditDown.get(c.inst.audit);
  if (!down || Date.now() - down.at >= AUDIT_RETRY_MS) return;
  c.inst.log.error(down.why);
  return c.failure(`refused: ${down.why}; no upstream call was made`, 'failed');
});

export const openUpstream = step('openUpstream', { needs: ['tool', 'grant'], adds: ['upstream', 'ctx'] }, async (c) => {
  const { inst, tool, grant } = c;
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
    grant,
    identity: upstream.identity,
    manifest,
    get signal() {
      return c.signal;
    },
    allows: (on, value) => allows(tool, manifest, on, value),
  };
});

export const touches = step('touches', { needs: ['tool', 'args', 'ctx'], adds: ['facts'] }, async (c) => {
  const { tool, ctx } = c;
  try {
    // what the arguments name, read by the core from the tool's covers; then what only the upstream can tell
    const derived = derivedFacts(tool, c.args);
    const found = (await tool.facts?.(c.args, ctx)) ?? [];
    c.facts = [...derived, ...found];
    // a look-up is owed only when nothing the arguments name is refused already (a tool never reads a refused resource)
    const owed = derived.every((f) => ctx.allows(f.on, f.value));
    const missing = owed ? lookedUp(tool, c.args).filter((k) => !found.some((f) => f.on === k)) : [];
    if (missing.length)
      throw new TypeError(
        `${tool.name}.facts() reported nothing on ${missing.join(', ')}, which its covers say it looks up`,
      );
  } catch (e) {
    if (e instanceof Denied) return c.refuse(e.rule, e.message);
    const u = upstreamError(c.inst.connector, e);
    if (!u) return c.fault(e, 'before');
    return c.refuse(
      'upstream',
      `${c.inst.connector.name} error while checking the call: ${u.code}: ${u.message}`,
      'failed',
    );
  }
});

export const checkPolicy = step('checkPolicy', { needs: ['tool', 'facts'] }, (c) => {
  const decision = decide(c.tool, c.inst.manifest, c.facts, c.who);
  if (!decision.allow) return c.refuse(decision.rule, decision.message);
});

/** A key that already ran returns its first outcome, without the upstream. */
export const claimKey = step('claimKey', { needs: ['tool', 'args', 'logged', 'facts'] }, async (c) => {
  const { key, inst } = c;
  if (!key) return;
  const fingerprint = sha256(JSON.stringify([c.tool.name, c.args]));
  for (;;) {
    let claim: Claim;
    let settled = false;
    try {
      claim = await inst.keys.claim(key, fingerprint);
      if (claim.kind === 'unknown') {
        // its process died: the trail may hold the outcome it did not live to keep
        const result = await settleFromTrail({ audit: inst.audit, keys: inst.keys }, key, c.tool!.name);
        if (result) [claim, settled] = [{ kind: 'replay', result }, true];
      }
    } catch (e) {
      return stateRefusal(c, 'idempotency', e);
    }
    if (claim.kind === 'claimed') {
      c.claimed = true;
      return;
    }
    if (claim.kind === 'replay') {
      await c.record({
        phase: 'decision',
        decision: 'replay',
        rule: 'idempotency',
        args: c.logged,
        resources: c.facts,
        key,
        ...(settled ? { settled: 'trail' } : {}),
      });
      const first = claim.result;
      const sc = (first.structuredContent ?? {}) as Record<string, unknown>;
      const text = `replayed: idempotency key ${key} already ran; this is its first outcome, the upstream was not called again\n${first.content.map((x) => (x.type === 'text' ? x.text : '')).join('\n')}`;
      return { ...first, content: [{ type: 'text', text }], structuredContent: { ...sc, status: 'replayed' } };
    }
    if (claim.kind === 'conflict') {
      return c.refuse(
        'idempotency',
        `denied: idempotency key ${key} was first used with different arguments; use a new key for a different call`,
      );
    }
    if (claim.kind === 'unknown') {
      return c.refuse(
        'idempotency',
        `denied: the first call with idempotency key ${key} stopped before its outcome was recorded; check ${inst.connector.name} before retrying with a new key`,
        'failed',
      );
    }
    if (claim.awaitingApproval) {
      return c.refuse(
        'approval',
        `pending: the call with idempotency key ${key} is waiting for approval; retry with the same key later`,
        'pending_approval',
        'pending',
      );
    }
    if (c.signal.aborted)
      return c.refuse(
        'idempotency',
        `the call with idempotency key ${key} is still running; retry with the same key later`,
        'failed',
      );
    await sleep(WAIT_POLL_MS);
  }
});

export const rateLimit = step('rateLimit', { needs: ['tool', 'grant'] }, async (c) => {
  const { manifest } = c.inst;
  const { tool } = c;
  const rate = c.grant.rate as string | undefined;
  if (!rate) return;
  const { limit, windowMs } = parseRate(rate)!; // the manifest's schema took only rates
  let slot;
  try {
    slot = await c.inst.store.rate.take(tool.name, limit, windowMs);
  } catch (e) {
    return stateRefusal(c, `tools.${tool.name}.rate`, e);
  }
  if (slot.ok) return;
  const wait = Math.ceil((slot.next - Date.now()) / 1000);
  return c.refuse(
    `tools.${tool.name}.rate`,
    `denied: rate limit ${rate} of ${tool.name} in ${manifest.id} reached (${where(manifest, `tools.${tool.name}.rate`)}); next call allowed at ${new Date(slot.next).toISOString()} (in ${wait}s)`,
  );
});

/**
 * The upstream's own Retry-After: after it answered a tool's call with 429 and a wait, this
 * process sends that tool nothing until the wait is over; a call meanwhile is refused at once,
 * naming the wait, and nothing reaches the upstream.
 */
export const upstreamWait = step('upstreamWait', { needs: ['tool'] }, (c) => {
  const until = waits.get(c.inst)?.get(c.tool.name);
  if (until === undefined) return;
  const left = until - Date.now();
  if (left <= 0) return void waits.get(c.inst)!.delete(c.tool.name);
  const s = Math.ceil(left / 1000);
  return c.refuse(
    'upstream.retry_after',
    `refused: ${c.inst.connector.name} asked for no more ${c.tool.name} calls until ${new Date(until).toISOString()} (HTTP 429, Retry-After); retry in ${s}s; nothing was sent`,
    'failed',
  );
});

/** instance → tool → when its upstream's Retry-After ends */
const waits = new WeakMap<Instance, Map<string, number>>();

function noteRetryAfter(inst: Instance, tool: string, seconds: number): void {
  let m = waits.get(inst);
  if (!m) waits.set(inst, (m = new Map()));
  m.set(tool, Math.max(m.get(tool) ?? 0, Date.now() + seconds * 1000));
}

/** State that cannot be read or written ends the call with a refusal on the record, naming where it lives. */
async function stateRefusal(c: InFlightCall, rule: string, e: unknown): Promise<CallToolResult> {
  if (!(e instanceof StateUnavailable)) throw e;
  c.inst.log.error(e.message);
  return c.refuse(rule, `refused: ${e.message}; the call was not made`, 'failed', 'failed', {
    error: 'state_unavailable',
    error_message: e.message,
  });
}

/** Proof before promotion: the grant's `promotion` evidence must be in the development instance's trail. */
export const requireEvidence = step('requireEvidence', { needs: ['tool', 'grant', 'args'] }, async (c) => {
  const { tool } = c;
  const { manifest } = c.inst;
  const p = c.grant.promotion as Promotion | undefined;
  if (!p || !tool.evidence) return;
  const trail = c.inst.trailFileOf?.(p.from);
  const anchorsOf = c.inst.anchorsOf;
  const verdict = trail
    ? await findEvidence(tool, c.args, p, trail, anchorsOf ? () => anchorsOf(p.from) : undefined)
    : ({ ok: false, missing: `no evidence: this instance cannot locate the audit trail of ${p.from}` } as const);
  if (!verdict.ok)
    return c.refuse(
      `tools.${tool.name}.promotion`,
      `denied: ${verdict.missing} (${where(manifest, `tools.${tool.name}.promotion`)})`,
    );
  c.cited = verdict.cited;
});

export const approve = step('approve', { needs: ['tool', 'grant', 'args', 'facts', 'ctx'] }, async (c) => {
  const { tool } = c;
  const { manifest } = c.inst;
  const approval = c.grant.approval as Approval | undefined;
  if (!approval) return;
  // the approval has its own timeout; the instance's is the upstream's
  c.stopTimer();
  const line = where(manifest, `tools.${tool.name}.approval`);
  const unresolved = unresolvedRequester(c, approval);
  if (unresolved) {
    await c.record({ phase: 'approval', status: 'refused', via: approval.via, why: unresolved });
    return c.refuse(
      `tools.${tool.name}.approval`,
      `denied: no approval of ${tool.name} can be asked: ${unresolved} (${line}); nothing was done`,
      'approval_declined',
    );
  }
  const verdict = await seekApproval(c, approval);
  if (verdict.status === 'approved') {
    const broken = separationOfDuties(c, approval, verdict);
    if (!broken) return;
    await c.record({
      phase: 'approval',
      status: 'refused',
      via: approval.via,
      by: verdict.by,
      why: broken,
      digest: c.digest,
    });
    return c.refuse(
      `tools.${tool.name}.approval`,
      `denied: the approval of ${tool.name} by ${verdict.by} does not count: ${broken} (${line}); nothing was done`,
      'approval_declined',
    );
  }
  if (verdict.status === 'withdrawn') {
    return c.refuse(
      `tools.${tool.name}.approval`,
      `cancelled: ${verdict.why} while its approval was pending; the request was withdrawn and nothing was done`,
      'failed',
    );
  }
  if (verdict.status === 'failed') {
    return c.refuse(
      `tools.${tool.name}.approval`,
      `refused: no approval for ${tool.name} could be had: ${verdict.why} (${line}); nothing was done`,
      'failed',
    );
  }
  const expired = verdict.status === 'expired';
  return c.refuse(
    `tools.${tool.name}.approval`,
    expired
      ? `denied: approval for ${tool.name} expired with no answer (${line}); nothing was done`
      : `denied: approval for ${tool.name} declined${verdict.by ? ` by ${verdict.by}` : ''}: ${verdict.why} (${line}); nothing was done`,
    expired ? 'approval_expired' : 'approval_declined',
  );
});

/** A call whose client has gone (cancelled, timed out, disconnected) never reaches the upstream. */
export const stillWanted = step('stillWanted', {}, (c) => {
  if (!c.cancelled?.aborted) return;
  return c.refuse('cancelled', 'cancelled: the client withdrew the call before it ran; nothing was done', 'failed');
});

export const recordIntent = step('recordIntent', { needs: ['ctx', 'logged', 'facts'] }, async (c) => {
  try {
    const id = c.ctx.identity;
    // the executor: the instance's own upstream identity, and the reference (never the value) of its
    // credential; a minted one is the broker's reference, the token itself is named by id
    const executor = {
      id: id.user ?? id.bot,
      ...(id.bot ? { bot: id.bot } : {}),
      home: id.home,
      credential: c.inst.manifest.credential,
      ...(c.inst.manifest.mint
        ? { minted: true, ...(typeof id.token === 'string' ? { token_id: id.token } : {}) }
        : {}),
      // when the upstream says the credential was issued (its age, for `fleet review`)
      ...(typeof id.issued === 'string' ? { issued: id.issued } : {}),
    };
    // durable: on stable storage before the upstream is called
    await c.record(
      {
        phase: 'intent',
        decision: 'allow',
        executor,
        args: c.logged,
        resources: c.facts,
        ...(c.key ? { key: c.key } : {}),
        ...(c.cited ? { evidence_from: c.cited } : {}),
      },
      true,
    );
  } catch (e) {
    const why = e instanceof AuditUnavailable ? e.message : String(e);
    c.inst.log.error(why);
    return c.failure(`refused: ${why}; no upstream call was made`, 'failed');
  }
});

/** The instance's timeout starts afresh for the upstream call: a slow approval is not a slow upstream. */
export const startClock = step('startClock', {}, (c) => {
  c.startTimer();
  return undefined;
});

export const runUpstream = step('runUpstream', { needs: ['tool', 'args', 'ctx', 'upstream'] }, async (c) => {
  const { inst, ctx, signal, tool, upstream } = c;
  const sent = upstream.sent?.();
  let raw: unknown;
  c.ran = true;
  try {
    raw = await Promise.race([
      tool.run(c.args, ctx),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
    ]);
  } catch (e) {
    const u = upstreamError(inst.connector, e);
    if (!u) {
      // a fault of ours: definite when the client sent nothing since run() began
      const before = sent !== undefined && upstream.sent?.() === sent;
      return c.outcome(c.internal(e, before ? 'before' : 'during'), !before);
    }
    const msg = inst.redactor.scrub(u.message);
    if (u.retryAfter) noteRetryAfter(inst, tool.name, u.retryAfter);
    const result = c.failure(
      `${inst.connector.name} error: ${u.code}: ${msg}${u.retryAfter ? ` (retry after ${u.retryAfter}s)` : ''}`,
      'failed',
    );
    return c.outcome({ result, record: { outcome: 'error', error: u.code, error_message: msg } }, !u.definite);
  }
  try {
    const out = shapeAnswer(c, raw);
    const result: CallToolResult = {
      content: [{ type: 'text', text: tool.text(out) }],
      structuredContent: c.writes ? { ...out, status: 'completed' } : out,
    };
    return c.outcome(
      {
        result,
        record: { outcome: 'ok', ...(tool.evidence ? { evidence: tool.evidence(c.args, out as never) } : {}) },
      },
      true,
    );
  } catch (e) {
    // the upstream answered and acted; only our rendering of its answer failed
    return c.outcome(c.internal(e, 'after'), true);
  }
});
