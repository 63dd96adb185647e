// Where delivered answers (./events.ts) meet the requests waiting for them: each waiting request
// listens on its approvals channel and ts in this process. An answer Slack delivered to a replica
// where its request does not wait is handed on through the shared store's signals (PostgreSQL
// NOTIFY) to every process of the store, and the one where it waits takes it. One that waits
// nowhere yet is kept a short while: a request's ts is known only once chat.postMessage has
// answered, and a button pressed at once (or a reply sent over Socket Mode) can arrive before that
// answer does. After that it is dropped: the safety-net read (./watch.ts), or whoever resumes the
// request, reads the thread itself.
import type { Signals } from '../../shared/state/store.js';
import type { Delivered } from './events.js';
import type { Seen } from './answers.js';

const TOPIC = 'slack.approval-answers';

type Listener = (seen: Seen) => void;
const waiting = new Map<string, Set<Listener>>();
const key = (channel: string, ts: string) => `${channel}|${ts}`;

/** Answers delivered before anyone listened for their request: by key, each with when it came. */
const early = new Map<string, { seen: Seen; at: number }[]>();
const EARLY_MS = 60_000;
const EARLY_MAX = 256;

function keepEarly(k: string, seen: Seen, now = Date.now()): void {
  for (const [x, list] of early) {
    const fresh = list.filter((e) => now - e.at < EARLY_MS);
    if (fresh.length) early.set(x, fresh);
    else early.delete(x);
  }
  // bounded: the oldest request's answers go first
  while (early.size >= EARLY_MAX) early.delete(early.keys().next().value!);
  early.set(k, [...(early.get(k) ?? []), { seen, at: now }]);
}

/**
 * Calls `l` with every answer delivered on request `ts` in `channel`, until the returned function is
 * called; answers that came before, within the last minute, first.
 */
export function listen(channel: string, ts: string, l: Listener): () => void {
  const k = key(channel, ts);
  let set = waiting.get(k);
  if (!set) waiting.set(k, (set = new Set()));
  set.add(l);
  const before = early.get(k);
  if (before) {
    early.delete(k);
    const now = Date.now();
    queueMicrotask(() => {
      for (const e of before) if (now - e.at < EARLY_MS && set.has(l)) l(e.seen);
    });
  }
  return () => {
    set.delete(l);
    if (!set.size && waiting.get(k) === set) waiting.delete(k);
  };
}

/** Hands a delivered answer to the requests waiting on its thread in this process; whether any waited. */
export function deliver(d: Delivered): boolean {
  const k = key(d.channel, d.ts);
  const set = waiting.get(k);
  for (const l of [...(set ?? [])]) l(d.seen);
  if (set?.size) return true;
  keepEarly(k, d.seen);
  return false;
}

const relaying = new WeakSet<Signals>();

/** Takes the answers other processes of the store hand on (once per store). */
export function relayFrom(signals: Signals | undefined): void {
  if (!signals || relaying.has(signals)) return;
  relaying.add(signals);
  signals.subscribe(TOPIC, (m) => {
    let d: Delivered;
    try {
      d = JSON.parse(m) as Delivered;
    } catch {
      return;
    }
    if (d && typeof d.channel === 'string' && typeof d.ts === 'string' && d.seen && typeof d.seen.user === 'string')
      deliver(d);
  });
}

/** An answer Slack delivered here: to the request if it waits in this process, else on to the store's other processes. */
export async function handOn(d: Delivered, signals: Signals | undefined): Promise<void> {
  if (deliver(d) || !signals) return;
  await signals.publish(TOPIC, JSON.stringify(d));
}
