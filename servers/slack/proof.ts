// The slack-message proof: fleet/thread names a message in a request channel, read back from Slack
// through a read-only identity: it exists, its author is the actor, a human member (not a bot,
// app, deleted or restricted account), and it is younger than max_age.
import { parseDuration } from '../../shared/base/duration.js';
import { META } from '../../shared/base/wire.js';
import type { ActorProver, ClaimedActor, ProofRecord, Proven } from '../../shared/connector/extensions.js';
import { isSlackThread, threadRef } from './ids.js';

/** A message as the proof needs it. */
export interface ProofMessage {
  ts: string;
  author?: string;
  /** set when an app or bot posted it */
  botId?: string;
  subtype?: string;
}

/** A workspace member as the proof (and an approval) needs it. */
export interface Member {
  id: string;
  /** a full human member: not a bot, app, deleted, restricted or guest account */
  human: boolean;
  /** why not, when not */
  why?: string;
  /** canonical e-mail, when the directory shows it */
  email?: string;
}

/** Reads Slack through a read-only identity (the instance's own, or the approvals identity). */
export interface MessageReader {
  message(channel: string, ts: string): Promise<ProofMessage | undefined>;
  member(user: string): Promise<Member | undefined>;
}

/** The slack-message attribution block's own fields. */
export interface MessageRule {
  request_channels: string[];
  max_age: string;
  reader?: 'instance' | 'approvals';
}

/** A proof read back is reused for a short while per (actor, message): one lookup, not one per call. */
const PROOF_REUSE_MS = 5 * 60_000;

function fail(
  failure: string,
  message: string,
  detail: Record<string, unknown> = {},
  status?: 'denied' | 'failed',
): Proven {
  return { ok: false, proof: { kind: 'slack-message', verified: false, failure, ...detail }, message, status };
}

/** The slack-message prover over `reader` (opened on first need). */
export function messageProver(reader: () => Promise<MessageReader>): ActorProver {
  const cache = new Map<string, { until: number; proof: ProofRecord }>();
  return {
    async prove(who: ClaimedActor, block: Record<string, unknown>, line: string, now = Date.now()): Promise<Proven> {
      const rule = block as unknown as MessageRule;
      const maxAge = parseDuration(rule.max_age) ?? 3_600_000;
      const how =
        `pass _meta "${META.thread}" as <channel>/<ts> of the Slack message in which ${who.actor} asked, ` +
        `written by them as a human member, in a request channel (${rule.request_channels.join(', ')}), within the last ${rule.max_age}`;
      const refuse = (failure: string, detail: Record<string, unknown> = {}) =>
        fail(failure, `denied: the actor ${who.actor} is not proven (${line}): ${how}`, detail);
      if (who.actorKind !== 'slack-user') return refuse('actor-not-slack-user');
      if (!who.thread || !isSlackThread(who.thread)) return refuse('no-thread');
      const { channel, ts } = threadRef(who.thread);
      const actor = who.actor;
      if (!rule.request_channels.includes(channel)) return refuse('not-a-request-channel', { message: who.thread });
      const at = Number(ts) * 1000;
      // the age is known from the ts alone: a stale request is refused without a lookup
      if (now - at > maxAge) return refuse('stale', { message: who.thread, message_time: new Date(at).toISOString() });
      if (at - now > 60_000) return refuse('future', { message: who.thread });
      const key = `${actor} ${who.thread}`;
      const hit = cache.get(key);
      if (hit && hit.until > now) return { ok: true, proof: { ...hit.proof, reused: true } };
      let msg: ProofMessage | undefined;
      let member: Member | undefined;
      try {
        const r = await reader();
        msg = await r.message(channel, ts);
        if (msg && !msg.botId && !msg.subtype && msg.author === actor) member = await r.member(actor);
      } catch (e) {
        return fail(
          'lookup-failed',
          `refused: the request message could not be read to prove the actor (${line}); try again`,
          { message: who.thread, error: (e as Error).message },
          'failed',
        );
      }
      const checked = { message: who.thread, checked_at: new Date(now).toISOString() };
      if (!msg) return refuse('message-not-found', checked);
      if (msg.botId || msg.subtype)
        return refuse('bot-authored', { ...checked, author: msg.author ?? msg.botId, subtype: msg.subtype });
      if (msg.author !== who.actor) return refuse('author-mismatch', { ...checked, author: msg.author });
      if (!member) return refuse('unknown-member', { ...checked, author: msg.author });
      if (!member.human)
        return refuse(`not-human: ${member.why ?? 'not a full member'}`, { ...checked, author: msg.author });
      const proof: ProofRecord = {
        kind: 'slack-message',
        verified: true,
        ...checked,
        author: msg.author,
        message_time: new Date(at).toISOString(),
      };
      if (cache.size > 1000) cache.clear();
      cache.set(key, { until: Math.min(now + PROOF_REUSE_MS, at + maxAge), proof });
      return { ok: true, proof };
    },
  };
}
