// Suspensions: `fleet suspend <instance | client:NAME>` puts one in the instance's state, and every
// process serving the instance (or serving that client) refuses calls from then on; `fleet resume`
// lifts it. Where the state is shared (PostgreSQL, `store:` in fleet.yaml) every replica sees it;
// the embedded engine keeps them in its state folder as one locked JSON file shared by every
// process on the machine (FileSuspensions). The call path reads them through `activeSuspension`
// only, cached for at most SUSPENSION_CACHE_MS per store: that is the bound on how fast one bites.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { updateState } from './files.js';
import { StateUnavailable, type Suspension, type SuspensionStore } from './store.js';

export type { Suspension } from './store.js';

/** How long a process may keep using what it last read: the bound on how fast a suspension bites. */
export const SUSPENSION_CACHE_MS = 1000;

type File = { suspensions: Record<string, Suspension> };

/** `dir` is the embedded state folder (fleetDir('state', scopes)) */
export const suspensionsFile = (dir: string) => join(dir, 'fleet.suspensions.json');

/** The embedded engine's suspensions: one locked JSON file in the state folder. */
export class FileSuspensions implements SuspensionStore {
  readonly where: string;
  constructor(dir: string) {
    this.where = suspensionsFile(dir);
  }
  put(s: Suspension): Promise<Suspension | undefined> {
    return this.update((st) => {
      const before = st.suspensions[s.target];
      st.suspensions[s.target] = s;
      return before;
    });
  }
  remove(target: string): Promise<Suspension | undefined> {
    return this.update((st) => {
      const before = st.suspensions[target];
      delete st.suspensions[target];
      return before;
    });
  }
  async list(): Promise<Suspension[]> {
    return Object.values(this.read().suspensions);
  }
  private async update(fn: (st: File) => Suspension | undefined): Promise<Suspension | undefined> {
    this.read(); // an unreadable file is refused, not overwritten
    return updateState<File, Suspension | undefined>(this.where, () => ({ suspensions: {} }), fn);
  }
  private read(): File {
    try {
      const st = JSON.parse(readFileSync(this.where, 'utf8')) as File;
      if (!st || typeof st.suspensions !== 'object') throw new Error('not a suspensions file');
      return st;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { suspensions: {} };
      throw new StateUnavailable(
        `suspensions file ${this.where} is unreadable (${(e as Error).message}); calls are refused until it is fixed or removed`,
      );
    }
  }
}

const cache = new WeakMap<SuspensionStore, { at: number; read: Promise<Map<string, Suspension>> }>();

/**
 * The suspension that stops a call to `instance` from `client`, if any, as `store` held it at most
 * SUSPENSION_CACHE_MS ago (callers meanwhile share one read). Throws when the store cannot be read:
 * the caller refuses the call (fail closed), and the store is read again after the same bound.
 */
export async function activeSuspension(
  store: SuspensionStore,
  instance: string,
  client: string | undefined,
  now = Date.now(),
): Promise<Suspension | undefined> {
  let c = cache.get(store);
  if (!c || now - c.at >= SUSPENSION_CACHE_MS || now < c.at) {
    // the read starts now, so what it returns is at least as new as `now`
    c = { at: now, read: store.list().then((l) => new Map(l.map((s) => [s.target, s]))) };
    c.read.catch(() => {}); // awaited below; a failure is kept for the bound, like an answer
    cache.set(store, c);
  }
  const all = await c.read;
  return all.get(instance) ?? (client ? all.get(`client:${client}`) : undefined);
}
