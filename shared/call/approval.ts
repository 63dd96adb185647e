// Human approval before a call runs. Two kinds of channel: MCP elicitation (the user at an
// interactive client), the core's own, and those connectors contribute (ApprovalChannelKind), where
// a listed, proven human who is neither the requester nor a bot answers. Anything short
// of a clear yes — decline, cancel, silence until the timeout, a client that cannot ask, a client
// that gave up — is a no. An approval is bound to a digest of the exact call and to its expiry, and
// the approver is shown every argument that will run, in full.
import { createHash } from 'node:crypto';

import type { ApprovalChannel, ApprovalRequest } from '../connector/approval-channel.js';

export type {
  Answer,
  ApprovalChannel,
  ApprovalHooks,
  ApprovalRequest,
  PostedRequest,
  PostingRequest,
  Verdict,
} from '../connector/approval-channel.js';

/** JSON with sorted keys: the same call always gives the same digest. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function callDigest(x: {
  instance: string;
  tool: string;
  args: Record<string, unknown>;
  resources: { on: string; value: string | number }[];
  manifest: string;
}): string {
  return createHash('sha256').update(canonicalJson(x)).digest('hex');
}

/** Every argument, in full: `name = <JSON value>`; a secret as its length only. */
export function argumentLines(args: Record<string, unknown>, secret: Set<string>): string[] {
  const lines = Object.entries(args).map(([k, v]) =>
    secret.has(k)
      ? `${k} = <${(typeof v === 'string' ? v : JSON.stringify(v ?? '')).length} characters, hidden>`
      : `${k} = ${JSON.stringify(v ?? null)}`,
  );
  return lines.length ? lines : ['(no arguments)'];
}

/**
 * The request as a person reads it. `esc` escapes every value the requester controls (arguments,
 * actor, thread, reason) for the medium: a channel's markup, nothing for elicitation.
 */
export function describeRequest(req: ApprovalRequest, esc: (s: string) => string = (s) => s): string[] {
  const touches = req.resources
    .filter((f) => typeof f.value === 'string')
    .map((f) => `${f.on} ${esc(String(f.value))}`)
    .join(', ');
  const who = req.requester ? ` for ${esc(req.requester)}` : ' with no named requester';
  const about = [
    req.thread ? `thread ${esc(req.thread)}` : '',
    req.requester && req.proof
      ? `actor ${req.proof === 'asserted' ? 'asserted, not proven' : `proven by ${req.proof}`}`
      : '',
  ]
    .filter(Boolean)
    .join('; ');
  return [
    `${req.instance} wants to run ${req.tool}${who}${about ? ` (${about})` : ''}.`,
    ...(req.reason ? [`Reason: ${esc(JSON.stringify(req.reason))}`] : []),
    ...(touches ? [`Touches: ${touches}.`] : []),
    `Call digest: ${req.digest}`,
    `Arguments (in full, exactly as they will run):`,
    ...req.lines.map((l) => `  ${esc(l)}`),
  ];
}

export type Elicit = (
  message: string,
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<'accept' | 'decline' | 'cancel' | 'timeout'>;

/** The core's own channel: the client's user answers (MCP elicitation). */
export const ELICITATION = 'elicitation';

/** The elicitation channel: asks the client's user a yes/no question about the exact action. */
export function elicitationChannel(elicit: Elicit | undefined): ApprovalChannel {
  return {
    async request(req, hooks) {
      if (!elicit)
        return {
          status: 'declined',
          why: 'the client cannot ask its user (it did not declare the elicitation capability)',
        };
      hooks.event('requested', { via: 'elicitation', digest: req.digest });
      hooks.progress(`waiting for your approval of ${req.tool}`);
      let answer: Awaited<ReturnType<Elicit>>;
      try {
        answer = await elicit(`Approve this action?\n${describeRequest(req).join('\n')}`, req.timeoutMs, req.signal);
      } catch (e) {
        // a request cut short by the call's withdrawal is a withdrawal; any other failure is the channel's
        if (req.signal?.aborted) return { status: 'withdrawn', why: 'the client withdrew the call' };
        throw e;
      }
      if (req.signal?.aborted) return { status: 'withdrawn', why: 'the client withdrew the call' };
      if (answer === 'accept') return { status: 'approved', by: 'client user', digest: req.digest, at: Date.now() };
      if (answer === 'timeout') return { status: 'expired' };
      return {
        status: 'declined',
        by: 'client user',
        why: `the user ${answer === 'cancel' ? 'cancelled' : 'declined'}`,
      };
    },
  };
}
