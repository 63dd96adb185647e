// A tool call, step by step: arguments → attribution → what it touches → policy → idempotency →
// rate → approval → audit intent → upstream → result filtering → audit outcome. Every attempt,
// refused or not, leaves a record; a write reports a status a workflow can branch on.
import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { elicitationChannel, summarize, type Elicit, type Verdict } from './approval.js';
import { attribute, BadAttribution, type Attribution } from './attribution.js';
import { sha256 } from './audit/chain.js';
import { parseDuration } from './duration.js';
import { AuditUnavailable, Denied } from './errors.js';
import { KEY_META } from './idempotency.js';
import type { Instance } from './instance.js';
import type { Approval } from './manifest/schema.js';
import { allows, decide, where } from './policy.js';
import { takeSlot } from './rate.js';
import type { Status } from './status.js';
import type { Fact, ToolContext, ToolDef } from './tool.js';

export interface CallRequest {
  name: string;
  arguments: unknown;
  meta?: Record<string, unknown>;
  client?: { name: string; version: string };
  /** asks the client's user (MCP elicitation), when the client declared it can */
  elicit?: Elicit;
  /** progress notifications, when the client asked for them */
  progress?: (message: string) => void;
}

const WAIT_POLL_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function idempotencyKey(meta: Record<string, unknown> | undefined): string | undefined | Error {
  const k = meta?.[KEY_META];
  if (k === undefined || k === null) return undefined;
  if (typeof k !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(k)) return new Error(`_meta "${KEY_META}" must be 1 to 200 printable ASCII characters`);
  return k;
}

/**
 * When an instance's audit trail last refused a record. For a while after, calls are refused
 * before anything (the identity check, a fact's lookup) can reach the upstream; then one call
 * tries the trail again, so a freed disk brings the instance back.
 */
const auditDown = new WeakMap<object, { at: number; why: string }>();
const AUDIT_RETRY_MS = 5000;

/** An isError result, scrubbed; a write tool's also carries its status. */
function failed(inst: Instance, toolName: string, message: string, status: Status): CallToolResult {
  const text = inst.redactor.scrub(message);
  const writes = (inst.tools.get(toolName)?.access ?? 'read') !== 'read';
  return { isError: true, content: [{ type: 'text', text }], ...(writes ? { structuredContent: { status, message: text } } : {}) };
}

export async function runCall(inst: Instance, req: CallRequest): Promise<CallToolResult> {
  try {
    return await steps(inst, req);
  } catch (e) {
    // a record the call path awaited outside its own refusals (an approval step, a replay)
    if (!(e instanceof AuditUnavailable)) throw e;
    inst.log.error(e.message);
    return failed(inst, req.name, `refused: ${e.message}; the call was not made`, 'failed');
  }
}

async function steps(inst: Instance, req: CallRequest): Promise<CallToolResult> {
  const started = performance.now();
  const { manifest, audit, redactor } = inst;
  const call = randomUUID();
  let who: Attribution = { via: 'none', client: req.client };
  let attributionError: string | undefined;
  try {
    who = attribute(req.meta, inst.env, req.client);
  } catch (e) {
    if (!(e instanceof BadAttribution)) throw e;
    attributionError = e.message;
  }
  const base = {
    v: 1,
    call,
    time: new Date().toISOString(),
    instance: manifest.id,
    owner: manifest.owner,
    manifest: manifest.hash,
    client: who.client,
    actor: who.actor,
    actor_via: who.via,
    thread: who.thread,
    reason: who.reason,
    tool: req.name,
  };
  const record = async (r: Record<string, unknown>) => {
    try {
      await audit.append(redactor.deep({ ...base, ...r }));
      auditDown.delete(audit);
    } catch (e) {
      auditDown.set(audit, { at: Date.now(), why: e instanceof AuditUnavailable ? e.message : String(e) });
      throw e;
    }
  };
  const tool = inst.tools.get(req.name);
  const writes = !!tool && tool.access !== 'read';

  const failure = (message: string, status: Status) => failed(inst, req.name, message, status);
  let logged: Record<string, unknown> | undefined;
  let facts: Fact[] | undefined;
  const refuse = async (rule: string, message: string, status: Status = 'denied', decision = 'deny') => {
    try {
      await record({ phase: 'decision', decision, rule, args: logged, resources: facts });
    } catch (e) {
      inst.log.error((e as Error).message);
    }
    return failure(message, status);
  };

  if (!tool) {
    const granted = [...inst.tools.keys()].join(', ') || 'none';
    return refuse('tools', `denied: unknown tool "${req.name}" for ${manifest.id} (${where(manifest, 'tools')}); this instance grants: ${granted}`);
  }
  const parsed = tool.input.safeParse(req.arguments ?? {});
  if (!parsed.success) return refuse('input', `invalid arguments for ${tool.name}: ${inputProblem(parsed.error)}`);
  const args = parsed.data as Record<string, unknown>;
  logged = auditArgs(tool, args, manifest.audit.bodies);
  if (attributionError) return refuse('attribution', `denied: ${attributionError}`);
  const key = writes ? idempotencyKey(req.meta) : undefined;
  if (key instanceof Error) return refuse('idempotency', `denied: ${key.message}`);
  const down = auditDown.get(audit);
  if (down && Date.now() - down.at < AUDIT_RETRY_MS) {
    inst.log.error(down.why);
    return failure(`refused: ${down.why}; no upstream call was made`, 'failed');
  }

  let upstream;
  try {
    upstream = await inst.upstream();
  } catch (e) {
    return refuse('startup', `${manifest.id} is not available: ${(e as Error).message}`, 'failed');
  }
  // The instance's timeout bounds the whole call; its timer is cleared as soon as the call ends
  // (AbortSignal.timeout would leave one pending timer behind per call).
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('the upstream did not answer in time', 'TimeoutError')), manifest.timeoutMs);
  const signal = controller.signal;
  try {
    const grant = manifest.tools[tool.name]!;
    const ctx: ToolContext<unknown> = {
      client: upstream.client,
      grant,
      identity: upstream.identity,
      manifest,
      signal,
      allows: (on, value) => allows(tool, manifest, on, value),
    };

    try {
      facts = await tool.facts(args, ctx);
    } catch (e) {
      if (e instanceof Denied) return refuse(e.rule, e.message);
      const u = inst.connector.describeError(e);
      return refuse('upstream', `${inst.connector.name} error while checking the call: ${u.code}: ${u.message}`, 'failed');
    }
    const decision = decide(tool, manifest, facts, who);
    if (!decision.allow) return refuse(decision.rule, decision.message);

    // Idempotency: a key that already ran returns its first outcome, without the upstream.
    if (key) {
      const fingerprint = sha256(JSON.stringify([tool.name, args]));
      for (;;) {
        const claim = await inst.keys.claim(key, fingerprint);
        if (claim.kind === 'claimed') break;
        if (claim.kind === 'replay') {
          await record({ phase: 'decision', decision: 'replay', rule: 'idempotency', args: logged, resources: facts, key });
          const first = claim.result;
          const sc = (first.structuredContent ?? {}) as Record<string, unknown>;
          const text = `replayed: idempotency key ${key} already ran; this is its first outcome, the upstream was not called again\n${first.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')}`;
          return { ...first, content: [{ type: 'text', text }], structuredContent: { ...sc, status: 'replayed' } };
        }
        if (claim.kind === 'conflict') {
          return refuse('idempotency', `denied: idempotency key ${key} was first used with different arguments; use a new key for a different call`);
        }
        if (claim.kind === 'unknown') {
          return refuse('idempotency', `denied: the first call with idempotency key ${key} stopped before its outcome was recorded; check ${inst.connector.name} before retrying with a new key`, 'failed');
        }
        if (claim.awaitingApproval) {
          return refuse('approval', `pending: the call with idempotency key ${key} is waiting for approval; retry with the same key later`, 'pending_approval', 'pending');
        }
        if (signal.aborted) return refuse('idempotency', `the call with idempotency key ${key} is still running; retry with the same key later`, 'failed');
        await sleep(WAIT_POLL_MS);
      }
    }
    const settle = async (result: CallToolResult, ran: boolean) => {
      if (!key) return result;
      try {
        if (ran) await inst.keys.done(key, result);
        else await inst.keys.release(key);
      } catch (e) {
        inst.log.error(`idempotency key ${key}: ${(e as Error).message}`);
      }
      return result;
    };
    const stop = async (rule: string, message: string, status: Status) => settle(await refuse(rule, message, status), false);

    if (grant.rate) {
      const slot = await takeSlot(inst.rateFile, tool.name, grant.rate as string);
      if (!slot.ok) {
        const wait = Math.ceil((slot.next - Date.now()) / 1000);
        return stop(`tools.${tool.name}.rate`,
          `denied: rate limit ${grant.rate} of ${tool.name} in ${manifest.id} reached (${where(manifest, `tools.${tool.name}.rate`)}); next call allowed at ${new Date(slot.next).toISOString()} (in ${wait}s)`, 'denied');
      }
    }

    if (grant.approval) {
      const verdict = await seekApproval(inst, req, tool, grant.approval as Approval, { call, args, facts, who, key, record });
      if (verdict.status !== 'approved') {
        const expired = verdict.status === 'expired';
        const line = where(manifest, `tools.${tool.name}.approval`);
        return stop(`tools.${tool.name}.approval`,
          expired
            ? `denied: approval for ${tool.name} expired with no answer (${line}); nothing was done`
            : `denied: approval for ${tool.name} declined${verdict.by ? ` by ${verdict.by}` : ''}: ${verdict.why} (${line}); nothing was done`,
          expired ? 'approval_expired' : 'approval_declined');
      }
    }

    try {
      await record({ phase: 'intent', decision: 'allow', args: logged, resources: facts, ...(key ? { key } : {}) });
    } catch (e) {
      const why = e instanceof AuditUnavailable ? e.message : String(e);
      inst.log.error(why);
      return settle(failure(`refused: ${why}; no upstream call was made`, 'failed'), false);
    }

    let outcome: Record<string, unknown>;
    let result: CallToolResult;
    let ran = true;
    try {
      const raw = await Promise.race([
        tool.run(args, ctx),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      ]);
      const out = redactor.deep(tool.output.parse(tool.filter ? tool.filter(raw, ctx) : raw)) as Record<string, unknown>;
      result = { content: [{ type: 'text', text: tool.text(out) }], structuredContent: writes ? { ...out, status: 'completed' } : out };
      outcome = { outcome: 'ok' };
    } catch (e) {
      const u = inst.connector.describeError(e);
      const msg = redactor.scrub(u.message);
      result = failure(`${inst.connector.name} error: ${u.code}: ${msg}${u.retryAfter ? ` (retry after ${u.retryAfter}s)` : ''}`, 'failed');
      outcome = { outcome: 'error', error: u.code, error_message: msg };
      ran = !u.definite;
    }
    try {
      await record({ phase: 'outcome', ...outcome, duration_ms: Math.round((performance.now() - started) * 100) / 100 });
    } catch (e) {
      inst.log.error(`${(e as Error).message}; outcome of call ${call} not recorded`);
    }
    return settle(result, ran);
  } finally {
    clearTimeout(timer);
  }
}

interface Pending {
  call: string;
  args: Record<string, unknown>;
  facts: Fact[];
  who: Attribution;
  key?: string;
  record(r: Record<string, unknown>): Promise<void>;
}

async function seekApproval(inst: Instance, req: CallRequest, tool: ToolDef, approval: Approval, p: Pending): Promise<Verdict> {
  const secret = new Set(Object.entries(tool.audit ?? {}).filter(([, as]) => as === 'secret').map(([k]) => k));
  const request = {
    call: p.call,
    instance: inst.manifest.id,
    tool: tool.name,
    resources: p.facts.filter((f) => tool.constraints[f.on]?.resources),
    summary: inst.redactor.scrub(summarize(p.args, secret)),
    requester: p.who.actor,
    thread: p.who.thread,
    approvers: approval.approvers ?? [],
    timeoutMs: parseDuration(approval.timeout) ?? 15 * 60_000,
  };
  const hooks = {
    progress: (m: string) => req.progress?.(m),
    event: (status: string, detail: Record<string, unknown>) =>
      void p.record({ phase: 'approval', status, via: approval.via, ...detail }).catch((e: Error) => inst.log.error(e.message)),
  };
  if (p.key) await inst.keys.awaiting(p.key, true);
  let verdict: Verdict;
  try {
    const channel = approval.via === 'elicitation' ? elicitationChannel(req.elicit) : await openSlackApprovals(inst);
    verdict = await channel.request(request, hooks);
  } catch (e) {
    verdict = { status: 'declined', why: `the approval could not be requested: ${(e as Error).message}` };
  } finally {
    if (p.key) await inst.keys.awaiting(p.key, false).catch(() => {});
  }
  await p.record({ phase: 'approval', status: verdict.status, via: approval.via, ...('by' in verdict && verdict.by ? { by: verdict.by } : {}), ...('why' in verdict ? { why: verdict.why } : {}) });
  return verdict;
}

async function openSlackApprovals(inst: Instance) {
  if (!inst.slackApprovals) throw new Error('no Slack approvals identity is configured (scopes/fleet.yaml approvals.slack)');
  return inst.slackApprovals();
}

