// Slack's published rate limits, as the sandbox enforces them: each Web API method has a tier, a
// number of calls a minute per app and workspace (Tier 1 ≈ 1, Tier 2 ≈ 20, Tier 3 ≈ 50, Tier 4 ≈
// 100); chat.postMessage is special: about one message a second per channel, bursts allowed (here
// a minute's worth), and several hundred a minute per workspace. A call over its limit is answered
// HTTP 429 with `Retry-After` (seconds) and `{ok:false, error:'ratelimited'}`, and does not count.
// A `speedup` shortens every window by that factor (tests that must make many calls quickly); the
// default, 1, is Slack's own budget.

/** calls a minute per app and workspace */
export const TIER_LIMITS = { 1: 1, 2: 20, 3: 50, 4: 100 } as const;
export type Tier = keyof typeof TIER_LIMITS;

/** The tier of each method the sandbox serves (api.slack.com/methods, "Rate limits"). */
export const METHOD_TIERS: Record<string, Tier | 'post'> = {
  'auth.test': 4,
  'oauth.v2.access': 4,
  'conversations.list': 2,
  'conversations.info': 3,
  'conversations.history': 3,
  'conversations.replies': 3,
  'chat.postMessage': 'post',
  'chat.update': 3,
  'chat.delete': 3,
  'chat.getPermalink': 4,
  'reactions.add': 3,
  'users.list': 2,
  'users.info': 4,
  'search.messages': 2,
};

/** chat.postMessage: per channel and per workspace, a minute's worth */
export const POST_PER_CHANNEL = 60;
export const POST_PER_WORKSPACE = 600;

const MINUTE = 60_000;

export class RateTiers {
  /** key → the times of the calls inside its window, oldest first */
  private calls = new Map<string, number[]>();
  /** every 429 the sandbox answered, per method */
  readonly limited = new Map<string, number>();

  constructor(readonly speedup = 1) {
    if (!(speedup >= 1)) throw new Error(`a rate speedup is a factor of at least 1, not ${speedup}`);
  }

  /**
   * Counts a call of `method` by `app` in `team`, or refuses it: the seconds to wait (Slack's
   * Retry-After, at least 1), or 0 when it may go. `channel` matters for chat.postMessage only.
   */
  take(app: string, team: string, method: string, channel?: string, now = Date.now()): number {
    const tier = METHOD_TIERS[method];
    if (tier === undefined) return 0;
    const window = MINUTE / this.speedup;
    const keys: [string, number][] =
      tier === 'post'
        ? [
            [`${app}|${team}|post|${channel ?? ''}`, POST_PER_CHANNEL],
            [`${app}|${team}|post`, POST_PER_WORKSPACE],
          ]
        : [[`${app}|${team}|${method}`, TIER_LIMITS[tier]]];
    let wait = 0;
    for (const [key, limit] of keys) {
      const times = this.inWindow(key, now - window);
      if (times.length >= limit) wait = Math.max(wait, times[times.length - limit]! + window - now);
    }
    if (wait > 0) {
      this.limited.set(method, (this.limited.get(method) ?? 0) + 1);
      return Math.max(1, Math.ceil(wait / 1000));
    }
    for (const [key] of keys) this.calls.get(key)!.push(now);
    return 0;
  }

  private inWindow(key: string, since: number): number[] {
    let times = this.calls.get(key);
    if (!times) this.calls.set(key, (times = []));
    let drop = 0;
    while (drop < times.length && times[drop]! <= since) drop++;
    if (drop) times.splice(0, drop);
    return times;
  }
}
