// Canonical identifiers: who a call is for, who approved it and where it was asked are compared as
// IDs, never as free text. Each kind has a grammar; an identifier that does not match it, or that
// carries an invisible, bidi, control, whitespace or non-ASCII (look-alike) character, is refused
// rather than folded, so a near-miss can never become equal to the ID it imitates.
//
//   slack-user  U0EDITOR1, W0123ABC         (upper-case as Slack writes them)
//   email       erin@example.com            (NFKC, then lower-cased; ASCII only)
//   thread      C0EDITORIAL/1767226200.000110   (<channel ID>/<message ts>; other sources: plain ASCII)
//   client      blogbot-publish             (a routine's own name: lower-case, digits, . _ -)

export type IdKind = 'slack-user' | 'email' | 'thread' | 'client';

export class BadIdentifier extends Error {
  constructor(readonly what: string, readonly why: string) {
    super(`${what} ${why}`);
  }
}

const MAX = 256;
const SLACK_USER = /^[UW][A-Z0-9]{2,20}$/;
const EMAIL = /^[a-z0-9_%+-]+(\.[a-z0-9_%+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const THREAD = /^([CGD][A-Z0-9]{8,20})\/(\d{10}\.\d{6})$/;
// a conversation of another source (a ticket, a run): opaque, but plain ASCII
const OPAQUE_THREAD = /^[A-Za-z0-9][A-Za-z0-9._:#\/-]{0,127}$/;
const CLIENT = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why a string cannot be an identifier at all (before its grammar), or undefined. */
export function characterProblem(raw: string): string | undefined {
  if (raw.length === 0) return 'is empty';
  if (raw.length > MAX) return `is longer than ${MAX} characters`;
  for (const ch of raw) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return `carries the control character ${hex(cp)}`;
    if (/\p{Cf}/u.test(ch)) return `carries the invisible or bidi character ${hex(cp)}`;
    if (/\s/u.test(ch)) return `carries the whitespace ${hex(cp)}`;
    if (cp > 0x7e) return `carries the non-ASCII character ${hex(cp)}, which can imitate another (look-alikes are refused)`;
  }
  return undefined;
}

function checked(what: string, raw: unknown): string {
  if (typeof raw !== 'string') throw new BadIdentifier(what, 'must be a printable string');
  const problem = characterProblem(raw);
  if (problem) throw new BadIdentifier(what, problem);
  return raw.normalize('NFKC');
}

export function slackUser(raw: unknown, what = 'a Slack user ID'): string {
  const s = checked(what, raw);
  if (!SLACK_USER.test(s)) throw new BadIdentifier(what, 'must be a Slack user ID such as U0123ABCD');
  return s;
}

export function email(raw: unknown, what = 'an e-mail address'): string {
  const s = checked(what, raw).toLowerCase();
  if (!EMAIL.test(s) || s.split('@')[0]!.length > 64) throw new BadIdentifier(what, 'must be an e-mail address such as erin@example.com');
  return s;
}

export interface ThreadRef {
  channel: string;
  ts: string;
}

/** A thread: a Slack message as <channel ID>/<ts>, or an opaque ASCII reference of another source. */
export function thread(raw: unknown, what = 'a thread'): string {
  const s = checked(what, raw);
  if (!THREAD.test(s) && !OPAQUE_THREAD.test(s)) {
    throw new BadIdentifier(what, 'must name a Slack message as <channel ID>/<ts> (C0EDITORIAL/1767226200.000110), or be a plain reference of letters, digits and . _ : # / -');
  }
  return s;
}

export function isSlackThread(canonical: string): boolean {
  return THREAD.test(canonical);
}

export function threadRef(canonical: string): ThreadRef {
  const m = THREAD.exec(canonical);
  if (!m) throw new BadIdentifier('a thread', 'is not a <channel ID>/<ts> reference');
  return { channel: m[1]!, ts: m[2]! };
}

export function client(raw: unknown, what = 'a client name'): string {
  const s = checked(what, raw);
  if (!CLIENT.test(s)) throw new BadIdentifier(what, 'must be lower-case letters, digits, dots, dashes or underscores (1 to 64), such as blogbot-publish');
  return s;
}

/** An actor: a Slack user ID or an e-mail address, in canonical form, with its kind. */
export function actor(raw: unknown, what = 'the actor'): { id: string; kind: 'slack-user' | 'email' } {
  const s = checked(what, raw);
  if (SLACK_USER.test(s)) return { id: s, kind: 'slack-user' };
  if (s.includes('@')) return { id: email(s, what), kind: 'email' };
  throw new BadIdentifier(what, 'must be a Slack user ID (U0123ABCD) or an e-mail address');
}

/** The canonical form of an identifier of unknown kind (e.g. an `audit show --actor` filter). */
export function canonical(raw: string): string {
  return actor(raw).id;
}

/** Whether two identifiers name the same principal; anything unparsable is equal to nothing. */
export function sameId(a: unknown, b: unknown): boolean {
  try {
    return actor(a).id === actor(b).id;
  } catch {
    return false;
  }
}

/**
 * Free text the requester controls (a reason): any length up to the limit, but nothing that reads
 * differently from what it is (control, invisible and bidi characters are refused).
 */
export function freeText(raw: unknown, what: string, max = MAX): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > max) throw new BadIdentifier(what, `must be a string of 1 to ${max} characters`);
  for (const ch of raw) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) throw new BadIdentifier(what, `carries the control character ${hex(cp)}`);
    if (/\p{Cf}/u.test(ch)) throw new BadIdentifier(what, `carries the invisible or bidi character ${hex(cp)}`);
  }
  return raw.normalize('NFKC');
}
