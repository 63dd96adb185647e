// Where delivered answers (./events.ts) meet the requests waiting for them in this process: each
// waiting request listens on its approvals channel and ts. An answer delivered to a request that
// waits nowhere here is dropped: the safety-net read (./watch.ts) or whoever resumes the request
// reads the thread itself.
import type { Delivered } from './events.js';
import type { Seen } from './answers.js';

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
