// Suspensions: `fleet suspend <instance | client:NAME>` writes one here and every process serving
// the instance (or serving that client) refuses calls from then on; `fleet resume` lifts it. They
// live in the embedded state folder ($FLEET_STATE_DIR, default .fleet/state beside the scopes) as one locked JSON
// file shared by every process on the machine; the call path reads it through `activeSuspension`
// only, cached for at most SUSPENSION_CACHE_MS, so moving it to a shared store is one function.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { updateState } from './files.js';

/** How long a process may keep using what it last read: the bound on how fast a suspension bites. */
export const SUSPENSION_CACHE_MS = 1000;

export interface Suspension {
  /** "slack.prod" for an instance, "client:blogbot-publish" for a client */
  target: string;
  reason: string;
  /** who suspended (FLEET_ACTOR or the OS user) */
  by: string;
  at: string;
}

type Store = { suspensions: Record<string, Suspension> };

/** `dir` is the instance's state folder (fleetDir('state', scopes)) */
export const suspensionsFile = (dir: string) => join(dir, 'fleet.suspensions.json');

export async function addSuspension(dir: string, s: Suspension): Promise<Suspension | undefined> {
  return updateState<Store, Suspension | undefined>(suspensionsFile(dir), () => ({ suspensions: {} }), (st) => {
    const before = st.suspensions[s.target];
    st.suspensions[s.target] = s;
    return before;
  });
}

export async function removeSuspension(dir: string, target: string): Promise<Suspension | undefined> {
  return updateState<Store, Suspension | undefined>(suspensionsFile(dir), () => ({ suspensions: {} }), (st) => {
    const before = st.suspensions[target];
    delete st.suspensions[target];
    return before;
  });
}

export function listSuspensions(dir: string): Suspension[] {
  return Object.values(read(suspensionsFile(dir)).suspensions);
}

function read(file: string): Store {
  try {
    const st = JSON.parse(readFileSync(file, 'utf8')) as Store;
    if (!st || typeof st.suspensions !== 'object') throw new Error('not a suspensions file');
    return st;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { suspensions: {} };
    throw new Error(`suspensions file ${file} is unreadable (${(e as Error).message}); calls are refused until it is fixed or removed`);
  }
}

const cache = new Map<string, { at: number; store?: Store; error?: Error }>();

/**
 * The suspension that stops a call to `instance` from `client`, if any. Throws when the file cannot
 * be read: the caller refuses the call (fail closed).
 */
export function activeSuspension(dir: string, instance: string, client: string | undefined, now = Date.now()): Suspension | undefined {
  let c = cache.get(dir);
  if (!c || now - c.at >= SUSPENSION_CACHE_MS || now < c.at) {
    try {
      c = { at: now, store: read(suspensionsFile(dir)) };
    } catch (e) {
      c = { at: now, error: e as Error };
    }
    cache.set(dir, c);
  }
  if (c.error) throw c.error;
  const s = c.store!.suspensions;
  return s[instance] ?? (client ? s[`client:${client}`] : undefined);
}
