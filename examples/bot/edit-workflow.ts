// The blog bot's edit step, as a Cloudflare Workflow: editing a published post needs an editor's
// approval in Slack, which may take minutes, and a Workflow step must not hold a request open that
// long. So the step starts the call as an MCP task (it returns at once), the Workflow sleeps with
// its own `step.sleep` (durable: the Worker may be evicted meanwhile), and a later step collects
// the result. Each step is retried by the Workflow on failure: the start carries an idempotency
// key, so a retried start returns the first call's task outcome instead of asking again.
import { getTask, startTask, taskResult, type ClientOptions, type TaskState, type ToolResult } from 'mcp-fleet-client';
import type { Env } from './publish.js';

/** The part of Cloudflare's WorkflowStep this uses (`import type { WorkflowStep } from 'cloudflare:workers'`). */
export interface Step {
  do<T>(name: string, fn: () => Promise<T>): Promise<T>;
  sleep(name: string, duration: number): Promise<void>;
}

export interface Edit {
  id: string;
  channel: string;
  ts: string;
  text: string;
  /** the editor who asked (Slack user ID) and the thread where they asked */
  editor: string;
  thread: string;
}

export type Edited = { edited: true; ts: string } | { edited: false; status: string; why: string };

/** How long the Workflow waits for the approval before giving up (the approval's own timeout is the server's). */
const MAX_WAIT_MS = 20 * 60_000;

/** The Workflow's run: start the edit, sleep between polls, collect the outcome. */
export async function editWithApproval(env: Env, step: Step, edit: Edit, fetchImpl?: typeof fetch): Promise<Edited> {
  const opts: ClientOptions = {
    url: `${env.FLEET_URL.replace(/\/$/, '')}/mcp/slack/prod`,
    token: env.FLEET_TOKEN,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  };
  let task: TaskState = await step.do(`start edit ${edit.id}`, () =>
    startTask(
      opts,
      'update_message',
      { channel: edit.channel, ts: edit.ts, text: edit.text },
      {
        actor: edit.editor,
        thread: edit.thread,
        reason: `edit post ${edit.id}`,
        idempotencyKey: `edit-${edit.id}`,
      },
    ),
  );
  for (let waited = 0, n = 0; task.status === 'working' || task.status === 'input_required'; n++) {
    if (waited > MAX_WAIT_MS)
      return {
        edited: false,
        status: 'timeout',
        why: `no answer after ${MAX_WAIT_MS / 60_000} min: ${task.statusMessage ?? ''}`,
      };
    await step.sleep(`wait for approval ${n}`, task.pollInterval);
    waited += task.pollInterval;
    const id = task.taskId;
    task = await step.do(`check edit ${edit.id} ${n}`, () => getTask(opts, id));
  }
  if (task.status === 'cancelled')
    return { edited: false, status: 'cancelled', why: task.statusMessage ?? 'cancelled' };
  const id = task.taskId;
  const r: ToolResult<{ ts?: string }> = await step.do(`collect edit ${edit.id}`, () => taskResult(opts, id));
  if (!r.ok) return { edited: false, status: r.status, why: r.message };
  return { edited: true, ts: r.data.ts ?? edit.ts };
}
