// Where delivered answers (./events.ts) meet the requests waiting for them: each waiting request
// listens on its approvals channel and ts in this process. An answer Slack delivered to a replica
// where its request does not wait is handed on through the shared store's signals (PostgreSQL
// NOTIFY) to every process of the store, and the one where it waits takes it. One that waits
// nowhere is dropped: the safety-net read (./watch.ts), or whoever resumes the request, reads the
// thread itself.
import type { Signals } from '../../shared/state/store.js';
import type { Delivered } from './events.js';
import type { Seen } from './answers.js';

const TOPIC = 'slack.approval-answers';

type Listener = (seen: Seen) => void;
const waiting = new Map<string, Set<Listener>>();
const key = (channel: string, ts: string) => `${channel}|${ts}`;

/** Calls `l` with every answer delivered on request `ts` in `channel`, until the returned function is called. */
export function listen(channel: string, ts: string, l: Listener): () => void {
  const k = key(channel, ts);
  let set = waiting.get(k);
  if (!set) waiting.set(k, (set = new Set()));
  set.add(l);
  return () => {
    set.delete(l);
    if (!set.size && waiting.get(k) === set) waiting.delete(k);
  };
}

/** Hands a delivered answer to the requests waiting on its thread in this process; whether any waited. */
export function deliver(d: Delivered): boolean {
  const set = waiting.get(key(d.channel, d.ts));
  for (const l of [...(set ?? [])]) l(d.seen);
  return !!set?.size;
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
