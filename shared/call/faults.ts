// The fleet's own faults, told apart from the upstream's. An exception the connector does not
// recognise as its upstream's (a TypeError, an output that fails its schema) is a bug of ours: it
// is said so in the result and the audit record (outcome/rule `internal`), its cause goes to
// stderr (never to the client: it may quote data), and where it struck before the upstream was
// called the call is definite — nothing was done, so an idempotency key is freed, not replayed.
import { Stopped } from '../base/errors.js';
import type { Connector, UpstreamError } from '../connector/tool.js';

/** Where in the call a fault struck, relative to the upstream call. */
export type FaultAt = 'before' | 'during' | 'after';

const WRITE: Record<FaultAt, string> = {
  before: 'the upstream was not called, nothing was done; retrying will fail the same way until fleet is fixed',
  during: 'the upstream may have acted before it; check it before retrying',
  after: 'the upstream call itself completed, so its action was done: do not repeat the call',
};
const READ: Record<FaultAt, string> = {
  ...WRITE,
  during: 'it stopped while reading the upstream',
  after: 'the upstream answered, but fleet could not render its answer',
};

/** The connector's reading of an error, or undefined when it is not the upstream's (a fault of ours). */
export function upstreamError(connector: Connector, e: unknown): UpstreamError | undefined {
  if (e instanceof Stopped) return { code: e.code, message: e.message, definite: true };
  return connector.describeError(e);
}

/** The result text and audit fields of a fault of the fleet's own. */
export function describeFault(
  e: unknown,
  at: FaultAt,
  o: { tool: string; connector: string; call: string; writes: boolean },
) {
  const kind = (e as Error)?.name || typeof e;
  return {
    message: `internal error: ${o.tool} failed inside fleet (${kind}), not in ${o.connector}; ${(o.writes ? WRITE : READ)[at]}. This is a bug in fleet; its cause is on the server's stderr (call ${o.call}).`,
    record: {
      outcome: 'internal',
      error: 'internal',
      error_message: kind,
      upstream_called: at === 'before' ? false : at === 'after' ? true : 'unknown',
    },
  };
}
