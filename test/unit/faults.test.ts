// The fleet's own faults told from the upstream's (shared/call/faults.ts), on its own: a stop the
// fleet raised itself is definite, anything the connector does not recognise is a fault of ours,
// and each place a fault can strike says what was done. Written for mutants the mutation check
// (docs/mutation.md) left.
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { Stopped } from '../../shared/base/errors.js';
import { describeFault, upstreamError } from '../../shared/call/faults.js';

const doppler = CONNECTORS.doppler!;

describe('upstreamError', () => {
  it("reads a stop of the fleet's own as definite, with its code and words", () => {
    expect(upstreamError(doppler, new Stopped('timeout', 'Doppler did not answer'))).toEqual({
      code: 'timeout',
      message: 'Doppler did not answer',
      definite: true,
    });
  });

  it('leaves a TypeError to be told as a fault of ours', () => {
    expect(upstreamError(doppler, new TypeError('x is undefined'))).toBeUndefined();
  });
});

describe('describeFault', () => {
  const o = { tool: 'set_secret', connector: 'doppler', call: 'c1', writes: true };
  it("names the error's kind and where it struck", () => {
    expect(describeFault(new TypeError('boom'), 'before', o)).toEqual({
      message:
        "internal error: set_secret failed inside fleet (TypeError), not in doppler; the upstream was not called, nothing was done; retrying will fail the same way until fleet is fixed. This is a bug in fleet; its cause is on the server's stderr (call c1).",
      record: { outcome: 'internal', error: 'internal', error_message: 'TypeError', upstream_called: false },
    });
    expect(describeFault(new Error('x'), 'during', o).record.upstream_called).toBe('unknown');
    expect(describeFault(new Error('x'), 'after', o).record.upstream_called).toBe(true);
    expect(describeFault(new Error('x'), 'during', { ...o, writes: false }).message).toContain(
      'it stopped while reading the upstream',
    );
  });

  it('names what was thrown when it is not an Error at all', () => {
    expect(describeFault(undefined, 'before', o).record.error_message).toBe('undefined');
    expect(describeFault(null, 'before', o).record.error_message).toBe('object');
    expect(describeFault('a string', 'before', o).record.error_message).toBe('string');
  });
});
