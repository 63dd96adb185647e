// The only code that touches the MCP SDK's server: it lists the granted tools and sends every
// call through runCall, so no tool can skip attribution, policy or audit.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type {
  jsonSchemaValidator as jsonSchemaValidatorProvider,
  JsonSchemaValidatorResult,
} from '@modelcontextprotocol/sdk/validation/types.js';
import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  ErrorCode,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListTasksRequestSchema,
  ListToolsRequestSchema,
  McpError,
  RELATED_TASK_META_KEY,
  type Tool,
  type ToolListChangedNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { cancelTaskCall, lookTask, startTaskCall, taskOwner, waitsOnPerson } from '../call/tasks.js';
import { TERMINAL, type TaskEntry } from '../state/store.js';
import { runCall } from '../call/call.js';
import { onToolsChanged, refreshExceptions, type Instance } from '../instance/instance.js';
import { baseOf } from '../manifest/exceptions.js';
import type { ClientPrincipal } from '../call/attribution.js';
import { surface } from './surface.js';
import { linkSignals } from '../base/signals.js';

const APPROVE_SCHEMA = {
  type: 'object' as const,
  properties: { approve: { type: 'boolean' as const, title: 'Approve', description: 'Run this action now' } },
  required: ['approve'],
};

/**
 * The only schema the server ever asks a client to fill is APPROVE_SCHEMA, so its answers are
 * checked here rather than by the SDK's default Ajv, which would be built (with every format) on
 * each start.
 */
const approvalAnswers: jsonSchemaValidatorProvider = {
  getValidator:
    <T>() =>
    (input: unknown): JsonSchemaValidatorResult<T> =>
      input && typeof input === 'object' && typeof (input as { approve?: unknown }).approve === 'boolean'
        ? { valid: true, data: input as T, errorMessage: undefined }
        : { valid: false, data: undefined, errorMessage: 'approve must be true or false' },
};

/** One yes/no question to the client's user; anything but an accepted yes is a no. */
async function elicit(
  server: Server,
  message: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<'accept' | 'decline' | 'cancel' | 'timeout'> {
  try {
    const r = await server.elicitInput({ message, requestedSchema: APPROVE_SCHEMA }, { timeout: timeoutMs, signal });
    if (r.action === 'accept') return r.content?.approve === true ? 'accept' : 'decline';
    return r.action;
  } catch (e) {
    // a failed request is not the user's answer: the approval step reports it as a failure
    if (/timed out|timeout/i.test((e as Error).message)) return 'timeout';
    throw e;
  }
}

export interface ServerHooks {
  /** after each tools/list answer */
  onListed?: () => void;
  /** awaited before each tools/list answer; a rejection becomes the answer (an error) */
  beforeList?: () => Promise<void>;
  /**
   * The client principal of a request: for stdio the process's configured identity; the HTTP
   * transport passes a function of the request's auth info (the credential's name).
   */
  principal?: ClientPrincipal | ((extra: { authInfo?: unknown }) => ClientPrincipal | undefined);
  /** ends every call of this server (an HTTP request cancelled, or cut by a drain) */
  signal?: AbortSignal;
  /** told of every tool call while it runs (a draining HTTP server waits for them) */
  track?: (call: Promise<unknown>) => void;
  /** one server per request (stateless HTTP): notifications go on the requests' response streams */
  stateless?: boolean;
}

/**
 * What an instance shows a client, rendered once per set of granted tools (HTTP builds a server
 * per request; an exception starting or expiring replaces `inst.tools`, so the list follows it).
 */
const listedTools = new WeakMap<Instance['tools'], Tool[]>();

export type FleetServer = Server & {
  /** withdraws every call in flight (as a client's cancellation would) and waits for them to end, at most `ms` */
  withdrawAll(ms: number): Promise<void>;
};

const watched = new WeakSet<Instance>();

/**
 * Applies the exceptions active now and, at each start or expiry, again (one timer per instance,
 * unref'd) so that the tool list changes then even with no call: `notify` sends tools/list_changed
 * until the returned function is called (the server closed: HTTP builds one per request). A client
 * that ignores it is still refused by the call path's exceptionWindow step.
 */
function watchExceptions(inst: Instance, notify: () => void): () => void {
  const unwatch = onToolsChanged(inst, notify);
  if (!watched.has(inst)) {
    watched.add(inst);
    const arm = () => {
      const next = refreshExceptions(inst);
      if (next === undefined) return;
      setTimeout(arm, Math.min(Math.max(next - Date.now(), 0) + 5, 2 ** 31 - 1)).unref();
    };
    arm();
  }
  return unwatch;
}

/** A task as the protocol shows it. */
function taskView(t: TaskEntry) {
  return {
    taskId: t.id,
    status: t.status,
    ...(t.message ? { statusMessage: t.message } : {}),
    createdAt: new Date(t.created).toISOString(),
    lastUpdatedAt: new Date(t.updated).toISOString(),
    ttl: t.ttl,
    pollInterval: t.poll,
  };
}

/** notifications/tasks/status: the task as tasks/get shows it. */
const taskStatus = (t: TaskEntry) => ({ method: 'notifications/tasks/status' as const, params: taskView(t) });

/** The same answer for a task that does not exist and one that is another principal's: nothing is learnt. */
const notFound = (id: string) => new McpError(ErrorCode.InvalidParams, `Task not found: ${id}`);

export function buildServer(inst: Instance, version: string, hooks: ServerHooks = {}): FleetServer {
  // a grant that waits on a person (an approval) may run as an MCP task
  const tasks = Object.values(inst.manifest.tools).some((g) => !!(g as { approval?: unknown }).approval);
  const server = new Server(
    { name: `fleet-${inst.manifest.id}`, version },
    {
      // an instance with time-boxed exceptions tells its client when one starts or expires
      capabilities: {
        tools: { listChanged: !!baseOf(inst.manifest).exceptions?.length },
        ...(tasks ? { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } } : {}),
      },
      jsonSchemaValidator: approvalAnswers,
      instructions: `${inst.manifest.id}: ${inst.manifest.purpose.trim()} Calls are scoped by ${inst.manifest.file} and audited.`,
    },
  );
  // tools/list_changed at each start or expiry of an exception, while this server is connected: on
  // stdio as a server notification; a stateless HTTP server has no stream of its own, so on the
  // response stream of each request in flight (and of a call refused because its exception ended)
  const streams = new Set<(n: ToolListChangedNotification) => Promise<void>>();
  const listChanged: ToolListChangedNotification = { method: 'notifications/tools/list_changed' };
  const unwatch = watchExceptions(inst, () => {
    if (!hooks.stateless) return void server.sendToolListChanged().catch(() => {});
    for (const send of streams) void send(listChanged).catch(() => {});
  });
  const closed = server.onclose;
  server.onclose = () => {
    unwatch();
    closed?.();
  };
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    await hooks.beforeList?.();
    refreshExceptions(inst); // an exception that started or expired since the last request counts now
    let listed = listedTools.get(inst.tools);
    if (!listed) listedTools.set(inst.tools, (listed = surface(inst.tools.values(), inst.manifest.tools)));
    queueMicrotask(() => hooks.onListed?.());
    return { tools: listed };
  });
  // the protocol version initialize settled on (stdio; over HTTP each request carries its header)
  let negotiated: string | undefined;
  const init = (server as unknown as { _oninitialize?: (r: unknown) => Promise<{ protocolVersion?: string }> })
    ._oninitialize;
  if (typeof init === 'function') {
    (server as unknown as { _oninitialize: typeof init })._oninitialize = async (r) => {
      const answer = await init.call(server, r);
      negotiated = answer.protocolVersion;
      return answer;
    };
  }
  const inFlight = new Set<Promise<unknown>>();
  const withdrawals = new Set<AbortController>();
  const principalOf = (extra: { authInfo?: unknown }) =>
    typeof hooks.principal === 'function' ? hooks.principal(extra) : hooks.principal;
  const elicitor = () =>
    server.getClientCapabilities()?.elicitation
      ? (message: string, timeoutMs: number, signal?: AbortSignal) => elicit(server, message, timeoutMs, signal)
      : undefined;
  if (tasks) {
    const own = async (id: string, extra: { authInfo?: unknown }) => {
      const t = await lookTask(inst, id, taskOwner(principalOf(extra)));
      if (!t) throw notFound(id);
      return t;
    };
    server.setRequestHandler(
      GetTaskRequestSchema,
      async (request, extra) => taskView(await own(request.params.taskId, extra)) as never,
    );
    server.setRequestHandler(
      ListTasksRequestSchema,
      async (_request, extra) =>
        ({ tasks: (await inst.store.tasks.list(taskOwner(principalOf(extra)))).map(taskView) }) as never,
    );
    server.setRequestHandler(CancelTaskRequestSchema, async (request, extra) => {
      const t = await own(request.params.taskId, extra);
      if (TERMINAL.includes(t.status))
        throw new McpError(ErrorCode.InvalidParams, `Cannot cancel task in terminal status: ${t.status}`);
      return taskView((await cancelTaskCall(inst, t)) ?? t) as never;
    });
    server.setRequestHandler(GetTaskPayloadRequestSchema, async (request, extra) => {
      // blocks until the task ends, reading the store each poll interval (any replica may hold it);
      // its response stream is open meanwhile, so each change of status is told there
      let seen: string | undefined;
      for (;;) {
        const t = await own(request.params.taskId, extra);
        if (seen !== undefined && t.status !== seen)
          await extra.sendNotification(taskStatus(t) as never).catch(() => {});
        seen = t.status;
        if (TERMINAL.includes(t.status)) {
          if (!t.result)
            throw new McpError(
              ErrorCode.InvalidParams,
              `Task ${t.id} was ${t.status} before it had a result: ${t.message ?? ''}`.trim(),
            );
          return {
            ...t.result,
            _meta: { ...(t.result._meta as object | undefined), [RELATED_TASK_META_KEY]: { taskId: t.id } },
          } as never;
        }
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, t.poll);
          extra.signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              reject(new McpError(ErrorCode.InvalidRequest, 'Request cancelled'));
            },
            { once: true },
          );
        });
      }
    });
  }
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const token = request.params._meta?.progressToken;
    let step = 0;
    const principal = principalOf(extra);
    const headers = extra.requestInfo?.headers ?? {};
    const header = (n: string) => (Array.isArray(headers[n]) ? headers[n]![0] : (headers[n] as string | undefined));
    const meta = request.params._meta as Record<string, unknown> | undefined;
    // the W3C trace context of the HTTP request, unless the call names its own in _meta
    const traceparent = meta?.traceparent === undefined ? header('traceparent') : undefined;
    const callMeta = traceparent ? { ...meta, traceparent } : meta;
    if (request.params.task) {
      // the call returns a task at once and runs on; a tool that never waits on a person runs as asked before
      const approval = inst.tools.has(request.params.name) ? waitsOnPerson(inst, request.params.name) : undefined;
      if (!approval)
        throw new McpError(
          ErrorCode.MethodNotFound,
          `${request.params.name} does not run as a task (taskSupport: forbidden): call it without params.task`,
        );
      // a third party is asked (the task stays working, naming who), or the client's own user
      const who =
        approval.via === 'elicitation'
          ? 'your approval'
          : `an approval by ${(approval.approvers ?? []).join(', ')} (via ${approval.via})`;
      const t = await startTaskCall(
        inst,
        {
          name: request.params.name,
          arguments: request.params.arguments,
          meta: callMeta,
          client: server.getClientVersion(),
          principal,
          elicit: elicitor(),
          // stdio keeps its stream open: each change of the task's status here is told on it
          ...(hooks.stateless
            ? {}
            : { onStatus: (t: TaskEntry) => void server.notification(taskStatus(t)).catch(() => {}) }),
        },
        approval,
        { ttl: request.params.task.ttl, statusMessage: `working: waiting for ${who}` },
      );
      return { task: taskView(t) } as never;
    }
    // the call is withdrawn when the client cancels it, its transport closes, or the server stops
    const withdrawn = new AbortController();
    withdrawals.add(withdrawn);
    const signal = linkSignals(extra.signal, withdrawn.signal, hooks.signal);
    const call = runCall(inst, {
      name: request.params.name,
      arguments: request.params.arguments,
      meta: callMeta,
      client: server.getClientVersion(),
      requestId: extra.requestId,
      protocolVersion: header('mcp-protocol-version') ?? negotiated,
      principal,
      signal: signal.signal,
      elicit: elicitor(),
      progress:
        token === undefined
          ? undefined
          : (message) =>
              void extra
                .sendNotification({
                  method: 'notifications/progress',
                  params: { progressToken: token, progress: ++step, message },
                })
                .catch(() => {}),
    });
    inFlight.add(call);
    hooks.track?.(call);
    const send = (n: ToolListChangedNotification) => extra.sendNotification(n);
    streams.add(send);
    try {
      const result = await call;
      // the client called a tool its list still shows, but whose exception has ended: tell it to list again
      if (
        !inst.tools.has(request.params.name) &&
        baseOf(inst.manifest).exceptions?.some((e) => e.tool === request.params.name)
      ) {
        await send(listChanged).catch(() => {});
      }
      return result;
    } finally {
      streams.delete(send);
      inFlight.delete(call);
      withdrawals.delete(withdrawn);
      signal.unlink();
    }
  });
  return Object.assign(server, {
    withdrawAll: async (ms: number) => {
      if (!inFlight.size) return;
      for (const w of withdrawals) w.abort(new Error('the server is stopping'));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
    },
  });
}
