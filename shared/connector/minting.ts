// A minted credential's life: at start, delete what an earlier process of this instance on this
// host left behind (the sweep), then mint a token holding exactly what the manifest declares;
// renew it when a third of its life is left (a new token, the client rebound, the old one deleted
// once calls on it are done); delete it on exit. Every step is an audit record with the token's
// id, expiry and policy digest, never its value. The broker credential is used for nothing else.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AuditStore } from '../state/store.js';
import type { Log } from '../base/log.js';
import type { Manifest } from '../manifest/schema.js';
import type { Redactor } from '../call/redaction.js';
import type { Minter, MintedToken } from './tool.js';

/** "fleet <instance> <host> ": every token this instance mints on this host starts with it. */
export function tokenPrefix(manifest: Manifest, host = hostname()): string {
  return `fleet ${manifest.id} ${host.replace(/\s+/g, '-').slice(0, 40)} `;
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface CredentialDeps {
  manifest: Manifest;
  minter: Minter;
  prefix: string;
  audit: Pick<AuditStore, 'append'>;
  redactor: Redactor;
  log: Log;
  /** the client to rebind on renewal, once the upstream is open */
  rebind?: (value: string) => void;
  now?: () => number;
}

type Action = 'mint' | 'renew' | 'revoke' | 'sweep';

export class MintedCredential {
  private current: MintedToken | undefined;
  /** tokens replaced by a renewal, deleted after calls on them had time to finish */
  private retiring = new Set<MintedToken>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  rebind: ((value: string) => void) | undefined;

  constructor(private d: CredentialDeps) {
    this.rebind = d.rebind;
  }

  private get now() {
    return (this.d.now ?? Date.now)();
  }

  get token(): MintedToken | undefined {
    return this.current;
  }

  /** a mint under way, which stop() waits for so that no token outlives the process */
  private pending: Promise<unknown> | undefined;

  /** Sweeps leftovers, mints the first token, schedules its renewal; returns the token. */
  async start(): Promise<MintedToken> {
    const run = (async () => {
      await this.sweep();
      if (this.stopped) throw new Error('the instance is stopping');
      const t = await this.mintOne('mint');
      this.schedule();
      return t;
    })();
    this.pending = run.catch(() => {});
    return run;
  }

  private async sweep(): Promise<void> {
    const mine = `${this.d.prefix}${process.pid}`;
    let found: { id: string; name: string }[];
    try {
      found = await this.d.minter.list();
    } catch (e) {
      // Not fatal: leftovers expire on their own. Say so, and go on.
      this.d.log.warn(`could not list earlier minted tokens to sweep them: ${(e as Error).message}`);
      return;
    }
    for (const t of found) {
      if (!t.name.startsWith(this.d.prefix) || t.name === mine) continue;
      const pid = Number(t.name.slice(this.d.prefix.length));
      // A token of a live sibling process (another replica of this instance) is its own.
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
      try {
        await this.d.minter.revoke(t.id);
        await this.record('sweep', { token_id: t.id, token_name: t.name, outcome: 'ok' });
      } catch (e) {
        await this.record('sweep', { token_id: t.id, token_name: t.name, outcome: 'error', error: (e as Error).message });
      }
    }
  }

  private async mintOne(action: 'mint' | 'renew'): Promise<MintedToken> {
    const ttl = this.d.manifest.mint!.ttlMs;
    const t = await this.d.minter.mint(`${this.d.prefix}${process.pid}`, this.now + ttl);
    this.d.redactor.add(t.value);
    for (const v of t.secrets ?? []) this.d.redactor.add(v);
    this.current = t;
    await this.record(action, { ...describe(t), outcome: 'ok' });
    return t;
  }

  private schedule(): void {
    if (this.stopped || !this.current) return;
    // Renew when a third of the token's life is left.
    const left = this.current.expiresAt - this.now;
    const delay = Math.max(1000, left - this.d.manifest.mint!.ttlMs / 3);
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const old = this.current!;
    try {
      const minting = this.mintOne('renew');
      this.pending = minting.catch(() => {});
      const t = await minting;
      this.rebind?.(t.value);
      this.retiring.add(old);
      // Calls already sent with the old token finish within the instance timeout.
      setTimeout(() => void this.retire(old), this.d.manifest.timeoutMs + 1000).unref();
    } catch (e) {
      this.d.log.error(`renewing the minted token failed (${(e as Error).message}); the current one expires at ${new Date(old.expiresAt).toISOString()}`);
      // The current token still lives: the next attempt comes soon (schedule waits at least a second).
      await this.record('renew', { token_id: old.id, outcome: 'error', error: (e as Error).message }).catch(() => {});
    }
    this.schedule();
  }

  private async retire(t: MintedToken): Promise<void> {
    if (!this.retiring.delete(t)) return;
    await this.revokeOne(t, 'renewed');
  }

  private async revokeOne(t: MintedToken, reason: string): Promise<void> {
    try {
      await this.d.minter.revoke(t.id);
      await this.record('revoke', { ...describe(t), reason, outcome: 'ok' });
    } catch (e) {
      this.d.log.error(`could not delete minted token ${t.id}: ${(e as Error).message}; it expires at ${new Date(t.expiresAt).toISOString()}`);
      await this.record('revoke', { ...describe(t), reason, outcome: 'error', error: (e as Error).message }).catch(() => {});
    }
  }

  /** Deletes every live token of this process (on exit). */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pending;
    const all = [...this.retiring, ...(this.current ? [this.current] : [])];
    this.retiring.clear();
    this.current = undefined;
    await Promise.all(all.map((t) => this.revokeOne(t, reason)));
  }

  private async record(action: Action, fields: Record<string, unknown>): Promise<void> {
    const m = this.d.manifest;
    const r = { v: 1, call: randomUUID(), time: new Date(this.now).toISOString(), instance: m.id, owner: m.owner, manifest: m.hash, tool: '(credential)', phase: 'credential', action, ...fields };
    await this.d.audit.append(this.d.redactor.deep(r));
  }
}

/** What the trail keeps of a token: never its value. */
function describe(t: MintedToken) {
  return { token_id: t.id, token_name: t.name, expires_on: new Date(t.expiresAt).toISOString(), permissions: t.permissions, resources: t.resources, policy_digest: t.policyDigest };
}
