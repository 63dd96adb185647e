// `fleet suspend <instance | client:NAME> --reason ...` and `fleet resume <target>`: revocation in
// one command. The suspension goes into the embedded state folder that every process serving an
// instance on this machine reads (shared/state/suspension.ts); each refuses calls within
// SUSPENSION_CACHE_MS of this command returning. Both are audit records in the trail of every
// instance they cover.
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { basename } from 'node:path';
import { AuditLog } from '../../../shared/audit/log.js';
import { addSuspension, listSuspensions, removeSuspension, SUSPENSION_CACHE_MS, type Suspension } from '../../../shared/state/suspension.js';
import { manifestFiles } from '../../../shared/review/verify.js';
import { fleetDir } from '../../../shared/base/install.js';
import { auditFile } from './serve.js';

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

async function record(instances: string[], scopes: string, env: NodeJS.ProcessEnv, action: 'suspend' | 'resume', s: Suspension): Promise<void> {
  for (const id of instances) {
    const log = new AuditLog(auditFile(id, scopes, env), id);
    try {
      await log.append({ v: 1, call: randomUUID(), time: new Date().toISOString(), instance: id, tool: `fleet ${action}`, phase: 'admin', decision: action, actor: s.by, actor_via: 'env', reason: s.reason, target: s.target });
    } finally {
      log.close();
    }
  }
}

export async function suspendCmd(target: string, o: SuspendOptions, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), env = process.env): Promise<number> {
  const reason = o.reason?.trim();
  if (!reason) throw new Error('--reason is required: say why, it is shown to every refused caller and kept in the trail');
  const instances = covered(target, o.scopes);
  const s: Suspension = { target, reason, by: who(env), at: new Date().toISOString() };
  await addSuspension(fleetDir('state', o.scopes, env), s);
  await record(instances, o.scopes, env, 'suspend', s);
  out(`suspended ${target}: ${reason}`);
  out(`  every process serving ${target.startsWith('client:') ? 'any instance refuses this client' : target} with this state folder refuses calls within ${SUSPENSION_CACHE_MS / 1000} s (and again before any call that was waiting for approval runs)`);
  out('  minted credentials: none to revoke — this build runs on the configured credential; rotate it at the upstream if it may be compromised');
  out(`  recorded in the audit trail of ${instances.join(', ')}; lift with \`fleet resume ${target}\``);
  return 0;
}

export async function resumeCmd(target: string, o: SuspendOptions, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), env = process.env): Promise<number> {
  const instances = covered(target, o.scopes);
  const before = await removeSuspension(fleetDir('state', o.scopes, env), target);
  if (!before) {
    const now = listSuspensions(fleetDir('state', o.scopes, env)).map((x) => x.target);
    throw new Error(`${target} is not suspended (suspended now: ${now.join(', ') || 'nothing'})`);
  }
  await record(instances, o.scopes, env, 'resume', { target, reason: o.reason?.trim() || `lifts: ${before.reason}`, by: who(env), at: new Date().toISOString() });
  out(`resumed ${target} (suspended since ${before.at} by ${before.by}: ${before.reason}); calls are served again within ${SUSPENSION_CACHE_MS / 1000} s`);
  return 0;
}
