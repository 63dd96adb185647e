// A tool call, step by step: arguments → attribution → what it touches → policy → audit intent →
// upstream → result filtering → audit outcome. Every attempt, refused or not, leaves a record.
import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { attribute, BadAttribution, type Attribution } from './attribution.js';
import { AuditUnavailable, Denied } from './errors.js';
import type { Instance } from './instance.js';
import { allows, decide, where } from './policy.js';
import type { Fact, ToolContext, ToolDef } from './tool.js';
import { sha256 } from './audit/chain.js';

export interface CallRequest {
  name: string;
  arguments: unknown;
  meta?: Record<string, unknown>;
  client?: { name: string; version: string };
}

const fail = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

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

export async function runCall(inst: Instance, req: CallRequest): Promise<CallToolResult> {
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
  const record = (r: Record<string, unknown>) => audit.append(redactor.deep({ ...base, ...r }));
  const refuse = async (rule: string, message: string, args?: Record<string, unknown>, resources?: Fact[]) => {
    try {
      await record({ phase: 'decision', decision: 'deny', rule, args, resources });
    } catch (e) {
      inst.log.error((e as Error).message);
    }
    return fail(redactor.scrub(message));
  };

  const tool = inst.tools.get(req.name);
  if (!tool) {
    const granted = [...inst.tools.keys()].join(', ') || 'none';
    return refuse('tools', `denied: unknown tool "${req.name}" for ${manifest.id} (${where(manifest, 'tools')}); this instance grants: ${granted}`);
  }
  const parsed = tool.input.safeParse(req.arguments ?? {});
  if (!parsed.success) {
    return refuse('input', `invalid arguments for ${tool.name}: ${inputProblem(parsed.error)}`);
  }
  const args = parsed.data as Record<string, unknown>;
  const logged = auditArgs(tool, args, manifest.audit.bodies);
  if (attributionError) return refuse('attribution', `denied: ${attributionError}`, logged);

  let upstream;
  try {
    upstream = await inst.upstream();
  } catch (e) {
    return refuse('startup', `${manifest.id} is not available: ${(e as Error).message}`, logged);
  }
  const signal = AbortSignal.timeout(manifest.timeoutMs);
  const ctx: ToolContext<unknown> = {
    client: upstream.client,
    grant: manifest.tools[tool.name]!,
    identity: upstream.identity,
    manifest,
    signal,
    allows: (on, value) => allows(tool, manifest, on, value),
  };

  let facts: Fact[];
  try {
    facts = await tool.facts(args, ctx);
  } catch (e) {
    if (e instanceof Denied) return refuse(e.rule, e.message, logged);
    const u = inst.connector.describeError(e);
    return refuse('upstream', `${inst.connector.name} error while checking the call: ${u.code}: ${u.message}`, logged);
  }
  const decision = decide(tool, manifest, facts, who);
  if (!decision.allow) return refuse(decision.rule, decision.message, logged, facts);

  try {
    await record({ phase: 'intent', decision: 'allow', args: logged, resources: facts });
  } catch (e) {
    const why = e instanceof AuditUnavailable ? e.message : String(e);
    inst.log.error(why);
    return fail(`refused: ${why}; no upstream call was made`);
  }

  let outcome: Record<string, unknown>;
  let result: CallToolResult;
  try {
    const raw = await Promise.race([
      tool.run(args, ctx),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
    ]);
    const shaped = tool.output.parse(tool.filter ? tool.filter(raw, ctx) : raw);
    const out = redactor.deep(shaped);
    result = { content: [{ type: 'text', text: tool.text(out) }], structuredContent: out };
    outcome = { outcome: 'ok' };
  } catch (e) {
    const u = inst.connector.describeError(e);
    const msg = redactor.scrub(u.message);
    result = fail(`${inst.connector.name} error: ${u.code}: ${msg}${u.retryAfter ? ` (retry after ${u.retryAfter}s)` : ''}`);
    outcome = { outcome: 'error', error: u.code, error_message: msg };
  }
  try {
    await record({ phase: 'outcome', ...outcome, duration_ms: Math.round((performance.now() - started) * 100) / 100 });
  } catch (e) {
    inst.log.error(`${(e as Error).message}; outcome of call ${call} not recorded`);
  }
  return result;
}
