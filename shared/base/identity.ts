// Canonical identifiers: who a call is for, who approved it and where it was asked are compared as
// IDs, never as free text. Each kind has a grammar; an identifier that does not match it, or that
// carries an invisible, bidi, control, whitespace or non-ASCII (look-alike) character, is refused
// rather than folded, so a near-miss can never become equal to the ID it imitates.
//
//   email       erin@example.com            (NFKC, then lower-cased; ASCII only)
//   thread      C0EDITORIAL/1767226200.000110   (a message as <channel>/<ts>, a ticket: plain ASCII)
//   client      blogbot-publish             (a routine's own name: lower-case, digits, . _ -)
//   (people)    the person IDs connectors contribute (PersonKind), each with its own grammar

/** A kind of person ID a connector contributes (ConnectorExtensions.people): an actor or approver of that kind. */
export interface PersonKind {
  /** the kind's name, kept in the trail as the actor's kind */
  kind: string;
  /** its grammar, in canonical form (an ID that does not match is not of this kind) */
  pattern: RegExp;
  /** how a message names it: "a <place> user ID" */
  name: string;
  example: string;
}

const people: PersonKind[] = [];

/**
 * The person kinds of the fleet's connectors, registered once by the program that lists them
 * (servers/fleet/connectors.ts): an actor is one of these, or an e-mail address.
 */
export function registerPeople(kinds: readonly PersonKind[]): void {
  for (const k of kinds) if (!people.some((p) => p.kind === k.kind)) people.push(k);
}

declare const canonicalBrand: unique symbol;
/** A string that went through this module's parser for its kind: only these compare as identities. */
export type Canonical<K extends string> = string & { readonly [canonicalBrand]: K };
/** a person: a member ID of a registered kind or a lower-cased e-mail address */
export type PersonId = Canonical<'person'>;
/** a routine: the client principal's name */
export type ClientId = Canonical<'client'>;

export class BadIdentifier extends Error {
  constructor(
    readonly what: string,
    readonly why: string,
  ) {
    super(`${what} ${why}`);
  }
}

const MAX = 256;
const EMAIL = /^[a-z0-9_%+-]+(\.[a-z0-9_%+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// a conversation: a message as <channel>/<ts>, a ticket, a run: opaque, but plain ASCII
const OPAQUE_THREAD = /^[A-Za-z0-9][A-Za-z0-9._:#/-]{0,127}$/;
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
    if (cp > 0x7e)
      return `carries the non-ASCII character ${hex(cp)}, which can imitate another (look-alikes are refused)`;
  }
  return undefined;
}

export function checked(what: string, raw: unknown): string {
  if (typeof raw !== 'string') throw new BadIdentifier(what, 'must be a printable string');
  const problem = characterProblem(raw);
  if (problem) throw new BadIdentifier(what, problem);
  return raw.normalize('NFKC');
}

export function email(raw: unknown, what = 'an e-mail address'): PersonId {
  const s = checked(what, raw).toLowerCase();
  if (!EMAIL.test(s) || s.split('@')[0]!.length > 64)
    throw new BadIdentifier(what, 'must be an e-mail address such as erin@example.com');
  return s as PersonId;
}

/** A thread: a message as <channel ID>/<ts>, or an opaque ASCII reference of another source. */
export function thread(raw: unknown, what = 'a thread'): string {
  const s = checked(what, raw);
  if (!OPAQUE_THREAD.test(s)) {
    throw new BadIdentifier(
      what,
      'must name a message as <channel ID>/<ts> (C0EDITORIAL/1767226200.000110), or be a plain reference of letters, digits and . _ : # / -',
    );
  }
  return s;
}

export function client(raw: unknown, what = 'a client name'): ClientId {
  const s = checked(what, raw);
  if (!CLIENT.test(s))
    throw new BadIdentifier(
      what,
      'must be lower-case letters, digits, dots, dashes or underscores (1 to 64), such as blogbot-publish',
    );
  return s as ClientId;
}

/** An actor: a person ID of a registered kind or an e-mail address, in canonical form, with its kind. */
export function actor(raw: unknown, what = 'the actor'): { id: PersonId; kind: string } {
  const s = checked(what, raw);
  const person = people.find((p) => p.pattern.test(s));
  if (person) return { id: s as PersonId, kind: person.kind };
  if (s.includes('@')) return { id: email(s, what), kind: 'email' };
  throw new BadIdentifier(
    what,
    `must be ${[...people.map((p) => `${p.name} (${p.example})`), 'an e-mail address'].join(' or ')}`,
  );
}

/** A person named in a reviewed file: parsed as an actor and already written in canonical form. */
export function person(raw: unknown, what = 'a person'): PersonId {
  const p = actor(raw, what);
  if (p.id !== raw) throw new BadIdentifier(what, `must be written as ${p.id} (the canonical form)`);
  return p.id;
}

/** The canonical form of an identifier of unknown kind (e.g. an `audit show --actor` filter). */
export function canonical(raw: string): PersonId {
  return actor(raw).id;
}

/**
 * The one known identifier that `raw` names, or a BadIdentifier that says so: a name that parses
 * but matches nobody known is an error, never a no-op (e.g. `fleet suspend client:<a near miss>`).
 */
export function known<T extends string>(
  raw: unknown,
  parse: (raw: unknown, what: string) => T,
  knownOnes: Iterable<string>,
  what: string,
): T {
  const id = parse(raw, what);
  const all = [...new Set(knownOnes)].sort();
  if (all.includes(id)) return id;
  throw new BadIdentifier(what, `"${id}" names nobody known here (known: ${all.join(', ') || 'none'})`);
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
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > max)
    throw new BadIdentifier(what, `must be a string of 1 to ${max} characters`);
  for (const ch of raw) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
      throw new BadIdentifier(what, `carries the control character ${hex(cp)}`);
    if (/\p{Cf}/u.test(ch)) throw new BadIdentifier(what, `carries the invisible or bidi character ${hex(cp)}`);
  }
  return raw.normalize('NFKC');
}
