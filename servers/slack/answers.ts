// What counts as an answer to an approval request, and which answer counts. Only an exact answer
// is one: a thread reply whose whole text is `approve` or `decline` (case and surrounding
// whitespace aside), a ✅ (`white_check_mark`) or ❌ (`x`) reaction on the request, or the
// request's Approve/Decline button. Anything else a person writes or reacts there is seen and
// recorded, never counted ("Approve this? why…", "approved", 👍, ✔️). The earliest answer by
// Slack's own timestamp counts, and a decline by a listed approver vetoes every approval that did
// not certainly come before it.

/** A Slack message as conversations.history / conversations.replies return it. */
export interface SlackMsg {
  ts?: string;
  user?: string;
  bot_id?: string;
  subtype?: string;
  text?: string;
  thread_ts?: string;
  reply_count?: number;
  latest_reply?: string;
  reactions?: { name?: string; users?: string[] }[];
}

export type AnswerVia = 'reply' | 'reaction' | 'button';

/** Something a person did on a request: an exact answer (`approve` set) or not one (`approve` undefined). */
export interface Seen {
  user: string;
  via: AnswerVia;
  /** what it was: the reply's ts, the reaction's name, the button's action */
  what: string;
  approve?: boolean;
  /**
   * When it happened, in µs, as Slack dates it: a reply's or a button's own ts (`lo === hi`); a
   * reaction polled for carries no time of its own, only "after the last read, by this one".
   * Microseconds, not ms: two replies in one millisecond are still ordered by their ts.
   */
  lo: number;
  hi: number;
}

const APPROVE_REACTION = 'white_check_mark';
const DECLINE_REACTION = 'x';

/** The exact answer a reply's whole text gives, or undefined. */
export function exactReply(text: string | undefined): boolean | undefined {
  const t = (text ?? '').trim().toLowerCase();
  return t === 'approve' ? true : t === 'decline' ? false : undefined;
}

/** The exact answer a reaction gives, or undefined. */
export function exactReaction(name: string | undefined): boolean | undefined {
  return name === APPROVE_REACTION ? true : name === DECLINE_REACTION ? false : undefined;
}

/** The action IDs of the request's Approve and Decline buttons (Block Kit). */
export const APPROVE_ACTION = 'fleet_approve';
export const DECLINE_ACTION = 'fleet_decline';

/** The exact answer a button gives, or undefined (another action is no answer). */
export function exactButton(actionId: string | undefined): boolean | undefined {
  return actionId === APPROVE_ACTION ? true : actionId === DECLINE_ACTION ? false : undefined;
}

/** A Slack ts ("seconds.micros") in µs, exactly: a float would merge neighbours. */
/**
 * A local clock reading (Date.now(), ms) as the last µs it may stand for: a ts Slack gave within
 * that millisecond is not after it. A read's own time bounds the reactions it saw from above.
 */
export const msEndUs = (ms: number): number => ms * 1000 + 999;

export function slackUs(ts: string | undefined): number {
  const [sec = '0', frac = ''] = (ts ?? '').split('.');
  return Number(sec) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
}

/**
 * Everything people did on a request, from its thread (parent first, as conversations.replies
 * gives it) and the parent's reactions. Bots' messages (the request's own parts) are no answers
 * and are left out. `reactionsAfter` / `now` (µs) bound when the reactions not seen before happened.
 */
export function seenIn(parent: SlackMsg, replies: SlackMsg[], reactionsAfter: number, now: number): Seen[] {
  const out: Seen[] = [];
  for (const m of replies) {
    const s = m.ts === parent.ts ? undefined : replySeen(m);
    if (s) out.push(s);
  }
  for (const r of parent.reactions ?? []) {
    for (const user of r.users ?? []) out.push(reactionSeen(user, r.name, reactionsAfter, now));
  }
  return out;
}

/** A reply in a request's thread as a person's answer; a bot's message or an edit, join, etc. (a subtype) is none. */
export function replySeen(m: SlackMsg): Seen | undefined {
  if (m.bot_id || !m.user || m.subtype) return undefined;
  const at = slackUs(m.ts);
  return { user: m.user, via: 'reply', what: m.ts ?? '', approve: exactReply(m.text), lo: at, hi: at };
}

/** A reaction on a request, happened between `lo` and `hi` (µs): a delivered reaction_added event dates it exactly. */
export function reactionSeen(user: string, name: string | undefined, lo: number, hi: number): Seen {
  return { user, via: 'reaction', what: name ?? '', approve: exactReaction(name), lo, hi };
}

/** A press of one of the request's buttons, dated by its action_ts. */
export function buttonSeen(user: string, actionId: string | undefined, actionTs: string | undefined): Seen {
  const at = slackUs(actionTs);
  return { user, via: 'button', what: actionId ?? '', approve: exactButton(actionId), lo: at, hi: at };
}

/** The key an answer is recorded under once: who did what, where. */
export const seenKey = (s: Seen) => `${s.via}:${s.user}:${s.what}`;

export type Decision = { status: 'approved' | 'declined'; counted: Seen; rest: Seen[] } | { status: 'pending' };

/**
 * Which answer counts among the qualifying ones (the caller has set aside everyone who may not
 * answer). An approval counts when it is the earliest and no decline could have come before it or
 * at the same time; otherwise a decline counts, the earliest. `rest` are the answers that did not
 * count, each to be recorded.
 */
export function countedAnswer(answers: Seen[]): Decision {
  const yes = answers.filter((a) => a.approve === true).sort((a, b) => a.hi - b.hi || a.lo - b.lo);
  const no = answers.filter((a) => a.approve === false).sort((a, b) => a.lo - b.lo || a.hi - b.hi);
  const first = yes[0];
  let counted: Seen | undefined;
  if (first && no.every((d) => d.lo > first.hi)) counted = first;
  else counted = no[0];
  if (!counted) return { status: 'pending' };
  return { status: counted.approve ? 'approved' : 'declined', counted, rest: answers.filter((a) => a !== counted) };
}
