// A tool call, step by step. The order lives here and nowhere else: each step is a named function
// (./steps.ts) that either lets the call go on or ends it with a result. Every attempt, refused or
// not, leaves an audit record; a write reports a status a workflow can branch on.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditUnavailable } from '../base/errors.js';
import type { Instance } from '../connector/instance.js';
import { CallState, failed, type CallRequest } from './state.js';
import {
  approve, attribution, auditHealthy, checkPolicy, claimKey, clientAllowed, findTool, proveActor, openUpstream, parseArguments, rateLimit, readIdempotencyKey,
  exceptionStillActive, exceptionWindow, markException, recordIntent, requireEvidence, runUpstream, startClock, stillWanted, suspended, touches, type Step,
} from './steps.js';

export type { CallRequest } from './state.js';

/** The call path, in order. A new concern (a proof, a client check, shared state) is a new step. */
export const STEPS: readonly Step[] = [
  suspended, // the instance (or the calling client) is not suspended by `fleet suspend`
  exceptionWindow, // time-boxed exceptions: the tools granted now
  findTool, // the tool is granted to this instance
  parseArguments, // its arguments match its schema
  attribution, // who the call is for, in canonical form, present where required
  clientAllowed, // the client principal is one this instance serves
  readIdempotencyKey, // a write's replay key is well-formed
  auditHealthy, // the trail can take records: nothing reaches the upstream otherwise
  proveActor, // the actor is proven as the manifest asks (reads only the request message)
  openUpstream, // the instance's upstream is open (identity checked at start)
  touches, // what the call touches (may read the upstream, only where allowed)
  checkPolicy, // every fact against its constraint; attribution rule
  markException, // a call only an exception allows is marked so in the trail
  claimKey, // a key that already ran replays its first outcome
  rateLimit, // the grant's rate window
  requireEvidence, // proof before promotion: the development instance's verified trail shows it first
  approve, // a human says yes, where the grant asks: a listed human, not the requester, for this exact call
  stillWanted, // the client has not withdrawn the call (cancelled, timed out, disconnected)
  suspended, // still not suspended: an approval may have waited minutes
  exceptionStillActive, // and the exception the call relies on has not ended meanwhile
  recordIntent, // the intent is on the record before the upstream is called
  startClock, // the instance's timeout bounds the upstream call from here, not the approval's wait
  runUpstream, // the upstream call, its result filtered and its outcome recorded
];

export async function runCall(inst: Instance, req: CallRequest): Promise<CallToolResult> {
  const c = new CallState(inst, req);
  try {
    for (const step of STEPS) {
      const done = await step(c);
      if (done) return await c.settle(done);
    }
    throw new Error('the call path ended without a result');
  } catch (e) {
    // a record the call path awaited outside its own refusals (an approval step, a replay)
    if (e instanceof AuditUnavailable) {
      inst.log.error(e.message);
      return c.settle(failed(inst, req.name, `refused: ${e.message}; the call was not made`, 'failed'));
    }
    // any other throw is a fault of the fleet's own, in a step before the upstream call
    return c.settle(await c.fault(e, c.ran ? 'during' : 'before'));
  } finally {
    c.dispose();
  }
}
