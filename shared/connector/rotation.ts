// A rotating credential's life (Slack's token rotation): the refresh token is exchanged for a
// short-lived access token at start, and again when a third of its life is left; each exchange
// kills the refresh token it used and hands out the next one, which is kept in the instance's state
// folder (one locked file, mode 0600, shared by every process of the instance on this machine) so
// the next start or a sibling process continues the chain. A sibling finds a fresh access token in
// that file and adopts it instead of exchanging again. Every exchange is an audit record with the
// expiry and scopes, never a token. Rotation bounds how long a leaked token works, not what it may
// do: the new token is checked against the manifest like any other (`verify`).
import { createHash } from 'node:crypto';
import type { AuditStore } from '../state/store.js';
import type { Log } from '../base/log.js';
import type { Manifest } from '../base/manifest.js';
import type { Redactor } from '../base/redaction.js';
import { recordCredential } from './credential-record.js';
import { updateState } from '../state/files.js';
import { StartupError } from '../base/errors.js';
import type { RotatedToken } from './tool.js';

/** What the state file holds: the chain's latest pair. Secrets: never logged, never audited. */
interface Chain {
  /** sha256 of the refresh token the manifest's reference held when this chain began */
  seed?: string;
  refresh_token?: string;
  access_token?: string;
  expires_at?: number;
  rotated_at?: number;
}

export interface RotationDeps {
  manifest: Manifest;
  /** the state file: `<state folder>/<instance>.rotation.json` */
  file: string;
  /** the refresh token the manifest's reference holds now */
  seed: string;
  exchange(refreshToken: string): Promise<RotatedToken>;
  audit: Pick<AuditStore, 'append'>;
  redactor: Redactor;
  log: Log;
  /** checks a renewed access token like the first one (identity, scopes) and points the client at it; throws to refuse it */
  accept?: (access: string) => Promise<void>;
  /** a renewed token was refused: the instance must stop */
  fatal?: (e: Error) => void;
  now?: () => number;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export class RotatingCredential {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private expiresAt = 0;
  private life = 0;
  accept: ((access: string) => Promise<void>) | undefined;
  fatal: ((e: Error) => void) | undefined;

  constructor(private d: RotationDeps) {
    this.accept = d.accept;
    this.fatal = d.fatal;
    d.redactor.add(d.seed);
  }

  private get now() {
    return (this.d.now ?? Date.now)();
  }

  /** The access token to start with (a sibling's fresh one, or a new exchange); schedules renewal. */
  async start(): Promise<string> {
    const access = await this.next('rotate');
    this.schedule();
    return access;
  }

  /**
   * Under the state file's lock: a fresh access token another process already obtained is adopted;
   * otherwise the chain's refresh token (or the reference's, when it holds a new one) is exchanged
   * and the new pair written back before the lock is released.
   */
  private async next(action: 'rotate' | 'renew'): Promise<string> {
    const seed = sha(this.d.seed);
    const from = { source: '' };
    const got = await updateState<
      Chain,
      { access: string; expiresAt: number; rotatedAt: number; scopes?: string[]; adopted: boolean }
    >(
      this.d.file,
      () => ({}),
      async (st) => {
        const same = st.seed === seed && !!st.refresh_token;
        if (same && st.access_token && st.expires_at && st.rotated_at && !this.due(st.expires_at, st.rotated_at)) {
          this.d.redactor.add(st.access_token);
          this.d.redactor.add(st.refresh_token!);
          return { access: st.access_token, expiresAt: st.expires_at, rotatedAt: st.rotated_at, adopted: true };
        }
        from.source = same ? 'state' : 'reference';
        const refresh = same ? st.refresh_token! : this.d.seed;
        this.d.redactor.add(refresh);
        let t: RotatedToken;
        try {
          t = await this.d.exchange(refresh);
        } catch (e) {
          const where = same
            ? `the refresh token kept in ${this.d.file}`
            : `the refresh token in ${this.d.manifest.credential}`;
          throw new StartupError(
            `the token exchange with ${where} failed: ${(e as Error).message}; if the app was reinstalled or the chain broke, put its new refresh token in ${this.d.manifest.credential} (${this.d.manifest.file}:${this.d.manifest.line('credential')})`,
          );
        }
        this.d.redactor.add(t.access);
        this.d.redactor.add(t.refresh);
        Object.assign(st, {
          seed,
          refresh_token: t.refresh,
          access_token: t.access,
          expires_at: t.expiresAt,
          rotated_at: this.now,
        } satisfies Chain);
        return { access: t.access, expiresAt: t.expiresAt, rotatedAt: this.now, scopes: t.scopes, adopted: false };
      },
      this.d.manifest.timeoutMs + 5000,
    ).catch(async (e) => {
      await this.record(action, {
        source: from.source || undefined,
        outcome: 'error',
        error: (e as Error).message,
      }).catch(() => {});
      throw e;
    });
    this.expiresAt = got.expiresAt;
    this.life = Math.max(1000, got.expiresAt - got.rotatedAt);
    await this.record(got.adopted ? 'adopt' : action, {
      expires_on: new Date(got.expiresAt).toISOString(),
      ...(got.adopted ? {} : { source: from.source }),
      ...(got.scopes ? { scopes: got.scopes } : {}),
      outcome: 'ok',
    });
    return got.access;
  }

  /** True when a third of the token's life or less is left. */
  private due(expiresAt: number, rotatedAt: number): boolean {
    return expiresAt - this.now <= (expiresAt - rotatedAt) / 3;
  }

  private schedule(delay = Math.max(1000, this.expiresAt - this.now - this.life / 3)): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    let access: string;
    try {
      access = await this.next('renew');
    } catch (e) {
      const left = this.expiresAt - this.now;
      this.d.log.error(
        `renewing the rotated token failed (${(e as Error).message}); the current one expires at ${new Date(this.expiresAt).toISOString()}`,
      );
      this.schedule(Math.max(1000, Math.min(60_000, left / 10)));
      return;
    }
    try {
      await this.accept?.(access);
    } catch (e) {
      this.d.log.error(`the renewed token was refused: ${(e as Error).message}`);
      await this.record('renew', { outcome: 'refused', error: (e as Error).message }).catch(() => {});
      this.stop();
      this.fatal?.(e as Error);
      return;
    }
    this.schedule();
  }

  /** Stops renewing (on exit). The chain stays in the state file for the next start. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async record(action: string, fields: Record<string, unknown>): Promise<void> {
    await recordCredential(this.d, this.now, action, fields);
  }
}
