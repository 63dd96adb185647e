// Counts the requests an SDK client sends, through the `fetch` it is handed. The core compares the
// count before and after a tool's run() to tell a fault of the fleet's own that struck before the
// upstream was called (definite: nothing was done) from one after (the upstream may have acted).
export function countingFetch(base: typeof fetch = globalThis.fetch): { fetch: typeof fetch; sent: () => number } {
  let n = 0;
  return {
    fetch: ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      n++;
      return base(input, init);
    }) as typeof fetch,
    sent: () => n,
  };
}
