// A call in flight: what it carries from step to step (what each step adds, typed in `Grown`), and
// the ways it ends: a refusal on the record, or a result that settles its idempotency key. (The
// instance's store, what it remembers between calls, is shared/state/.)
import type { Cited } from './promotion.js';
import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditUnavailable } from '../base/errors.js';
import type { Instance } from '../instance/instance.js';
import type { Fact, ToolContext, ToolDef, Upstream } from '../connector/tool.js';
import type { Grant } from '../base/manifest.js';
import { callDigest, type Elicit } from './approval.js';
import { describeFault, type FaultAt } from './faults.js';
import { attribute, BadAttribution, type Attribution, type ClientPrincipal } from './attribution.js';
import type { Status } from './status.js';
import { parseTraceparent } from '../audit/export.js';

export interface CallRequest {
  name: string;
  arguments: unknown;
  meta?: Record<string, unknown>;
  /** the client's self-declared name and version (MCP initialize): informative only */
  client?: { name: string; version: string };
  /** the JSON-RPC id of the tools/call request, and the MCP protocol version of the session */
  requestId?: string | number;
  protocolVersion?: string;
  /**
   * The client principal as the transport proved it: for stdio the process's configured identity
   * (FLEET_CLIENT), for HTTP the name of the credential the request carried.
   */
  principal?: ClientPrincipal;
  /** aborted when the client cancels the call, times out or disconnects */
  signal?: AbortSignal;
  /** asks the client's user (MCP elicitation), when the client declared it can */
  elicit?: Elicit;
  /** progress notifications, when the client asked for them */
  progress?: (message: string) => void;
  /** the MCP task this call runs as (every record of the call names it) */
  task?: string;
}

/**
 * When an instance's audit trail last refused a record. For a while after, calls are refused
 * before anything (the identity check, a fact's lookup) can reach the upstream; then one call
 * tries the trail again, so a freed disk brings the instance back.
 */
export const auditDown = new WeakMap<object, { at: number; why: string }>();
export const AUDIT_RETRY_MS = 5000;

/** An isError result, scrubbed; a write tool's also carries its status. */
export function failedResult(inst: Instance, toolName: string, message: string, status: Status): CallToolResult {
  const text = inst.redactor.scrub(message);
  const writes = (inst.tools.get(toolName)?.access ?? 'read') !== 'read';
  return {
    isError: true,
    content: [{ type: 'text', text }],
    ...(writes ? { structuredContent: { status, message: text } } : {}),
  };
}

/**
 * What the steps add to a call, each field set by one step (its `adds`) and read by later ones
 * (their `needs`): a step's `c` has exactly the fields of the steps before it, so a list of steps
 * in the wrong order does not compile (./path.ts).
 */
export interface Grown {
  /** the granted tool called (findTool) */
  tool: ToolDef;
  /** its grant in the manifest in effect (findTool) */
  grant: Grant;
  /** the arguments, parsed by the tool's schema (parseArguments) */
  args: Record<string, unknown>;
  /** the arguments as the audit trail keeps them: bodies hashed, secrets as lengths (parseArguments) */
  logged: Record<string, unknown>;
  /** the open upstream (openUpstream) */
  upstream: Upstream<unknown>;
  /** what the tool runs with: client, grant, identity, signal (openUpstream) */
  ctx: ToolContext<unknown>;
  /** what the call touches, derived and looked up (touches) */
  facts: Fact[];
}
export type Field = keyof Grown;

/** A call in flight that has the fields `N` (added by the steps before). */
export type CallWith<N extends Field> = InFlightCall & Pick<Grown, N>;

export class InFlightCall implements Partial<Grown> {
  readonly call = randomUUID();
  readonly started = performance.now();
  who: Attribution;
  attributionError?: string;
  tool?: ToolDef;
  grant?: Grant;
  args?: Record<string, unknown>;
  logged?: Record<string, unknown>;
  facts?: Fact[];
  /** evidence records a promotion rests on, cited in the intent record */
  cited?: Cited[];
  key?: string;
  /** this call holds the claim on `key`, so it must settle it */
  claimed = false;
  ctx?: ToolContext<unknown>;
  /** when a pending approval stops counting (ms since the epoch) */
  approvalExpires = 0;
  upstream?: Upstream<unknown>;
  /** fields added to every later audit record of the call (e.g. the exception it used) */
  marks: Record<string, unknown> = {};
  /** whether the upstream may have acted: decides if an idempotency key is kept or released */
  ran = false;
  /**
   * The instance's timeout bounds each stretch of upstream work: the look-ups before policy, then,
   * afresh, the upstream call itself, so a human's time to approve is never counted against the
   * upstream. Its timer is cleared as soon as the call ends.
   */
  private controller = new AbortController();
  private timer?: ReturnType<typeof setTimeout>;
  private readonly base: Record<string, unknown>;

  constructor(
    readonly inst: Instance,
    readonly req: CallRequest,
  ) {
    // parsed at once so that every record, even an unknown tool's refusal, names who asked;
    // a malformed attribution is refused by its own step
    try {
      this.who = attribute(req.meta, inst.env, req.client, req.principal);
    } catch (e) {
      if (!(e instanceof BadAttribution)) throw e;
      this.who = {
        via: 'none',
        client: req.principal ?? { id: 'local', via: 'stdio-default' },
        clientInfo: req.client,
      };
      this.attributionError = e.message;
    }
    const cancelled = req.signal;
    cancelled?.addEventListener(
      'abort',
      () => this.controller.abort(cancelled.reason ?? new DOMException('the client cancelled the call', 'AbortError')),
      { once: true },
    );
    this.base = {
      v: 1,
      call: this.call,
      time: new Date().toISOString(),
      instance: inst.manifest.id,
      owner: inst.manifest.owner,
      manifest: inst.manifest.hash,
      tool: req.name,
    };
    // a W3C trace context the client sent is kept, so the record (and its export) joins the trace
    if (req.task) this.base.task = req.task;
    const tp = req.meta?.traceparent;
    if (parseTraceparent(tp)) this.base.traceparent = tp;
    if (req.requestId !== undefined) this.base.request_id = req.requestId;
    if (req.protocolVersion) this.base.protocol_version = req.protocolVersion;
  }

  /** aborted when the client withdraws the call: cancelled, timed out or disconnected */
  get cancelled(): AbortSignal | undefined {
    return this.req.signal;
  }

  /** sha256 of this exact call (instance, tool, full arguments, resources, manifest hash): what an approval is bound to */
  get digest(): string {
    return (this.digestMemo ??= callDigest({
      instance: this.inst.manifest.id,
      tool: this.req.name,
      args: this.args ?? {},
      resources: this.facts ?? [],
      manifest: this.inst.manifest.hash,
    }));
  }
  private digestMemo?: string;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get writes(): boolean {
    return !!this.tool && this.tool.access !== 'read';
  }

  /** Starts the instance's timeout afresh, with a signal of its own (an earlier stretch's timeout does not carry over). */
  startTimer(): void {
    clearTimeout(this.timer);
    if (this.controller.signal.aborted) this.controller = new AbortController();
    const controller = this.controller;
    // AbortSignal.timeout would leave one pending timer behind per call
    this.timer = setTimeout(
      () => controller.abort(new DOMException('the upstream did not answer in time', 'TimeoutError')),
      this.inst.manifest.timeoutMs,
    );
  }

  /** Stops the timer while nothing is asked of the upstream (a human's approval). */
  stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  /** Appends one audit record of this call; a trail that refuses it marks the instance down. */
  /**
   * Appends one audit record of this call; a trail that refuses it marks the instance down. A
   * `durable` record (the intent) resolves only once it is on stable storage; the others are
   * written at once and synced with the next durable record or within a few milliseconds.
   */
  async record(r: Record<string, unknown>, durable = false): Promise<void> {
    const { audit, redactor } = this.inst;
    const w = this.who;
    // field names are documented in docs/audit.md and kept stable
    const who = {
      client: w.clientInfo,
      client_id: w.client.id,
      client_via: w.client.via,
      actor: w.actor,
      actor_via: w.via,
      actor_proof: w.proof,
      thread: w.thread,
      reason: w.reason,
    };
    try {
      await audit.append(redactor.deep({ ...this.base, ...who, ...this.marks, ...r }), durable);
      auditDown.delete(audit);
    } catch (e) {
      auditDown.set(audit, { at: Date.now(), why: e instanceof AuditUnavailable ? e.message : String(e) });
      throw e;
    }
  }

  failure(message: string, status: Status): CallToolResult {
    return failedResult(this.inst, this.req.name, message, status);
  }

  /** Ends the call with a refusal on the record (a trail that refuses it is logged, not thrown). */
  async refuse(
    rule: string,
    message: string,
    status: Status = 'denied',
    decision = 'deny',
    detail?: Record<string, unknown>,
  ): Promise<CallToolResult> {
    try {
      await this.record({ phase: 'decision', decision, rule, args: this.logged, resources: this.facts, ...detail });
    } catch (e) {
      this.inst.log.error((e as Error).message);
    }
    return this.failure(message, status);
  }

  /** A fault of the fleet's own: its cause on stderr, its result and audit fields. */
  internal(e: unknown, at: FaultAt): { result: CallToolResult; record: Record<string, unknown> } {
    this.inst.log.error(`internal error in ${this.req.name} (call ${this.call}): ${(e as Error)?.stack ?? String(e)}`);
    const { message, record } = describeFault(e, at, {
      tool: this.req.name,
      connector: this.inst.connector.name,
      call: this.call,
      writes: this.writes,
    });
    return { result: this.failure(message, at === 'after' ? 'completed' : 'failed'), record };
  }

  /** Ends the call with a fault of the fleet's own, before the upstream call: on the record, said so, definite. */
  async fault(e: unknown, at: FaultAt): Promise<CallToolResult> {
    const { result, record } = this.internal(e, at);
    try {
      await this.record({
        phase: 'decision',
        decision: 'error',
        rule: 'internal',
        args: this.logged,
        resources: this.facts,
        ...record,
      });
    } catch (err) {
      this.inst.log.error((err as Error).message);
    }
    return result;
  }

  /** Ends the upstream call: its outcome on the record, and whether the upstream may have acted (which keeps a key). */
  async outcome(
    o: { result: CallToolResult; record: Record<string, unknown> },
    mayHaveRun: boolean,
  ): Promise<CallToolResult> {
    this.ran = mayHaveRun;
    try {
      await this.record({
        phase: 'outcome',
        ...o.record,
        duration_ms: Math.round((performance.now() - this.started) * 100) / 100,
      });
    } catch (e) {
      this.inst.log.error(`${(e as Error).message}; outcome of call ${this.call} not recorded`);
    }
    return o.result;
  }

  /** Keeps a claimed idempotency key with its outcome when the upstream may have acted, else frees it. */
  async settle(result: CallToolResult): Promise<CallToolResult> {
    const key = this.key;
    if (!key || !this.claimed) return result;
    this.claimed = false;
    const ran = this.ran;
    const write = () => (ran ? this.inst.keys.done(key, result) : this.inst.keys.release(key));
    try {
      await write();
    } catch (e) {
      this.inst.log.error(
        `idempotency key ${key}: ${(e as Error).message}; settled once the state store answers again`,
      );
      settleLater(write);
    }
    return result;
  }
}

/**
 * Settles a key the store could not settle when its call ended (it was unreachable): left alone, the
 * key would stay "running" under this live process, and every retry of it would be refused. Tried
 * again with backoff (0.5 s doubling to 30 s, for about a quarter of an hour); the timer never holds
 * the process open, and a process that exits leaves the key to be taken over as a dead owner's.
 */
function settleLater(write: () => Promise<void>, delay = 500, tries = 40): void {
  setTimeout(() => {
    write().catch(() => {
      if (tries > 1) settleLater(write, Math.min(delay * 2, 30_000), tries - 1);
    });
  }, delay).unref();
}
