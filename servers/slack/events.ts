// Answers that Slack delivers, instead of being polled for: the Events API request URL (a reply in
// a request's thread, a reaction_added on it) and Block Kit interactivity (the request's Approve /
// Decline buttons), served by `fleet serve --http` where fleet.yaml gives the approvals identity a
// `signing_secret`. Every request is checked as Slack's docs say: X-Slack-Signature is
// `v0=` + HMAC-SHA256(signing secret, `v0:<X-Slack-Request-Timestamp>:<raw body>`), compared in
// constant time, and the timestamp is within 5 minutes of now (no replay). A refusal is a 401 on
// the record. What passes becomes a Seen (./answers.ts: the same rules as a polled answer) and is
// handed to the waiting request through the inbox (./inbox.ts).
// The check is node:crypto's, not @slack/bolt's verifySlackRequest: Bolt would bring a web
// framework and an HTTP client into the fleet for these twenty lines.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { InboundAnswer, InboundRequest } from '../../shared/connector/extensions.js';
import { buttonSeen, reactionSeen, replySeen, slackUs, type Seen } from './answers.js';

/** How far a request's timestamp may be from now, in seconds (Slack's docs: 5 minutes). */
export const MAX_SKEW_S = 300;

const header = (h: InboundRequest['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Why a request is not Slack's (signed with `secret`, fresh), or undefined when it is. */
export function refuseSignature(
  secret: string,
  headers: InboundRequest['headers'],
  body: Buffer,
  nowMs = Date.now(),
): string | undefined {
  const ts = header(headers, 'x-slack-request-timestamp');
  const sig = header(headers, 'x-slack-signature');
  if (!ts || !/^\d{1,12}$/.test(ts)) return 'no X-Slack-Request-Timestamp';
  const skew = Math.abs(Math.floor(nowMs / 1000) - Number(ts));
  if (skew > MAX_SKEW_S)
    return `X-Slack-Request-Timestamp is ${skew} s from now, over ${MAX_SKEW_S} s: refused as a possible replay`;
  if (!sig || !/^v0=[0-9a-f]{64}$/.test(sig)) return 'no v0 X-Slack-Signature';
  const want = `v0=${createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex')}`;
  if (!timingSafeEqual(Buffer.from(want), Buffer.from(sig)))
    return 'X-Slack-Signature does not match the signing secret';
  return undefined;
}

/** An answer as delivered: on which request (the approvals channel, the request's ts), what was done. */
export interface Delivered {
  team?: string;
  channel: string;
  ts: string;
  seen: Seen;
}

export type Parsed = { challenge: string } | { delivered: Delivered } | { other: string };

export interface EventBody {
  type?: string;
  challenge?: string;
  team_id?: string;
  event?: {
    type?: string;
    subtype?: string;
    channel?: string;
    user?: string;
    bot_id?: string;
    text?: string;
    ts?: string;
    thread_ts?: string;
    reaction?: string;
    event_ts?: string;
    item?: { type?: string; channel?: string; ts?: string };
  };
}

export interface ActionPayload {
  type?: string;
  user?: { id?: string; team_id?: string };
  team?: { id?: string };
  channel?: { id?: string };
  container?: { channel_id?: string; message_ts?: string };
  message?: { ts?: string };
  actions?: { action_id?: string; action_ts?: string }[];
}

/** What a verified body from Slack says: a url_verification challenge, an answer on a thread, or something else. */
export function parseDelivery(body: Buffer, contentType: string | undefined): Parsed {
  const text = body.toString('utf8');
  if ((contentType ?? '').includes('application/x-www-form-urlencoded')) {
    const payload = new URLSearchParams(text).get('payload');
    if (!payload) return { other: 'a form without a payload' };
    return parseAction(JSON.parse(payload) as ActionPayload);
  }
  return parseEvent(JSON.parse(text) as EventBody);
}

/** What an Events API envelope says (a POSTed body, or the payload of a Socket Mode `events_api` envelope). */
export function parseEvent(b: EventBody): Parsed {
  if (b.type === 'url_verification')
    return typeof b.challenge === 'string'
      ? { challenge: b.challenge }
      : { other: 'a url_verification without a challenge' };
  if (b.type !== 'event_callback' || !b.event) return { other: `an event envelope of type ${String(b.type)}` };
  const e = b.event;
  if (e.type === 'message') {
    if (!e.channel || !e.thread_ts || e.thread_ts === e.ts) return { other: 'a message outside a thread' };
    const seen = replySeen({ ts: e.ts, user: e.user, bot_id: e.bot_id, subtype: e.subtype, text: e.text });
    return seen
      ? { delivered: { team: b.team_id, channel: e.channel, ts: e.thread_ts, seen } }
      : { other: "a bot's message or an edit" };
  }
  if (e.type === 'reaction_added') {
    if (e.item?.type !== 'message' || !e.item.channel || !e.item.ts || !e.user)
      return { other: 'a reaction on something other than a message' };
    const at = slackUs(e.event_ts);
    return {
      delivered: {
        team: b.team_id,
        channel: e.item.channel,
        ts: e.item.ts,
        seen: reactionSeen(e.user, e.reaction, at, at),
      },
    };
  }
  return { other: `a ${String(e.type)} event` };
}

/** What an interaction says (a POSTed form's payload, or the payload of a Socket Mode `interactive` envelope). */
export function parseAction(p: ActionPayload): Parsed {
  if (p.type !== 'block_actions') return { other: `an interaction of type ${String(p.type)}` };
  const a = p.actions?.[0];
  const channel = p.container?.channel_id ?? p.channel?.id;
  const ts = p.container?.message_ts ?? p.message?.ts;
  if (!a || !channel || !ts || !p.user?.id) return { other: 'a block action without its message, user or action' };
  return {
    delivered: {
      team: p.team?.id ?? p.user.team_id,
      channel,
      ts,
      seen: buttonSeen(p.user.id, a.action_id, a.action_ts),
    },
  };
}

/**
 * The handler of the Events API and interactivity URLs: verified, parsed, and each answer on the
 * approvals channel of `workspace` handed to `deliver`. Slack wants a 2xx within 3 s, so nothing
 * here waits on the judging.
 */
export function slackDeliveries(o: {
  secret: () => Promise<string>;
  workspace: string;
  channel: string;
  deliver(d: Delivered): void;
}) {
  return async (req: InboundRequest): Promise<InboundAnswer> => {
    const why = refuseSignature(await o.secret(), req.headers, req.body);
    if (why)
      return {
        status: 401,
        body: 'refused: the request is not signed by Slack',
        refused: { rule: 'slack.signature', message: `a callback to the approvals identity refused: ${why}` },
      };
    let parsed: Parsed;
    try {
      parsed = parseDelivery(req.body, header(req.headers, 'content-type'));
    } catch {
      return { status: 400, body: 'the body is not a Slack callback' };
    }
    if ('challenge' in parsed)
      return { status: 200, body: JSON.stringify({ challenge: parsed.challenge }), type: 'application/json' };
    forward(parsed, o);
    return { status: 200, body: '' };
  };
}

/** Hands a parsed answer on when it is on the approvals channel of `workspace`: another workspace's or channel's events are not answers to these requests. */
export function forward(parsed: Parsed, o: { workspace: string; channel: string; deliver(d: Delivered): void }): void {
  if (!('delivered' in parsed)) return;
  const d = parsed.delivered;
  if ((d.team === undefined || d.team === o.workspace) && d.channel === o.channel) o.deliver(d);
}
