// Human approval before a call runs. Two channels: MCP elicitation (the user at an interactive
// client) and Slack (a named approver, never the requester, for the bot). Anything short of a
// clear yes — decline, cancel, silence until the timeout, a client that cannot ask — is a no.
import type { Fact } from '../connector/tool.js';

export interface ApprovalRequest {
  call: string;
  instance: string;
  tool: string;
  resources: Fact[];
  /** readable arguments (secrets as lengths) */
  summary: string;
  requester?: string;
  thread?: string;
  approvers: string[];
  timeoutMs: number;
}

export type Verdict =
  | { status: 'approved'; by: string }
  | { status: 'declined'; by?: string; why: string }
  | { status: 'expired' };

/** What a channel reports while it waits: progress for the client, events for the audit trail. */
export interface ApprovalHooks {
  progress(message: string): void;
  event(status: string, detail: Record<string, unknown>): void;
}

export interface ApprovalChannel {
  request(req: ApprovalRequest, hooks: ApprovalHooks): Promise<Verdict>;
}

export function describeRequest(req: ApprovalRequest): string {
  const touches = req.resources.filter((f) => typeof f.value === 'string').map((f) => `${f.on} ${f.value}`).join(', ');
  return [
    `${req.instance} wants to run ${req.tool}${req.requester ? ` for ${req.requester}` : ''}${req.thread ? ` (thread ${req.thread})` : ''}.`,
    touches ? `Touches: ${touches}.` : '',
    `Arguments: ${req.summary}`,
  ].filter(Boolean).join('\n');
}

export function summarize(args: Record<string, unknown>, secret: Set<string>): string {
  const shown = Object.entries(args).map(([k, v]) => {
    if (secret.has(k)) return `${k}=<${String(v ?? '').length} characters, hidden>`;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return `${k}=${JSON.stringify(s.length > 500 ? `${s.slice(0, 500)}…` : s)}`;
  });
  return shown.join(' ') || '(none)';
}

export type Elicit = (message: string, timeoutMs: number, signal?: AbortSignal) => Promise<'accept' | 'decline' | 'cancel' | 'timeout'>;

/** The elicitation channel: asks the client's user a yes/no question about the exact action. */
export function elicitationChannel(elicit: Elicit | undefined): ApprovalChannel {
  return {
    async request(req, hooks) {
      if (!elicit) return { status: 'declined', why: 'the client cannot ask its user (it did not declare the elicitation capability)' };
      hooks.event('requested', { via: 'elicitation' });
      hooks.progress(`waiting for your approval of ${req.tool}`);
      const answer = await elicit(`Approve this action?\n${describeRequest(req)}`, req.timeoutMs);
      if (answer === 'accept') return { status: 'approved', by: 'client user' };
      if (answer === 'timeout') return { status: 'expired' };
      return { status: 'declined', by: 'client user', why: `the user ${answer === 'cancel' ? 'cancelled' : 'declined'}` };
    },
  };
}
