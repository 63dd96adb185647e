// mcp-fleet-client: the production bot's client of a fleet instance over Streamable HTTP.
// Fetch only, no Node built-ins: it runs on Node 18+, Cloudflare Workers and Workflows alike.
// Every granted tool is a typed function (client/tools.ts, generated from the inventory); each
// call carries the human actor, the thread, a reason and an idempotency key in _meta; a failed
// request is retried only when that is safe (a read, or a write with its idempotency key).
import { META, PROTOCOL_VERSION as WIRE_VERSION } from './wire.js';
import { FLEET_TOOLS, type FleetTools } from './tools.js';

export type { FleetTools } from './tools.js';
export type InstanceId = keyof FleetTools;

/** Who and why, per call: what the instance attributes, proves and audits. */
export interface CallContext {
  /** the human on whose behalf (a Slack user ID, an e-mail) */
  actor?: string | undefined;
  /** the conversation that asked, e.g. "C0EDITORIAL/1767226200.000110" */
  thread?: string | undefined;
  reason?: string | undefined;
  /** a write's replay key: the same key never runs twice. Made up per call when absent. */
  idempotencyKey?: string | undefined;
  signal?: AbortSignal | undefined;
  /** progress messages while the call waits (an approval in Slack) */
  onProgress?: ((message: string) => void) | undefined;
  /** the W3C trace context of the work this call belongs to: sent as the traceparent header */
  traceparent?: string | undefined;
}

export type ToolResult<R> =
  | { ok: true; data: R; text: string }
  | { ok: false; status: string; message: string; text: string; data?: R };

export type Tools<I extends InstanceId> = {
  [T in keyof FleetTools[I]]: FleetTools[I][T] extends { args: infer A; result: infer R }
    ? (args: A, ctx?: CallContext) => Promise<ToolResult<R>>
    : never;
};

export interface ClientOptions {
  /** the instance's URL, e.g. https://fleet.example.com/mcp/slack/prod */
  url: string;
  /** this routine's bearer token, or a function that returns a fresh access token (JWT) */
  token: string | (() => string | Promise<string>);
  /** extra headers (e.g. a Cloudflare Access service token's CF-Access-Client-Id/-Secret) */
  headers?: Record<string, string> | undefined;
  /** attempts for a retryable failure (default 3) */
  attempts?: number | undefined;
  /**
   * How long an attempt may go without a word from the instance (default 60 s). The instance reports
   * progress while a call waits for a person (every poll of a Slack approval), so a 15-minute
   * approval is waited for in full; a replica that dies or hangs is given up on after this.
   */
  timeoutMs?: number | undefined;
  fetch?: typeof fetch | undefined;
}

/** A refusal of the request itself (401, 403, 429 after retries...) or a transport failure. */
export class FleetError extends Error {
  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'FleetError';
  }
}

export const PROTOCOL_VERSION: string = WIRE_VERSION;

/** The _meta a fleet instance reads: usable with the SDK's Client over stdio too. */
export function fleetMeta(ctx: CallContext): Record<string, string> {
  const m: Record<string, string> = {};
  if (ctx.actor) m[META.actor] = ctx.actor;
  if (ctx.thread) m[META.thread] = ctx.thread;
  if (ctx.reason) m[META.reason] = ctx.reason;
  if (ctx.idempotencyKey) m[META.idempotencyKey] = ctx.idempotencyKey;
  return m;
}

/**
 * Typed functions for every tool `instance` grants. A tool that may wait on a person (an approval)
 * runs as an MCP task: the call returns a task at once, this function polls it at the server's
 * pollInterval and resolves with its result, so no request stays open while a person decides.
 */
export function fleetClient<I extends InstanceId>(instance: I, opts: ClientOptions): Tools<I> {
  const kinds = FLEET_TOOLS[instance] as Record<string, ToolKind>;
  if (!kinds) throw new FleetError(`unknown instance ${String(instance)}`);
  const out: Record<string, (args: unknown, ctx?: CallContext) => Promise<ToolResult<unknown>>> = {};
  for (const [name, kind] of Object.entries(kinds))
    out[name] = (args, ctx = {}) =>
      kind === 'task' ? runTask(opts, name, args, ctx) : callTool(opts, name, args, kind, ctx);
  return out as Tools<I>;
}

/** read: safe to retry; write: retried only with its key; task: a write that may wait on a person, run as an MCP task */
export type ToolKind = 'read' | 'write' | 'task';

/** A task as the server reports it (MCP tasks, protocol 2025-11-25). */
export interface TaskState {
  taskId: string;
  status: 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
  statusMessage?: string;
  /** ms the server asks the client to wait between polls */
  pollInterval: number;
}

/** What a fleet instance answers to a request: a tool's result, a task, or a created task. */
interface RpcResult {
  task?: RpcResult;
  taskId?: unknown;
  status?: unknown;
  statusMessage?: unknown;
  pollInterval?: unknown;
  isError?: boolean;
  content?: { type: string; text?: string }[];
  structuredContent?: { status?: unknown; message?: unknown };
}

const asTask = (t: RpcResult): TaskState => ({
  taskId: String(t.taskId),
  status: t.status as TaskState['status'],
  ...(t.statusMessage ? { statusMessage: String(t.statusMessage) } : {}),
  pollInterval: Number(t.pollInterval) || 2000,
});
const ended = (t: TaskState) => t.status === 'completed' || t.status === 'failed' || t.status === 'cancelled';

/**
 * Starts `name` as a task and returns at once: for a Workflow, whose step must not hold a request
 * open while a person decides (start in one step, `step.sleep` for the pollInterval, then
 * `getTask` / `taskResult` in later steps). The write's idempotency key makes a retried start
 * return the first call's outcome, never run it twice.
 */
export async function startTask(
  opts: ClientOptions,
  name: string,
  args: unknown,
  ctx: CallContext = {},
): Promise<TaskState> {
  const meta = fleetMeta({ ...ctx, idempotencyKey: ctx.idempotencyKey ?? crypto.randomUUID() });
  const r = await withRetries(opts, ctx, () =>
    rpc(opts, 'tools/call', { name, arguments: args, _meta: meta, task: {} }, ctx, name),
  );
  return asTask(r.task ?? {});
}

/** The task's state now; any replica answers. */
export async function getTask(opts: ClientOptions, taskId: string, ctx: CallContext = {}): Promise<TaskState> {
  return asTask(await withRetries(opts, ctx, () => rpc(opts, 'tasks/get', { taskId }, ctx, 'tasks/get')));
}

/** The result of a task that has ended (the server holds the request until it ends). */
export async function taskResult<R = any>(
  opts: ClientOptions,
  taskId: string,
  ctx: CallContext = {},
): Promise<ToolResult<R>> {
  return toolResult(await withRetries(opts, ctx, () => rpc(opts, 'tasks/result', { taskId }, ctx, 'tasks/result')));
}

/** Withdraws a task that has not ended: its pending approval request is withdrawn too. */
export async function cancelTask(opts: ClientOptions, taskId: string, ctx: CallContext = {}): Promise<TaskState> {
  return asTask(await rpc(opts, 'tasks/cancel', { taskId }, ctx, 'tasks/cancel'));
}

/** Starts the task, polls it at the server's interval, and resolves with its result. */
async function runTask(opts: ClientOptions, name: string, args: unknown, ctx: CallContext): Promise<ToolResult<any>> {
  let t = await startTask(opts, name, args, ctx);
  let said = '';
  while (!ended(t)) {
    if (t.statusMessage && t.statusMessage !== said) ctx.onProgress?.((said = t.statusMessage));
    await sleep(t.pollInterval, ctx.signal);
    if (ctx.signal?.aborted) {
      await cancelTask(opts, t.taskId).catch(() => undefined);
      throw new FleetError(`${name}: cancelled while waiting (the task and its approval request were withdrawn)`);
    }
    t = await getTask(opts, t.taskId, ctx);
  }
  if (t.status === 'cancelled')
    return {
      ok: false,
      status: 'cancelled',
      message: t.statusMessage ?? 'the task was cancelled',
      text: t.statusMessage ?? '',
    };
  return taskResult(opts, t.taskId, ctx);
}

async function withRetries<T>(opts: ClientOptions, ctx: CallContext, f: () => Promise<T>): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      const err =
        e instanceof FleetError ? e : new FleetError(`request failed: ${(e as Error).message}`, undefined, true);
      if (!err.retryable || attempt >= attempts || ctx.signal?.aborted) throw err;
      await sleep(Math.min(8000, 250 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2), ctx.signal);
    }
  }
}

let nextId = 1;
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/** One tool call, retried only when running it again cannot do anything twice. */
export async function callTool(
  opts: ClientOptions,
  name: string,
  args: unknown,
  kind: 'read' | 'write',
  ctx: CallContext = {},
): Promise<ToolResult<any>> {
  const key = kind === 'write' ? (ctx.idempotencyKey ?? crypto.randomUUID()) : undefined;
  const meta = fleetMeta({ ...ctx, idempotencyKey: key });
  const attempts = Math.max(1, opts.attempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await once(opts, name, args, meta, ctx);
    } catch (e) {
      const err =
        e instanceof FleetError ? e : new FleetError(`request failed: ${(e as Error).message}`, undefined, true);
      // safe: a read, or a write with its key (a repeat replays the first outcome, never runs again)
      if (!err.retryable || attempt >= attempts || ctx.signal?.aborted) throw err;
      await sleep(Math.min(8000, 250 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2), ctx.signal);
    }
  }
}

async function once(
  opts: ClientOptions,
  name: string,
  args: unknown,
  meta: Record<string, string>,
  ctx: CallContext,
): Promise<ToolResult<any>> {
  return toolResult(await rpc(opts, 'tools/call', { name, arguments: args, _meta: meta }, ctx, name));
}

/** A tools/call (or tasks/result) answer as the typed functions return it. */
function toolResult(r: RpcResult): ToolResult<any> {
  const text = (r.content ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  const data = r.structuredContent;
  if (r.isError)
    return {
      ok: false,
      status: String(data?.status ?? 'denied'),
      message: String(data?.message ?? text),
      text,
      ...(data ? { data } : {}),
    };
  return { ok: true, data: data as any, text };
}

/** One JSON-RPC request to the instance; its result, or a FleetError. */
async function rpc(
  opts: ClientOptions,
  method: string,
  params: { _meta?: Record<string, unknown>; [k: string]: unknown },
  ctx: CallContext,
  name: string,
): Promise<RpcResult> {
  const id = nextId++;
  const token = typeof opts.token === 'function' ? await opts.token() : opts.token;
  // a call's progress is always asked for: it is what tells a call waiting for a person from a dead instance
  const progressToken = method === 'tools/call' ? `p${id}` : undefined;
  const body = {
    jsonrpc: '2.0',
    id,
    method,
    params: progressToken ? { ...params, _meta: { ...params._meta, progressToken } } : params,
  };
  const silence = new AbortController();
  const limit = opts.timeoutMs ?? 60_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const heard = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => silence.abort(new FleetError(`${name}: no word from the instance for ${limit} ms`, undefined, true)),
      limit,
    );
  };
  heard();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, silence.signal]) : silence.signal;
  try {
    const res = await (opts.fetch ?? fetch)(opts.url, {
      method: 'POST',
      headers: {
        ...opts.headers,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': PROTOCOL_VERSION,
        authorization: `Bearer ${token}`,
        ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
      },
      body: JSON.stringify(body),
      signal,
    });
    heard();
    return await answer(
      res,
      name,
      id,
      (m) => {
        heard();
        ctx.onProgress?.(m);
      },
      ctx.signal,
    );
  } catch (e) {
    throw silence.signal.aborted && !ctx.signal?.aborted ? silence.signal.reason : e;
  } finally {
    clearTimeout(timer);
  }
}

async function answer(
  res: Response,
  name: string,
  id: number,
  onProgress: (m: string) => void,
  cancel: AbortSignal | undefined,
): Promise<RpcResult> {
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    let message = text.slice(0, 500);
    try {
      message = (JSON.parse(text) as RpcMessage).error?.message ?? message;
    } catch {
      /* not JSON */
    }
    const retryable = res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504;
    if (retryable) await sleep(Math.min(10, Number(res.headers.get('retry-after')) || 0) * 1000, cancel);
    throw new FleetError(`${name}: HTTP ${res.status}: ${message}`, res.status, retryable);
  }
  const reply = (res.headers.get('content-type') ?? '').includes('text/event-stream')
    ? await fromStream(res, id, onProgress)
    : ((await res.json()) as RpcMessage);
  if (!reply) throw new FleetError(`${name}: the response ended without a result`, undefined, true);
  if (reply.error) throw new FleetError(`${name}: ${reply.error.message}`, undefined, false);
  return (reply.result ?? {}) as RpcResult;
}

/** What a fleet instance sends back: the answer to a call, an error, or a progress notification. */
interface RpcMessage {
  id?: number | string;
  method?: string;
  params?: { message?: unknown };
  error?: { message?: string };
  result?: {
    isError?: boolean;
    content?: { type: string; text?: string }[];
    structuredContent?: { status?: unknown; message?: unknown };
  };
}

/** Reads an SSE response: progress notifications on the way, then the answer to `id`. */
async function fromStream(
  res: Response,
  id: number,
  onProgress?: (m: string) => void,
): Promise<RpcMessage | undefined> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return undefined;
    buf += value;
    let cut: number;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      const msg = JSON.parse(data) as RpcMessage;
      if (msg.method === 'notifications/progress') onProgress?.(String(msg.params?.message ?? ''));
      else if (msg.id === id) {
        void reader.cancel().catch(() => {});
        return msg;
      }
    }
  }
}
