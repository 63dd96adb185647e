// Long calls as MCP tasks (protocol 2025-11-25). A call whose grant waits on a person (an
// approval) may run as a task when the client asks for one: the call returns at once, and runs on
// in the background of the process that took it, its state in the instance's state store. Any
// process or replica answers for a task: it reads the row; when the process that held a task that
// has not ended died (a replica killed, a stdio server gone with its client), the one that looks
// next carries the call on — under the same idempotency key, so the approval request already
// posted is resumed, never asked again, and an upstream call that may have happened is never
// repeated. `tasks/cancel` marks the row; the holder sees it and withdraws the call (the Slack
// request is marked withdrawn; late answers are recorded by shared/call/late.ts).
import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseDuration } from '../base/duration.js';
import { META } from '../base/wire.js';
import type { Instance } from '../instance/instance.js';
import type { Approval } from '../base/manifest.js';
import { TERMINAL, type TaskEntry } from '../state/store.js';
import type { ClientPrincipal } from './attribution.js';
import { runCall } from './call.js';
import type { Elicit } from './approval.js';

/** How long a task's result is kept after its approval would have expired. */
export const TASK_RETENTION_MS = 60 * 60_000;
/** How often a client is asked to poll a task, and a holder looks for its cancellation. */
export const TASK_POLL_MS = 2000;

/**
 * This process's stdio session: a stdio client's tasks are its session's, not every session's of the
 * same name. Drawn on first use, not at load: a value drawn at load is in the start-up snapshot and
 * would be every process's session.
 */
let session: string | undefined;

/**
 * Whose a task is: the client principal that created it, as the transport proved it (over HTTP,
 * the credential; over stdio, the configured identity in this session).
 */
export const taskOwner = (p: ClientPrincipal | undefined): string => {
  const who = p ?? { id: 'local', via: 'stdio-default' };
  return who.via.startsWith('stdio') ? `${who.via}:${who.id}@${(session ??= randomUUID())}` : `${who.via}:${who.id}`;
};

/** The grant's approval, when the tool's call may wait on a person: such a tool supports tasks. */
export function waitsOnPerson(inst: Instance, tool: string): Approval | undefined {
  return inst.manifest.tools[tool]?.approval as Approval | undefined;
}

/** A task's lifetime: the approval's expiry plus the result's retention. */
export function taskTtl(approval: Approval): number {
  return (parseDuration(approval.timeout) ?? 15 * 60_000) + TASK_RETENTION_MS;
}

export interface TaskCall {
  name: string;
  arguments: unknown;
  meta?: Record<string, unknown>;
  client?: { name: string; version: string };
  principal?: ClientPrincipal;
  /** the client's user, while this process serves it (elicitation in dev) */
  elicit?: Elicit;
  /** the task's status changed here (a stream to its client is open: notifications/tasks/status) */
  onStatus?: (t: TaskEntry) => void;
}

/** Calls running as tasks in this process, by task id: their withdrawal. */
const running = new Map<string, AbortController>();

/** Creates the task and starts its call in the background; resolves once the task is in the store. */
export async function startTaskCall(
  inst: Instance,
  call: TaskCall,
  approval: Approval,
  opts: { ttl?: number | null; statusMessage: string },
): Promise<TaskEntry> {
  const id = randomUUID();
  // the call runs under an idempotency key (the client's, else the task's own): a replica that
  // carries it on resumes its approval request and never runs its upstream call twice
  const meta = {
    ...call.meta,
    [META.idempotencyKey]: (call.meta?.[META.idempotencyKey] as string | undefined) ?? `task:${id}`,
  };
  const ttl = taskTtl(approval);
  const entry = await inst.store.tasks.create({
    id,
    owner: taskOwner(call.principal),
    request: {
      name: call.name,
      arguments: call.arguments ?? {},
      meta,
      ...(call.client ? { client: call.client } : {}),
      ...(call.principal ? { principal: call.principal } : {}),
    },
    ttl: opts.ttl ? Math.min(opts.ttl, ttl) : ttl,
    poll: TASK_POLL_MS,
    message: opts.statusMessage,
  });
  run(inst, entry, call.elicit, false, call.onStatus);
  return entry;
}

/**
 * The task as `owner` may see it (undefined: no such task, or not theirs). A task that has not
 * ended whose holder died is carried on here first.
 */
export async function lookTask(inst: Instance, id: string, owner: string): Promise<TaskEntry | undefined> {
  const t = await inst.store.tasks.get(id, owner);
  if (t && !TERMINAL.includes(t.status) && !running.has(id) && (await inst.store.tasks.adopt(id))) run(inst, t);
  return t;
}

/** Cancels a task that has not ended: its call is withdrawn by whoever holds it (this process, if none does). */
export async function cancelTaskCall(inst: Instance, t: TaskEntry): Promise<TaskEntry | undefined> {
  const after = await inst.store.tasks.update(t.id, {
    status: 'cancelled',
    message: 'cancelled by the client: the call was withdrawn, nothing will run',
  });
  const mine = running.get(t.id);
  if (mine) mine.abort(new Error('the task was cancelled'));
  else if (await inst.store.tasks.adopt(t.id)) run(inst, t, undefined, true);
  return after;
}

/** Runs (or carries on) a task's call in the background; its result goes to the store. */
function run(
  inst: Instance,
  t: TaskEntry,
  elicit?: Elicit,
  cancelled = false,
  onStatus?: (t: TaskEntry) => void,
): void {
  let status = t.status;
  const told = (now: TaskEntry | undefined) => {
    if (now && now.status !== status) {
      status = now.status;
      onStatus?.(now);
    }
  };
  const withdraw = new AbortController();
  if (cancelled) withdraw.abort(new Error('the task was cancelled'));
  running.set(t.id, withdraw);
  const r = t.request as {
    name: string;
    arguments: unknown;
    meta?: Record<string, unknown>;
    client?: { name: string; version: string };
    principal?: ClientPrincipal;
  };
  let said = t.message ?? '';
  // the holder looks for a cancellation made on another replica
  const watch = setInterval(
    () => {
      void inst.store.tasks.get(t.id, t.owner).then(
        (now) => {
          if (!now || now.status === 'cancelled') withdraw.abort(new Error('the task was cancelled'));
        },
        () => {},
      );
    },
    Math.max(250, t.poll / 2),
  );
  watch.unref();
  // asking the client's own user (elicitation, in dev) is input the requesting client must give
  const asking: Elicit | undefined = elicit
    ? async (message, timeoutMs, signal) => {
        told(
          await inst.store.tasks
            .update(t.id, {
              status: 'input_required',
              message: 'input_required: waiting for your approval (elicitation)',
            })
            .catch(() => undefined),
        );
        try {
          return await elicit(message, timeoutMs, signal);
        } finally {
          told(
            await inst.store.tasks
              .update(t.id, { status: 'working', message: 'working: answered' })
              .catch(() => undefined),
          );
        }
      }
    : undefined;
  void runCall(inst, {
    name: r.name,
    arguments: r.arguments,
    meta: r.meta,
    client: r.client,
    principal: r.principal,
    signal: withdraw.signal,
    elicit: asking,
    task: t.id,
    progress: (message) => {
      if (message === said) return;
      said = message;
      void inst.store.tasks.update(t.id, { message }).catch(() => {});
    },
  })
    .then((result: CallToolResult) =>
      inst.store.tasks
        .update(t.id, {
          status: result.isError ? 'failed' : 'completed',
          result: result as Record<string, unknown>,
          message: result.isError ? 'the call failed or was refused: its result says why' : 'completed',
        })
        .then(told),
    )
    .catch((e: Error) => inst.log.error(`task ${t.id}: its result could not be kept: ${e.message}`))
    .finally(() => {
      clearInterval(watch);
      running.delete(t.id);
    });
}
