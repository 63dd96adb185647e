// Suspensions: `fleet suspend <instance | client:NAME>` writes one here and every process serving
// the instance (or serving that client) refuses calls from then on; `fleet resume` lifts it. They
// live in the embedded state folder ($FLEET_STATE_DIR, default .fleet/state) as one locked JSON
// file shared by every process on the machine; the call path reads it through `activeSuspension`
// only, cached for at most SUSPENSION_CACHE_MS, so moving it to a shared store is one function.
import { readFileSync } from 'node:fs';
import { stateFile, updateState } from './files.js';

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

export const suspensionsFile = (env: NodeJS.ProcessEnv) => stateFile(env, 'fleet', 'suspensions');

export async function addSuspension(env: NodeJS.ProcessEnv, s: Suspension): Promise<Suspension | undefined> {
  return updateState<Store, Suspension | undefined>(suspensionsFile(env), () => ({ suspensions: {} }), (st) => {
    const before = st.suspensions[s.target];
    st.suspensions[s.target] = s;
    return before;
  });
}

export async function removeSuspension(env: NodeJS.ProcessEnv, target: string): Promise<Suspension | undefined> {
  return updateState<Store, Suspension | undefined>(suspensionsFile(env), () => ({ suspensions: {} }), (st) => {
    const before = st.suspensions[target];
    delete st.suspensions[target];
    return before;
  });
}

export function listSuspensions(env: NodeJS.ProcessEnv): Suspension[] {
  return Object.values(read(suspensionsFile(env)).suspensions);
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
export function activeSuspension(env: NodeJS.ProcessEnv, instance: string, client: string | undefined, now = Date.now()): Suspension | undefined {
  const file = suspensionsFile(env);
  let c = cache.get(file);
  if (!c || now - c.at >= SUSPENSION_CACHE_MS || now < c.at) {
    try {
      c = { at: now, store: read(file) };
    } catch (e) {
      c = { at: now, error: e as Error };
    }
    cache.set(file, c);
  }
  if (c.error) throw c.error;
  const s = c.store!.suspensions;
  return s[instance] ?? (client ? s[`client:${client}`] : undefined);
}
