// FLEET_TRACE_START: one line on stderr at each milestone of a start, with the milliseconds since the
// process began (performance.now(): Node's own start and a snapshot's deserialisation come before the
// first line). `npm run bench` splits every start with them; the settled memory is read at 'upstream open'.

/** Says `what` happened now, when FLEET_TRACE_START is set. */
export function traceStart(what: string): void {
  if (process.env.FLEET_TRACE_START) process.stderr.write(`fleet: ${what} at ${performance.now().toFixed(1)} ms\n`);
}
