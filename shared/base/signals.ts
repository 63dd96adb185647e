// One signal that aborts when any of its sources does, and lets go of them when the call ends.
// Node 20's AbortSignal.any keeps every combined signal alive as long as its longest-lived source:
// one per call on the server's own stop signal held each call's state for the life of the process
// (an HTTP server grew from 116 to 555 MB over 20,000 calls).
export function linkSignals(...sources: (AbortSignal | undefined)[]): { signal: AbortSignal; unlink: () => void } {
  const ctl = new AbortController();
  const unlinks: (() => void)[] = [];
  for (const source of sources) {
    if (!source) continue;
    if (source.aborted) {
      ctl.abort(source.reason);
      break;
    }
    const abort = () => ctl.abort(source.reason);
    source.addEventListener('abort', abort, { once: true });
    unlinks.push(() => source.removeEventListener('abort', abort));
  }
  return {
    signal: ctl.signal,
    unlink: () => {
      for (const u of unlinks.splice(0)) u();
    },
  };
}
