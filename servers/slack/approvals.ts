// Approvals through Slack, for the production bot where no human sits at the client. A separate
// approvals identity (scopes/fleet.yaml `approvals.slack`, its own credential) posts the request to
// the approvals channel; a listed approver answers with a threaded "approve"/"decline" or a ✅/❌
// reaction. The requester's own answer, a bot's and an unlisted user's are ignored (and recorded).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WebClient } from '@slack/web-api';
import { describeRequest, type ApprovalChannel, type ApprovalRequest, type Verdict } from '../../shared/call/approval.js';
import { CREDENTIAL } from '../../shared/manifest/schema.js';
import { ManifestError, readYaml } from '../../shared/manifest/load.js';
import { StartupError } from '../../shared/base/errors.js';

export const approvalsConfig = z.strictObject({
  workspace: z.string().regex(/^T[A-Z0-9]{2,}$/),
  channel: z.string().regex(/^[CG][A-Z0-9]{8,}$/, 'the approvals channel is a channel ID'),
  credential: z.string().regex(CREDENTIAL, 'credential must be a reference: env:NAME or doppler:project/config/NAME'),
  token_scopes: z.array(z.string()).default(['chat:write', 'channels:history', 'users:read']),
});
export type SlackApprovalsConfig = z.infer<typeof approvalsConfig>;

/** The sandbox's approvals bot (servers/slack/sandbox/seed.ts). */
export const SANDBOX_APPROVALS_BOT = 'U0APPROVALS';

/** Reads `approvals.slack` from the scopes folder's fleet.yaml; errors name file:line. */
export function readApprovalsConfig(scopes: string): SlackApprovalsConfig {
  const file = join(scopes, 'fleet.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new StartupError(`a grant asks for Slack approval, but ${file} is missing (it declares the approvals identity)`);
  }
  const doc = readYaml(text, file);
  const block = (doc.data as { approvals?: { slack?: unknown } } | null)?.approvals?.slack;
  if (block === undefined) throw new ManifestError([{ file, line: doc.line('approvals'), path: 'approvals.slack', message: 'a grant asks for Slack approval, but no approvals identity is declared here' }]);
  const parsed = approvalsConfig.safeParse(block);
  if (!parsed.success) {
    throw new ManifestError(parsed.error.issues.map((i) => {
      const path = ['approvals', 'slack', ...i.path.map(String)].join('.');
      return { file, line: doc.line(path), path, message: i.message };
    }));
  }
  return parsed.data;
}

const APPROVE = /^\s*(approve|approved|yes|lgtm)\b/i;
const DECLINE = /^\s*(decline|declined|deny|denied|no|reject)\b/i;
const REACT_YES = new Set(['white_check_mark', 'heavy_check_mark', '+1', 'thumbsup']);
const REACT_NO = new Set(['x', 'no_entry', '-1', 'thumbsdown']);

interface Vote {
  user: string;
  approve: boolean;
}

function votes(messages: { user?: string; bot_id?: string; text?: string; reactions?: { name?: string; users?: string[] }[] }[]): Vote[] {
  const [root, ...replies] = messages;
  const out: Vote[] = [];
  for (const m of replies) {
    if (m.bot_id || !m.user) continue; // a bot never answers an approval
    if (APPROVE.test(m.text ?? '')) out.push({ user: m.user, approve: true });
    else if (DECLINE.test(m.text ?? '')) out.push({ user: m.user, approve: false });
  }
  for (const r of root?.reactions ?? []) {
    const approve = REACT_YES.has(r.name ?? '') ? true : REACT_NO.has(r.name ?? '') ? false : undefined;
    if (approve !== undefined) for (const user of r.users ?? []) out.push({ user, approve });
  }
  return out;
}

export interface SlackApprovalsOptions {
  config: SlackApprovalsConfig;
  credential: string;
  baseUrl?: string;
  timeoutMs: number;
  pollMs: number;
}

export async function openSlackApprovals(o: SlackApprovalsOptions): Promise<ApprovalChannel> {
  const { webClient } = await import('./client.js');
  const web: WebClient = webClient(o.credential, o.baseUrl, o.timeoutMs);
  const me = await web.auth.test().catch((e: { data?: { error?: string } }) => {
    throw new Error(`the approvals identity failed auth.test: ${e.data?.error ?? 'request failed'}`);
  });
  if (me.team_id !== o.config.workspace) throw new Error(`the approvals token belongs to ${me.team_id}, not ${o.config.workspace}`);
  const channel = o.config.channel;

  const say = (ts: string, text: string) => web.chat.postMessage({ channel, thread_ts: ts, text, link_names: false }).catch(() => undefined);

  return {
    async request(req: ApprovalRequest, hooks): Promise<Verdict> {
      const approvers = req.approvers.map((u) => `<@${u}>`).join(', ');
      const minutes = Math.max(1, Math.round(req.timeoutMs / 60_000));
      const posted = await web.chat.postMessage({
        channel,
        link_names: false,
        text: `:lock: *Approval needed* (call ${req.call.slice(0, 8)})\n${describeRequest(req)}\nApprovers: ${approvers}. Reply \`approve\` or \`decline\` in this thread (or react :white_check_mark: / :x:) within ${minutes} min. The requester cannot approve.`,
      });
      const ts = posted.ts!;
      hooks.event('requested', { channel, ts, approvers: req.approvers });
      const deadline = Date.now() + req.timeoutMs;
      const noted = new Set<string>();
      const ignore = (v: Vote, why: string) => {
        if (noted.has(`${v.user}:${why}`)) return;
        noted.add(`${v.user}:${why}`);
        hooks.event('ignored', { by: v.user, why });
      };
      while (Date.now() < deadline) {
        hooks.progress(`waiting for ${approvers} to approve ${req.tool} in ${channel} (${Math.ceil((deadline - Date.now()) / 1000)}s left)`);
        await new Promise((r) => setTimeout(r, Math.min(o.pollMs, Math.max(0, deadline - Date.now()))));
        let thread;
        try {
          thread = await web.conversations.replies({ channel, ts, limit: 200 });
        } catch {
          continue; // a failed poll is retried until the deadline
        }
        for (const v of votes(thread.messages ?? [])) {
          if (v.user === req.requester) ignore(v, 'the requester cannot approve their own request');
          else if (v.user === me.user_id) ignore(v, 'the approvals bot cannot approve');
          else if (!req.approvers.includes(v.user)) ignore(v, 'not a listed approver');
          else {
            await say(ts, v.approve ? `Approved by <@${v.user}>: running.` : `Declined by <@${v.user}>: not run.`);
            return v.approve ? { status: 'approved', by: v.user } : { status: 'declined', by: v.user, why: 'an approver declined' };
          }
        }
      }
      await say(ts, 'No answer in time: expired, not run.');
      return { status: 'expired' };
    },
  };
}
