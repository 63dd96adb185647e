// What an approval channel is (the core's elicitation, or a connector's ApprovalChannelKind): the
// request it is handed, the verdict it answers, where it posted. The call path asks for approval
// through it (shared/call/seek-approval.ts); late answers are read through it (shared/call/late.ts).

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
  /**
   * every ID of the requester: the proven one and those fleet.yaml people: links to it. An answer
   * by any of them is the requester's own; a channel checks the links against its workspace first.
   */
  requesterIds?: string[];
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
  /**
   * A stopped holder was about to post this very call's request and may have posted it before it
   * could say where: look for its post (its text holds `marker`, posted since `since`) before
   * posting again, and wait on it when found.
   */
  unsure?: PostingRequest;
}

/** What a channel says before it posts: enough for another replica to find the post if it stops. */
export interface PostingRequest {
  marker: string;
  since: number;
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
  /** about to post: kept in the shared state first, so a post this process does not live to record is found */
  posting?(what: PostingRequest): Promise<void>;
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
