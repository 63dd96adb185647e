// Which calls of a trail `fleet audit show` (table, custody, JSON or HTML) shows: by tool, by actor
// (compared in canonical form: a look-alike is refused, not matched), by decision, since a time.
import { parseDuration } from '../base/duration.js';
import { BadIdentifier, canonical } from '../base/identity.js';
import type { CallRow } from './read.js';

export interface ShowFilter {
  tool?: string;
  actor?: string;
  decision?: string;
  since?: string;
}

export function sinceTime(since: string, now = Date.now()): number {
  const d = parseDuration(since);
  if (d !== undefined) return now - d;
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw new Error(`--since takes a duration (30m, 2h, 7d) or a date, not "${since}"`);
  return t;
}

/** An --actor filter in canonical form (a look-alike is refused, not matched). */
export function actorFilter(raw: string): string {
  try {
    return canonical(raw);
  } catch (e) {
    if (e instanceof BadIdentifier) throw new Error(`--actor ${e.why}`);
    throw e;
  }
}

/** The filter as a predicate; its arguments are checked (and refused) at once. */
export function rowFilter(f: ShowFilter, now = Date.now()): (r: CallRow) => boolean {
  const since = f.since ? sinceTime(f.since, now) : undefined;
  const actor = f.actor !== undefined ? actorFilter(f.actor) : undefined;
  return (r) =>
    !(
      (f.tool && r.tool !== f.tool) ||
      (actor && r.actor !== actor) ||
      (f.decision && r.decision !== f.decision) ||
      (since !== undefined && Date.parse(r.time) < since)
    );
}
