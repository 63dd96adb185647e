// Human approval before a call runs. Two kinds of channel: MCP elicitation (the user at an
// interactive client), the core's own, and those connectors contribute (ApprovalChannelKind), where
// a listed, proven human who is neither the requester nor a bot answers. Anything short
// of a clear yes — decline, cancel, silence until the timeout, a client that cannot ask, a client
// that gave up — is a no. An approval is bound to a digest of the exact call and to its expiry, and
// the approver is shown every argument that will run, in full.
import { createHash } from 'node:crypto';

export interface ApprovalRequest {
  call: string;
  instance: string;
  tool: string;
  /** what the call touches (Fact in shared/connector/tool.ts) */
  resources: { on: string; value: string | number }[];
  /** every argument that will run, one `name = value` line each (secrets as lengths), never cut */
  lines: string[];
  /** sha256 of the exact call: instance, tool, full arguments, resources, manifest hash */
  digest: string;
  requester?: string;
  /** the requester's identity kind (IdKind) */
  requesterKind?: string;
  /** how the requester was proven (asserted, oidc, a connector's proof) */
  proof?: string;
  thread?: string;
  reason?: string;
  approvers: string[];
  /** identities that can never approve: the instance's own bot (the executor) */
  executor: string[];
  timeoutMs: number;
  /** ms since the epoch after which an approval no longer counts */
  expiresAt: number;
  /** aborted when the call is withdrawn (the client cancelled, timed out or went away) */
  signal?: AbortSignal;
  /**
   * The request already posted for this very call by a process or replica that stopped while it
   * waited (found in the shared state): wait on that post, and count an answer already given
   * there, instead of asking again.
   */
  resume?: PostedRequest;
}

export type Verdict =
  | { status: 'approved'; by: string; digest: string; at: number }
  | { status: 'declined'; by?: string; why: string }
  | { status: 'expired' }
  | { status: 'withdrawn'; why: string }
  /** no answer could be had: the channel itself failed (a revoked approvals credential, a broken elicitation) */
  | { status: 'failed'; why: string };

/** What a channel reports while it waits: progress for the client, events for the audit trail. */
export interface ApprovalHooks {
  progress(message: string): void;
  event(status: string, detail: Record<string, unknown>): void;
  /** where the request was posted, kept in the shared state: another replica can resume it, and once
   * withdrawn, whoever runs next records late answers to it (./late.ts) */
  posted?(where: PostedRequest): Promise<void>;
}

/** An answer someone gave to a request. */
export interface Answer {
  user: string;
  approve: boolean;
}

/** Where a channel posted a request: kept in the store, so another process resumes it and late answers are found. */
export interface PostedRequest {
  channel: string;
  ts: string;
}

/**
 * One way of asking for approval. `request` opens the request (or resumes `req.resume`), reports
 * where it was posted (`hooks.posted`), and waits for the answer, the expiry, or the call's
 * withdrawal (`req.signal`: the channel then takes its request back and answers `withdrawn`).
 * `answers` reads, later, every answer given to a request it posted: the late-answer reader
 * (./late.ts) records those given after the request was withdrawn.
 */
export interface ApprovalChannel {
  request(req: ApprovalRequest, hooks: ApprovalHooks): Promise<Verdict>;
  answers?(ref: PostedRequest): Promise<Answer[]>;
}

/** JSON with sorted keys: the same call always gives the same digest. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function callDigest(x: { instance: string; tool: string; args: Record<string, unknown>; resources: { on: string; value: string | number }[]; manifest: string }): string {
  return createHash('sha256').update(canonicalJson(x)).digest('hex');
}

/** Every argument, in full: `name = <JSON value>`; a secret as its length only. */
export function argumentLines(args: Record<string, unknown>, secret: Set<string>): string[] {
  const lines = Object.entries(args).map(([k, v]) =>
    secret.has(k) ? `${k} = <${(typeof v === 'string' ? v : JSON.stringify(v ?? '')).length} characters, hidden>` : `${k} = ${JSON.stringify(v ?? null)}`);
  return lines.length ? lines : ['(no arguments)'];
}

/**
 * The request as a person reads it. `esc` escapes every value the requester controls (arguments,
 * actor, thread, reason) for the medium: a channel's markup, nothing for elicitation.
 */
export function describeRequest(req: ApprovalRequest, esc: (s: string) => string = (s) => s): string[] {
  const touches = req.resources.filter((f) => typeof f.value === 'string').map((f) => `${f.on} ${esc(String(f.value))}`).join(', ');
  const who = req.requester ? ` for ${esc(req.requester)}` : ' with no named requester';
  const about = [req.thread ? `thread ${esc(req.thread)}` : '', req.requester && req.proof ? `actor ${req.proof === 'asserted' ? 'asserted, not proven' : `proven by ${req.proof}`}` : ''].filter(Boolean).join('; ');
  return [
    `${req.instance} wants to run ${req.tool}${who}${about ? ` (${about})` : ''}.`,
    ...(req.reason ? [`Reason: ${esc(JSON.stringify(req.reason))}`] : []),
    ...(touches ? [`Touches: ${touches}.`] : []),
    `Call digest: ${req.digest}`,
    `Arguments (in full, exactly as they will run):`,
    ...req.lines.map((l) => `  ${esc(l)}`),
  ];
}

export type Elicit = (message: string, timeoutMs: number, signal?: AbortSignal) => Promise<'accept' | 'decline' | 'cancel' | 'timeout'>;

/** The core's own channel: the client's user answers (MCP elicitation). */
export const ELICITATION = 'elicitation';

/** The elicitation channel: asks the client's user a yes/no question about the exact action. */
export function elicitationChannel(elicit: Elicit | undefined): ApprovalChannel {
  return {
    async request(req, hooks) {
      if (!elicit) return { status: 'declined', why: 'the client cannot ask its user (it did not declare the elicitation capability)' };
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
      return { status: 'declined', by: 'client user', why: `the user ${answer === 'cancel' ? 'cancelled' : 'declined'}` };
    },
  };
}
