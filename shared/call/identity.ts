// Canonical identifiers: who a call is for, who approved it and where it was asked are compared as
// IDs, never as free text. Each kind has a grammar; an identifier that does not match it, or that
// carries an invisible, bidi, control, whitespace or non-ASCII (look-alike) character, is refused
// rather than folded, so a near-miss can never become equal to the ID it imitates.
//
//   email       erin@example.com            (NFKC, then lower-cased; ASCII only)
//   thread      C0EDITORIAL/1767226200.000110   (a message as <channel>/<ts>, a ticket: plain ASCII)
//   client      blogbot-publish             (a routine's own name: lower-case, digits, . _ -)
//   (people)    the person IDs connectors contribute (PersonKind), each with its own grammar

import type { PersonKind } from '../connector/extensions.js';

export type { PersonKind } from '../connector/extensions.js';

const people: PersonKind[] = [];

/**
 * The person kinds of the fleet's connectors, registered once by the program that lists them
 * (servers/fleet/connectors.ts): an actor is one of these, or an e-mail address.
 */
export function registerPeople(kinds: readonly PersonKind[]): void {
  for (const k of kinds) if (!people.some((p) => p.kind === k.kind)) people.push(k);
}

export class BadIdentifier extends Error {
  constructor(readonly what: string, readonly why: string) {
    super(`${what} ${why}`);
  }
}

const MAX = 256;
const EMAIL = /^[a-z0-9_%+-]+(\.[a-z0-9_%+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// a conversation: a message as <channel>/<ts>, a ticket, a run: opaque, but plain ASCII
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

export function checked(what: string, raw: unknown): string {
  if (typeof raw !== 'string') throw new BadIdentifier(what, 'must be a printable string');
  const problem = characterProblem(raw);
  if (problem) throw new BadIdentifier(what, problem);
  return raw.normalize('NFKC');
}

export function email(raw: unknown, what = 'an e-mail address'): string {
  const s = checked(what, raw).toLowerCase();
  if (!EMAIL.test(s) || s.split('@')[0]!.length > 64) throw new BadIdentifier(what, 'must be an e-mail address such as erin@example.com');
  return s;
}

/** A thread: a message as <channel ID>/<ts>, or an opaque ASCII reference of another source. */
export function thread(raw: unknown, what = 'a thread'): string {
  const s = checked(what, raw);
  if (!OPAQUE_THREAD.test(s)) {
    throw new BadIdentifier(what, 'must name a message as <channel ID>/<ts> (C0EDITORIAL/1767226200.000110), or be a plain reference of letters, digits and . _ : # / -');
  }
  return s;
}

export function client(raw: unknown, what = 'a client name'): string {
  const s = checked(what, raw);
  if (!CLIENT.test(s)) throw new BadIdentifier(what, 'must be lower-case letters, digits, dots, dashes or underscores (1 to 64), such as blogbot-publish');
  return s;
}

/** An actor: a person ID of a registered kind or an e-mail address, in canonical form, with its kind. */
export function actor(raw: unknown, what = 'the actor'): { id: string; kind: string } {
  const s = checked(what, raw);
  const person = people.find((p) => p.pattern.test(s));
  if (person) return { id: s, kind: person.kind };
  if (s.includes('@')) return { id: email(s, what), kind: 'email' };
  throw new BadIdentifier(what, `must be ${[...people.map((p) => `${p.name} (${p.example})`), 'an e-mail address'].join(' or ')}`);
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
