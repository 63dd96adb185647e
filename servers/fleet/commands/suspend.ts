// `fleet suspend <instance | client:NAME> --reason ...` and `fleet resume <target>`: revocation in
// one command. The suspension goes into the instances' state (shared/state/suspension.ts): the
// PostgreSQL store that every replica reads where fleet.yaml names one (`store:`), else the embedded
// state folder of this machine. Each serving process refuses calls within SUSPENSION_CACHE_MS of
// this command returning, and one that minted its upstream token deletes it and mints none until
// resumed. Both commands are audit records in the trail of every instance they cover.
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { loadManifest } from '../../../shared/manifest/load.js';
import { loadClients } from '../../../shared/manifest/clients.js';
import { actor, BadIdentifier, client, known } from '../../../shared/base/identity.js';
import { SUSPENSION_CACHE_MS } from '../../../shared/state/suspension.js';
import type { StateStore, Suspension } from '../../../shared/state/store.js';
import { instanceOf, manifestFiles } from '../../../shared/review/verify.js';
import { CONNECTORS } from '../connectors.js';
import { instanceStore } from '../compose/store.js';

export interface SuspendOptions {
  scopes: string;
  reason?: string;
}

const who = (env: NodeJS.ProcessEnv) => (env.FLEET_ACTOR ? actor(env.FLEET_ACTOR, 'FLEET_ACTOR').id : safeUser());
function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * The clients this folder declares: those of clients.yaml (HTTP), those its manifests admit by
 * name, and `local` (a stdio process that names none).
 */
function declaredClients(scopes: string): string[] {
  const names = ['local', ...Object.keys(loadClients(scopes).clients)];
  for (const f of manifestFiles(scopes)) {
    try {
      names.push(...(loadManifest(f, CONNECTORS).clients ?? []));
    } catch {
      // a manifest that does not load serves nobody
    }
  }
  return names;
}

/** Clients that called these instances (a stdio routine's FLEET_CLIENT is declared nowhere else). */
async function seenClients(instances: string[], scopes: string, wanted: string): Promise<string[]> {
  const seen = new Set<string>();
  await eachState(instances, scopes, async (state) => {
    if (seen.has(wanted)) return;
    try {
      for await (const line of state.audit.lines()) {
        if (!line.includes('"client_id"')) continue;
        try {
          const id = (JSON.parse(line) as { client_id?: unknown }).client_id;
          if (typeof id === 'string') seen.add(id);
        } catch {
          // a torn line names nobody
        }
        if (seen.has(wanted)) return;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // an instance that never served has no trail
    }
  });
  return [...seen];
}

/**
 * The target in its canonical form, and the instances it covers: one instance, or every instance
 * for a client. A client is known when this folder declares it or a trail shows it calling; a
 * target that names no instance and no known client is an error, never a suspension of nobody.
 */
async function covered(target: string, scopes: string): Promise<{ target: string; instances: string[] }> {
  const all = manifestFiles(scopes).map(instanceOf);
  if (target.startsWith('client:')) {
    try {
      const name = client(target.slice('client:'.length), 'the client');
      const declared = declaredClients(scopes);
      const knownOnes = declared.includes(name) ? declared : [...declared, ...(await seenClients(all, scopes, name))];
      return { target: `client:${known(name, client, knownOnes, 'the client')}`, instances: all };
    } catch (e) {
      if (e instanceof BadIdentifier) throw new Error(`"${target}": ${e.message}; nothing was suspended or resumed`);
      throw e;
    }
  }
  if (!all.includes(target))
    throw new Error(`no instance "${target}" in ${scopes} (known: ${all.join(', ')}); a client is named client:NAME`);
  return { target, instances: [target] };
}

/** Runs `fn` on the state of each instance (each opened and closed in turn). */
async function eachState<T>(
  instances: string[],
  scopes: string,
  fn: (s: StateStore, id: string) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (const id of instances) {
    const state = instanceStore(scopes, id);
    try {
      out.push(await fn(state, id));
    } finally {
      await state.close().catch(() => {});
    }
  }
  return out;
}

const record = (state: StateStore, id: string, action: 'suspend' | 'resume', s: Suspension) =>
  state.audit.append(
    {
      v: 1,
      call: randomUUID(),
      time: new Date().toISOString(),
      instance: id,
      tool: `fleet ${action}`,
      phase: 'admin',
      decision: action,
      actor: s.by,
      actor_via: 'env',
      reason: s.reason,
      target: s.target,
    },
    true,
  );

/** Instances among `ids` whose upstream token is minted per run (so there is one to revoke). */
function mintedOf(ids: string[], scopes: string): string[] {
  return ids.filter((id) => {
    try {
      return !!loadManifest(join(scopes, `${id}.yaml`), CONNECTORS).mint;
    } catch {
      return false; // a manifest that does not load serves nothing
    }
  });
}

export async function suspendCmd(
  named: string,
  o: SuspendOptions,
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  env = process.env,
): Promise<number> {
  const reason = o.reason?.trim();
  if (!reason)
    throw new Error('--reason is required: say why, it is shown to every refused caller and kept in the trail');
  const { target, instances } = await covered(named, o.scopes);
  const s: Suspension = { target, reason, by: who(env), at: new Date().toISOString() };
  // suspensions are fleet-wide in a store every instance shares: one write, then one record per trail
  const [where] = await eachState(instances, o.scopes, async (state, id) => {
    if (id === instances[0]) await state.suspensions.put(s);
    await record(state, id, 'suspend', s);
    return state.engine === 'postgres'
      ? 'the shared PostgreSQL store (every replica)'
      : `this machine's state folder (${basename(state.suspensions.where)})`;
  });
  const minted = target.startsWith('client:') ? [] : mintedOf(instances, o.scopes);
  out(`suspended ${target}: ${reason}`);
  out(
    `  written to ${where}: every process serving ${target.startsWith('client:') ? 'any instance refuses this client' : target} refuses calls within ${SUSPENSION_CACHE_MS / 1000} s (and again before any call that was waiting for approval runs)`,
  );
  out(
    minted.length
      ? `  minted credentials: every process serving ${minted.join(', ')} deletes its minted upstream token within ${(2 * SUSPENSION_CACHE_MS) / 1000} s and mints none until resumed`
      : `  minted credentials: none to revoke — ${target.startsWith('client:') ? 'a client holds no upstream token' : `${target} runs on its configured credential; rotate it at the upstream if it may be compromised`}`,
  );
  out(`  recorded in the audit trail of ${instances.join(', ')}; lift with \`fleet resume ${target}\``);
  return 0;
}

export async function resumeCmd(
  named: string,
  o: SuspendOptions,
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  env = process.env,
): Promise<number> {
  const { target, instances } = await covered(named, o.scopes);
  let before: Suspension | undefined;
  let now: Suspension[] = [];
  await eachState([instances[0]!], o.scopes, async (state) => {
    before = await state.suspensions.remove(target);
    if (!before) now = await state.suspensions.list();
  });
  if (!before)
    throw new Error(`${target} is not suspended (suspended now: ${now.map((x) => x.target).join(', ') || 'nothing'})`);
  const was = before;
  const s: Suspension = {
    target,
    reason: o.reason?.trim() || `lifts: ${was.reason}`,
    by: who(env),
    at: new Date().toISOString(),
  };
  await eachState(instances, o.scopes, (state, id) => record(state, id, 'resume', s));
  out(
    `resumed ${target} (suspended since ${was.at} by ${was.by}: ${was.reason}); calls are served again within ${SUSPENSION_CACHE_MS / 1000} s${mintedOf(instances, o.scopes).length && !target.startsWith('client:') ? ', and a fresh token is minted' : ''}`,
  );
  return 0;
}
