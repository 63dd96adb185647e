// A minted credential's life: at start, delete what an earlier process of this instance on this
// host left behind (the sweep), then mint a token holding exactly what the manifest declares;
// renew it when a third of its life is left (a new token, the client rebound, the old one deleted
// once calls on it are done); delete it on exit, and while the instance is suspended (`fleet
// suspend`: none is minted until it is lifted). Every step is an audit record with the token's
// id, expiry and policy digest, never its value. The broker credential is used for nothing else.
import { hostname } from 'node:os';
import type { AuditStore } from '../state/store.js';
import type { Log } from '../base/log.js';
import type { Manifest } from '../base/manifest.js';
import type { Redactor } from '../base/redaction.js';
import { recordCredential } from './credential-record.js';
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
  /**
   * Whether the instance is suspended now (`fleet suspend`), as a reason; polled every `pollMs`.
   * While it is, no token lives: the current one is deleted and none is minted until it is lifted.
   */
  suspended?: () => Promise<string | undefined>;
  pollMs?: number;
}

type Action = 'mint' | 'renew' | 'revoke' | 'sweep';

export class MintedCredential {
  private current: MintedToken | undefined;
  /** tokens replaced by a renewal, deleted after calls on them had time to finish */
  private retiring = new Set<MintedToken>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** the suspension that holds this credential: no token lives meanwhile */
  private held: string | undefined;
  private watch: NodeJS.Timeout | undefined;
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

  /**
   * Sweeps leftovers, mints the first token (once the instance is not suspended: until then the
   * promise waits), schedules its renewal and starts following suspensions; returns the token.
   */
  async start(): Promise<MintedToken> {
    const run = (async () => {
      await this.sweep();
      while (!this.stopped && (this.held = await this.isSuspended()))
        await new Promise((r) => setTimeout(r, this.d.pollMs ?? 1000));
      if (this.stopped) throw new Error('the instance is stopping');
      const t = await this.mintOne('mint');
      this.schedule();
      this.follow();
      return t;
    })();
    this.pending = run.catch(() => {});
    return run;
  }

  private async isSuspended(): Promise<string | undefined> {
    try {
      return await this.d.suspended?.();
    } catch {
      return undefined; // unreadable: calls are refused by the call path meanwhile; the token stays
    }
  }

  /** Polls the suspension: suspended deletes every live token, lifted mints a fresh one. */
  private follow(): void {
    if (!this.d.suspended || this.watch) return;
    let busy = false;
    this.watch = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      void (async () => {
        const why = await this.isSuspended();
        if (why && !this.held) await this.suspend(why);
        else if (!why && this.held) await this.resume();
      })().finally(() => (busy = false));
    }, this.d.pollMs ?? 1000);
    this.watch.unref();
  }

  /** The instance is suspended: every live token of this process is deleted, none is minted until resume(). */
  async suspend(why: string): Promise<void> {
    if (this.stopped || this.held) return;
    this.held = why;
    clearTimeout(this.timer);
    await this.pending;
    const all = [...this.retiring, ...(this.current ? [this.current] : [])];
    this.retiring.clear();
    this.current = undefined;
    await Promise.all(all.map((t) => this.revokeOne(t, `suspended: ${why}`)));
  }

  /**
   * Before a call: a token lives. One held by a suspension that has been lifted since is minted
   * now, so the first call after `fleet resume` does not wait for the next poll.
   */
  async ready(): Promise<void> {
    if (!this.held || this.stopped) return;
    const why = await this.isSuspended();
    if (why) throw new Error(`the instance is suspended (${why}) and its minted token deleted`);
    await this.resume();
    if (this.held)
      throw new Error('no token could be minted since the suspension was lifted; the next call tries again');
  }

  private resuming: Promise<void> | undefined;

  /** The suspension is lifted: a fresh token, the client rebound to it. */
  resume(): Promise<void> {
    return (this.resuming ??= this.mintAgain().finally(() => (this.resuming = undefined)));
  }

  private async mintAgain(): Promise<void> {
    if (this.stopped || !this.held) return;
    try {
      const minting = this.mintOne('mint', { reason: 'resumed' });
      this.pending = minting.catch(() => {});
      const t = await minting;
      this.held = undefined;
      this.rebind?.(t.value);
      this.schedule();
    } catch (e) {
      // still held: the next poll tries again
      this.d.log.error(
        `minting a token after the suspension was lifted failed (${(e as Error).message}); trying again`,
      );
      await this.record('mint', { reason: 'resumed', outcome: 'error', error: (e as Error).message }).catch(() => {});
    }
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
        await this.record('sweep', {
          token_id: t.id,
          token_name: t.name,
          outcome: 'error',
          error: (e as Error).message,
        });
      }
    }
  }

  private async mintOne(action: 'mint' | 'renew', more: Record<string, unknown> = {}): Promise<MintedToken> {
    const ttl = this.d.manifest.mint!.ttlMs;
    const t = await this.d.minter.mint(`${this.d.prefix}${process.pid}`, this.now + ttl);
    this.d.redactor.add(t.value);
    for (const v of t.secrets ?? []) this.d.redactor.add(v);
    this.current = t;
    await this.record(action, { ...describe(t), ...more, outcome: 'ok' });
    return t;
  }

  private schedule(): void {
    if (this.stopped || this.held || !this.current) return;
    // Renew when a third of the token's life is left.
    const left = this.current.expiresAt - this.now;
    const delay = Math.max(1000, left - this.d.manifest.mint!.ttlMs / 3);
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped || this.held) return;
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
      this.d.log.error(
        `renewing the minted token failed (${(e as Error).message}); the current one expires at ${new Date(old.expiresAt).toISOString()}`,
      );
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
      this.d.log.error(
        `could not delete minted token ${t.id}: ${(e as Error).message}; it expires at ${new Date(t.expiresAt).toISOString()}`,
      );
      await this.record('revoke', { ...describe(t), reason, outcome: 'error', error: (e as Error).message }).catch(
        () => {},
      );
    }
  }

  /** Deletes every live token of this process (on exit). */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watch);
    await this.pending;
    const all = [...this.retiring, ...(this.current ? [this.current] : [])];
    this.retiring.clear();
    this.current = undefined;
    await Promise.all(all.map((t) => this.revokeOne(t, reason)));
  }

  private async record(action: Action, fields: Record<string, unknown>): Promise<void> {
    await recordCredential(this.d, this.now, action, fields);
  }
}

/** What the trail keeps of a token: never its value. */
function describe(t: MintedToken) {
  return {
    token_id: t.id,
    token_name: t.name,
    expires_on: new Date(t.expiresAt).toISOString(),
    permissions: t.permissions,
    resources: t.resources,
    policy_digest: t.policyDigest,
  };
}
