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
import { SUSPENSION_CACHE_MS } from '../../../shared/state/suspension.js';
import type { StateStore, Suspension } from '../../../shared/state/store.js';
import { manifestFiles } from '../../../shared/review/verify.js';
import { CONNECTORS } from '../connectors.js';
import { instanceStore } from '../compose/store.js';

export interface SuspendOptions {
  scopes: string;
  reason?: string;
}

const who = (env: NodeJS.ProcessEnv) => env.FLEET_ACTOR || safeUser();
function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The instances a target covers: one instance, or every instance for a client. */
function covered(target: string, scopes: string): string[] {
  const all = manifestFiles(scopes).map((f) => basename(f).replace(/\.ya?ml$/, ''));
  if (target.startsWith('client:')) {
    if (!/^client:[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(target)) throw new Error(`"${target}" is not a client name: use client:NAME (letters, digits, . _ -)`);
    return all;
  }
  if (!all.includes(target)) throw new Error(`no instance "${target}" in ${scopes} (known: ${all.join(', ')}); a client is named client:NAME`);
  return [target];
}

/** Runs `fn` on the state of each instance (each opened and closed in turn). */
async function eachState<T>(instances: string[], scopes: string, fn: (s: StateStore, id: string) => Promise<T>): Promise<T[]> {
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
  state.audit.append({ v: 1, call: randomUUID(), time: new Date().toISOString(), instance: id, tool: `fleet ${action}`, phase: 'admin', decision: action, actor: s.by, actor_via: 'env', reason: s.reason, target: s.target }, true);

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

export async function suspendCmd(target: string, o: SuspendOptions, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), env = process.env): Promise<number> {
  const reason = o.reason?.trim();
  if (!reason) throw new Error('--reason is required: say why, it is shown to every refused caller and kept in the trail');
  const instances = covered(target, o.scopes);
  const s: Suspension = { target, reason, by: who(env), at: new Date().toISOString() };
  // suspensions are fleet-wide in a store every instance shares: one write, then one record per trail
  const [where] = await eachState(instances, o.scopes, async (state, id) => {
    if (id === instances[0]) await state.suspensions.put(s);
    await record(state, id, 'suspend', s);
    return state.engine === 'postgres' ? 'the shared PostgreSQL store (every replica)' : `this machine's state folder (${basename(state.suspensions.where)})`;
  });
  const minted = target.startsWith('client:') ? [] : mintedOf(instances, o.scopes);
  out(`suspended ${target}: ${reason}`);
  out(`  written to ${where}: every process serving ${target.startsWith('client:') ? 'any instance refuses this client' : target} refuses calls within ${SUSPENSION_CACHE_MS / 1000} s (and again before any call that was waiting for approval runs)`);
  out(minted.length
    ? `  minted credentials: every process serving ${minted.join(', ')} deletes its minted upstream token within ${(2 * SUSPENSION_CACHE_MS) / 1000} s and mints none until resumed`
    : `  minted credentials: none to revoke — ${target.startsWith('client:') ? 'a client holds no upstream token' : `${target} runs on its configured credential; rotate it at the upstream if it may be compromised`}`);
  out(`  recorded in the audit trail of ${instances.join(', ')}; lift with \`fleet resume ${target}\``);
  return 0;
}

export async function resumeCmd(target: string, o: SuspendOptions, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), env = process.env): Promise<number> {
  const instances = covered(target, o.scopes);
  let before: Suspension | undefined;
  let now: Suspension[] = [];
  await eachState([instances[0]!], o.scopes, async (state) => {
    before = await state.suspensions.remove(target);
    if (!before) now = await state.suspensions.list();
  });
  if (!before) throw new Error(`${target} is not suspended (suspended now: ${now.map((x) => x.target).join(', ') || 'nothing'})`);
  const was = before;
  const s: Suspension = { target, reason: o.reason?.trim() || `lifts: ${was.reason}`, by: who(env), at: new Date().toISOString() };
  await eachState(instances, o.scopes, (state, id) => record(state, id, 'resume', s));
  out(`resumed ${target} (suspended since ${was.at} by ${was.by}: ${was.reason}); calls are served again within ${SUSPENSION_CACHE_MS / 1000} s${mintedOf(instances, o.scopes).length && !target.startsWith('client:') ? ', and a fresh token is minted' : ''}`);
  return 0;
}
