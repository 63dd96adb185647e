// A tool call, step by step. The order lives here and nowhere else: each step is a named function
// (./steps.ts) that either lets the call go on or ends it with a result. Every attempt, refused or
// not, leaves an audit record; a write reports a status a workflow can branch on.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditUnavailable } from '../base/errors.js';
import type { Instance } from '../instance/instance.js';
import { InFlightCall, failedResult, type CallRequest } from './in-flight.js';
import { callPath, runStage, type Stage } from './step.js';
import {
  approve,
  attribution,
  auditHealthy,
  checkPolicy,
  claimKey,
  clientAllowed,
  findTool,
  proveActor,
  openUpstream,
  parseArguments,
  rateLimit,
  readIdempotencyKey,
  upstreamWait,
  exceptionStillActive,
  exceptionWindow,
  markException,
  recordIntent,
  requireEvidence,
  runUpstream,
  startClock,
  stillWanted,
  suspended,
  touches,
} from './steps.js';

export type { CallRequest } from './in-flight.js';

/**
 * The call path, in order. A new concern (a proof, a client check, shared state) is a new step. A
 * step placed before the steps that add what it needs does not compile; docs/architecture.md's
 * list is generated from this one (npm run docs:steps).
 */
export const STEPS: readonly Stage[] = callPath()
  .next(suspended, 'the instance (or the calling client) is not suspended by `fleet suspend`')
  .next(exceptionWindow, 'time-boxed exceptions: the tools granted now')
  .next(findTool, 'the tool is granted to this instance')
  .next(parseArguments, 'its arguments match its schema')
  .next(attribution, 'who the call is for, in canonical form, present where required')
  .next(clientAllowed, 'the client principal is one this instance serves')
  .next(readIdempotencyKey, "a write's replay key is well-formed")
  .next(auditHealthy, 'the trail can take records: nothing reaches the upstream otherwise')
  .next(proveActor, 'the actor is proven as the manifest asks (reads only the request message)')
  .next(openUpstream, "the instance's upstream is open (identity checked at start)")
  .next(touches, 'what the call touches (may read the upstream, only where allowed)')
  .next(checkPolicy, 'every fact against its constraint; attribution rule')
  .next(markException, 'a call only an exception allows is marked so in the trail')
  .next(claimKey, 'a key that already ran replays its first outcome')
  .next(rateLimit, "the grant's rate window")
  .next(upstreamWait, "the upstream's own Retry-After after a 429 is honoured: nothing is sent before it ends")
  .next(requireEvidence, "proof before promotion: the development instance's verified trail shows it first")
  .next(approve, 'a human says yes, where the grant asks: a listed human, not the requester, for this exact call')
  .next(stillWanted, 'the client has not withdrawn the call (cancelled, timed out, disconnected)')
  .next(suspended, 'still not suspended: an approval may have waited minutes')
  .next(exceptionStillActive, 'and the exception the call relies on has not ended meanwhile')
  .next(recordIntent, 'the intent is on the record before the upstream is called')
  .next(startClock, "the instance's timeout bounds the upstream call from here, not the approval's wait")
  .next(runUpstream, 'the upstream call, its result filtered and its outcome recorded').stages;

/** The call path as docs/architecture.md lists it: one line per step, with why it stands there. */
export function describeSteps(stages: readonly Stage[] = STEPS): string {
  return stages.map((s, i) => `${i + 1}. \`${s.step.name}\`: ${s.why}`).join('\n');
}

export async function runCall(inst: Instance, req: CallRequest): Promise<CallToolResult> {
  const c = new InFlightCall(inst, req);
  try {
    for (const stage of STEPS) {
      const done = await runStage(stage, c);
      if (done) return await c.settle(done);
    }
    throw new Error('the call path ended without a result');
  } catch (e) {
    // a record the call path awaited outside its own refusals (an approval step, a replay)
    if (e instanceof AuditUnavailable) {
      inst.log.error(e.message);
      return c.settle(failedResult(inst, req.name, `refused: ${e.message}; the call was not made`, 'failed'));
    }
    // any other throw is a fault of the fleet's own, in a step before the upstream call
    return c.settle(await c.fault(e, c.ran ? 'during' : 'before'));
  } finally {
    c.dispose();
  }
}
