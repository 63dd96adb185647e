// Asking for an approval and judging the answer: the request kept in the instance's store (so a
// retry, another process or a replica resumes it), the channel the grant names, the answer bound
// to this exact call, and separation of duties on proven, canonical IDs.
import { parseDuration } from '../base/duration.js';
import type { Instance } from '../instance/instance.js';
import type { Approval } from '../base/manifest.js';
import { StateUnavailable, type ApprovalEntry } from '../state/store.js';
import {
  argumentLines,
  ELICITATION,
  elicitationChannel,
  type ApprovalChannel,
  type ApprovalRequest,
  type PostedRequest,
  type PostingRequest,
  type Verdict,
} from './approval.js';
import { actor as parseActor, sameId } from '../base/identity.js';
import type { CallWith } from './in-flight.js';

type Asking = CallWith<'tool' | 'args' | 'facts' | 'ctx'>;

export async function seekApproval(c: Asking, approval: Approval): Promise<Verdict> {
  const { inst, req, tool } = c;
  const secret = new Set(
    Object.entries(tool.audit ?? {})
      .filter(([, as]) => as === 'secret')
      .map(([k]) => k),
  );
  const timeoutMs = parseDuration(approval.timeout) ?? 15 * 60_000;
  c.approvalExpires = Date.now() + timeoutMs;
  const request: ApprovalRequest = {
    call: c.call,
    instance: inst.manifest.id,
    tool: tool.name,
    resources: c.facts.filter((f) => tool.constraints[f.on]?.resources),
    lines: argumentLines(c.args, secret).map((l) => inst.redactor.scrub(l)),
    digest: c.digest,
    requester: c.who.actor,
    requesterKind: c.who.actorKind,
    requesterIds: requesterIds(c),
    proof: c.who.proof?.kind,
    thread: c.who.thread,
    reason: c.who.reason,
    approvers: approval.approvers ?? [],
    executor: executorIds(c),
    timeoutMs,
    expiresAt: c.approvalExpires,
    signal: c.cancelled,
  };
  const hooks = {
    progress: (m: string) => req.progress?.(m),
    event: (status: string, detail: Record<string, unknown>) =>
      void c
        .record({ phase: 'approval', status, via: approval.via, digest: c.digest, ...detail })
        .catch((e: Error) => inst.log.error(e.message)),
  };
  // The approval is kept in the instance's store, under the call's idempotency key (else the call),
  // where every process and replica sees it: a retry of the key that finds it approved (its first
  // holder died after the answer) runs on that answer instead of asking again, and the first
  // answer kept is the one that counts.
  const id = c.key ? `key:${c.key}` : `call:${c.call}`;
  // set by the try below, or by its catch
  let verdict: Verdict = { status: 'failed', why: 'the approval was not requested' };
  try {
    if (c.key && !(await inst.keys.awaiting(c.key, true)))
      throw new StateUnavailable(`idempotency key ${c.key} is no longer held by this process`);
    const entry = await inst.store.approvals.open({
      id,
      call: c.call,
      expires: c.approvalExpires,
      ref: { digest: c.digest },
    });
    // an answer counts for this exact call only (the same digest), and only until it expires
    if (entry.status === 'approved' && entry.ref?.digest === c.digest) verdict = asVerdict(entry, c.digest);
    else {
      const channel =
        approval.via === ELICITATION ? elicitationChannel(req.elicit) : await approvalChannelFor(inst, approval.via);
      const resume = resumable(entry, c.digest);
      if (resume && 'ts' in resume) {
        // the request this key's first holder posted before it stopped: wait on it, to its expiry
        c.approvalExpires = request.expiresAt = entry.expires;
        request.resume = resume;
      } else if (resume) {
        // it was about to post when it stopped: the channel looks for that post before asking again
        c.approvalExpires = request.expiresAt = entry.expires;
        request.unsure = resume;
      }
      // where it was posted: another replica resumes a pending request there, and once withdrawn,
      // whoever runs for the instance records late answers to it (./late.ts)
      const posted = (where: { channel: string; ts: string }) =>
        inst.store.approvals
          .setRef(id, { digest: c.digest, tool: tool.name, via: approval.via, ...where })
          .catch((e: Error) =>
            inst.log.error(`the approval request of ${id} cannot be resumed elsewhere: ${e.message}`),
          );
      const posting = (what: PostingRequest) =>
        inst.store.approvals
          .setRef(id, { digest: c.digest, tool: tool.name, via: approval.via, posting: what })
          .catch((e: Error) => inst.log.error(`the approval request of ${id} cannot be found elsewhere: ${e.message}`));
      verdict = await channel.request(request, { ...hooks, posted, posting });
    }
    verdict = asVerdict(
      await inst.store.approvals.decide(
        id,
        {
          status: verdict.status,
          ...('by' in verdict && verdict.by ? { by: verdict.by } : {}),
          ...('why' in verdict ? { why: verdict.why } : {}),
        },
        verdict.status === 'approved' ? verdict.at : Date.now(),
      ),
      c.digest,
    );
  } catch (e) {
    verdict = { status: 'failed', why: `the approval could not be requested: ${(e as Error).message}` };
  } finally {
    if (c.key) {
      const held = await inst.keys.awaiting(c.key, false).catch(() => false);
      if (!held && verdict.status === 'approved')
        verdict = { status: 'declined', why: `another process took over idempotency key ${c.key}` };
    }
  }
  const detail: Record<string, unknown> = { digest: c.digest, expires: new Date(c.approvalExpires).toISOString() };
  if ('by' in verdict && verdict.by) detail.by = verdict.by;
  if ('why' in verdict) detail.why = verdict.why;
  if (verdict.status === 'approved') detail.at = new Date(verdict.at).toISOString();
  await c.record({ phase: 'approval', status: verdict.status, via: approval.via, ...detail });
  return verdict;
}

/**
 * Requester, approver and executor are three different principals; where listed people answer (any
 * channel but elicitation, where the client's own user does) the approver is one of them; the
 * approval is for this exact call and still fresh. Checked on the proven, canonical IDs whatever
 * the channel already checked. Returns what is wrong, or undefined.
 */
export function separationOfDuties(
  c: Asking,
  approval: Approval,
  v: Extract<Verdict, { status: 'approved' }>,
): string | undefined {
  if (v.digest !== c.digest) return 'it was given for a different call (digest mismatch)';
  if (Date.now() > c.approvalExpires) return 'it came after the request expired';
  if (c.cancelled?.aborted) return 'the client withdrew the call';
  if (approval.via === ELICITATION) return undefined;
  if (requesterIds(c).some((id) => sameId(v.by, id))) return 'the requester cannot approve their own request';
  if (executorIds(c).includes(v.by)) return "the instance's own identity cannot approve what it executes";
  if (!(approval.approvers ?? []).includes(v.by)) return `${v.by} is not a listed approver`;
  return undefined;
}

/** Every ID of the requester: the proven one, and those the fleet's people: link to it. */
const requesterIds = (c: Pick<Asking, 'who' | 'inst'>): string[] =>
  c.who.actor ? (c.inst.people?.idsOf(c.who.actor) ?? [c.who.actor]) : [];

/**
 * Listed approvers answer as members of the channel's workspace: a requester proven as an e-mail
 * (by oidc, or asserted) is compared with them only through a member ID the fleet's people: link
 * to them. Without one no approver can be told apart from the requester, so none is asked.
 */
export function unresolvedRequester(c: Pick<Asking, 'who' | 'inst'>, approval: Approval): string | undefined {
  if (approval.via === ELICITATION || !c.who.actor || c.who.actorKind !== 'email') return undefined;
  if (requesterIds(c).some((id) => kindOf(id) !== 'email')) return undefined;
  return `the requester ${c.who.actor} (proven by ${c.who.proof?.kind ?? 'nothing'}) is linked to no member ID, so an approver could not be told apart from them: list them with their member ID under people: in fleet.yaml`;
}

const kindOf = (id: string): string | undefined => {
  try {
    return parseActor(id).kind;
  } catch {
    return undefined;
  }
};

const executorIds = (c: Asking): string[] =>
  [c.ctx.identity.user, c.ctx.identity.bot].filter((x): x is string => typeof x === 'string');

/**
 * A pending request for this very call (same digest, not expired) that a process or replica which
 * has since stopped posted to its channel: where to resume waiting, instead of asking a second
 * time. (Elicitation posts nothing, so it never resumes.)
 */
function resumable(e: ApprovalEntry, digest: string): PostedRequest | PostingRequest | undefined {
  const { ref } = e;
  if (e.status !== 'pending' || e.expires <= Date.now() || ref?.digest !== digest) return undefined;
  if (typeof ref.channel === 'string' && typeof ref.ts === 'string') return { channel: ref.channel, ts: ref.ts };
  const p = ref.posting as Partial<PostingRequest> | undefined;
  return typeof p?.marker === 'string' && typeof p.since === 'number'
    ? { marker: p.marker, since: p.since }
    : undefined;
}

function asVerdict(e: ApprovalEntry, digest: string): Verdict {
  if (e.status === 'approved')
    return { status: 'approved', by: e.by ?? 'unknown', digest, at: e.decided ?? Date.now() };
  if (e.status === 'withdrawn') return { status: 'withdrawn', why: e.why ?? 'withdrawn' };
  if (e.status === 'failed') return { status: 'failed', why: e.why ?? 'failed' };
  if (e.status === 'declined') return { status: 'declined', ...(e.by ? { by: e.by } : {}), why: e.why ?? 'declined' };
  return { status: 'expired' };
}

/** The channel a grant names, as the instance opened it (a connector's ApprovalChannelKind). */
async function approvalChannelFor(inst: Instance, via: string): Promise<ApprovalChannel> {
  const open = inst.approvalChannels?.[via];
  if (!open) throw new Error(`no ${via} approval channel is configured for ${inst.manifest.id}`);
  return open();
}
