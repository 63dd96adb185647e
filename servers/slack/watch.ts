// One reader of the approvals channel for every request waiting in it. Slack allows a Tier 3
// method about 50 calls a minute per app and workspace; reading each pending request's thread
// every interval would spend that on two requests. Instead, each interval costs one
// `conversations.history` read of the channel from the oldest watched request on (its parents
// carry `reply_count`, `latest_reply` and `reactions`), then `conversations.replies` only for the
// threads whose replies changed since the last read — however many requests wait. A 429 is
// honoured: nothing is read before its Retry-After ends.
import type { WebClient } from '@slack/web-api';
import type { SlackMsg } from './answers.js';

/** A request's thread as last read: its parent (with reactions) and its replies, parent first. */
export interface Thread {
  parent: SlackMsg;
  replies: SlackMsg[];
  /** when this read began (ms), and when the one before it began: reactions new in it happened between */
  at: number;
  prev: number;
}

type Listener = { onThread(t: Thread): void; onError(code: string): void };

interface Watched {
  listeners: Set<Listener>;
  /** `reply_count|latest_reply` at the last replies read */
  sig?: string;
  replies: SlackMsg[];
  /** kept for one-off reads (late answers) until then */
  keepUntil: number;
  /** one-off reads waiting for the next pass */
  waiting: { resolve(t: Thread | undefined): void; reject(e: unknown): void }[];
}

/** Slack errors that no retry can cure: the approvals credential or channel is gone. */
export const REFUSED = new Set([
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'account_inactive',
  'channel_not_found',
  'not_in_channel',
  'missing_scope',
]);

export class ChannelWatch {
  private watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lastAt = 0;
  /** Slack calls this watch made, by method: what the budget is measured on */
  readonly calls = new Map<string, number>();

  constructor(
    private web: WebClient,
    readonly channel: string,
    private pollMs: number,
    private warn: (m: string) => void = () => {},
  ) {}

  /** Calls `l` with the thread of request `ts` after each read, until the returned function is called. */
  watch(ts: string, l: Listener): () => void {
    const w = this.entry(ts);
    w.listeners.add(l);
    this.schedule(0);
    return () => {
      w.listeners.delete(l);
      this.forget(ts);
    };
  }

  /** The thread of `ts` as the next read finds it (undefined if it is gone): late answers ride on the shared read. */
  read(ts: string): Promise<Thread | undefined> {
    const w = this.entry(ts);
    w.keepUntil = Math.max(w.keepUntil, Date.now() + 3 * this.pollMs);
    const p = new Promise<Thread | undefined>((resolve, reject) => w.waiting.push({ resolve, reject }));
    this.schedule(0);
    return p;
  }

  private entry(ts: string): Watched {
    let w = this.watched.get(ts);
    if (!w) this.watched.set(ts, (w = { listeners: new Set(), replies: [], keepUntil: 0, waiting: [] }));
    return w;
  }

  private forget(ts: string): void {
    const w = this.watched.get(ts);
    if (w && !w.listeners.size && !w.waiting.length && w.keepUntil <= Date.now()) this.watched.delete(ts);
  }

  private schedule(ms: number): void {
    if (this.running || !this.watched.size) return;
    if (this.timer) {
      if (ms > 0) return;
      // a new request reads at once only if the last read is a whole interval old
      ms = Math.max(0, this.lastAt + this.pollMs - Date.now());
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => void this.pass(), ms);
    this.timer.unref?.();
  }

  private count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  private async pass(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    let wait = this.pollMs;
    const at = Date.now();
    const prev = this.lastAt || at - this.pollMs;
    this.lastAt = at;
    try {
      const tss = [...this.watched.keys()];
      const parents = await this.history(tss);
      for (const ts of tss) {
        const w = this.watched.get(ts);
        if (!w) continue;
        const parent = parents.get(ts);
        if (!parent) {
          for (const x of w.waiting.splice(0)) x.resolve(undefined);
          continue;
        }
        const sig = `${parent.reply_count ?? 0}|${parent.latest_reply ?? ''}`;
        if (sig !== w.sig && (parent.reply_count ?? 0) > 0) {
          this.count('conversations.replies');
          const r = await this.web.conversations.replies({ channel: this.channel, ts, limit: 200 });
          w.replies = (r.messages ?? []) as SlackMsg[];
        }
        w.sig = sig;
        const thread: Thread = { parent, replies: w.replies.length ? w.replies : [parent], at, prev };
        for (const l of [...w.listeners]) l.onThread(thread);
        for (const x of w.waiting.splice(0)) x.resolve(thread);
      }
    } catch (e) {
      const err = e as { data?: { error?: string }; retryAfter?: number; message?: string };
      const code = err.data?.error;
      if (err.retryAfter) wait = Math.max(wait, err.retryAfter * 1000);
      for (const w of this.watched.values()) for (const x of w.waiting.splice(0)) x.reject(e);
      if (code && REFUSED.has(code))
        for (const w of this.watched.values()) for (const l of [...w.listeners]) l.onError(code);
      else
        this.warn(
          `the approvals channel could not be read (${code ?? err.message ?? 'request failed'}); reading again in ${Math.ceil(wait / 1000)}s`,
        );
    } finally {
      this.running = false;
      for (const ts of [...this.watched.keys()]) this.forget(ts);
      this.schedule(wait);
    }
  }

  /** One history read from the oldest watched request on (paged), its parents by ts. */
  private async history(tss: string[]): Promise<Map<string, SlackMsg>> {
    const want = new Set(tss);
    const oldest = tss.reduce((a, b) => (Number(a) <= Number(b) ? a : b));
    const out = new Map<string, SlackMsg>();
    let cursor: string | undefined;
    do {
      this.count('conversations.history');
      const r = await this.web.conversations.history({
        channel: this.channel,
        oldest,
        inclusive: true,
        limit: 200,
        ...(cursor ? { cursor } : {}),
      });
      for (const m of (r.messages ?? []) as SlackMsg[]) if (m.ts && want.has(m.ts)) out.set(m.ts, m);
      cursor = r.response_metadata?.next_cursor || undefined;
    } while (cursor && out.size < want.size);
    return out;
  }
}
