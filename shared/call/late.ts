// Late answers to withdrawn approval requests (the late-answer reader: ApprovalChannel.answers). A request withdrawn with its call (the client
// cancelled, timed out or disconnected) stays in the approvals channel until it would have
// expired, and an approver may still answer it there. That answer runs nothing, but the trail must
// show it: someone said yes (or no) to a call that never ran. The process that withdrew the request
// may be gone (a stdio server ends with its client), so the watch is not the withdrawing call's:
// whoever runs for the instance — the same process, a replica, the next start — lists the withdrawn
// requests still within their expiry from the shared state, reads their answers, and records each
// answer once ("ignored, request withdrawn"). The state store remembers which answers were
// recorded, so several processes watching the same request record each answer once.
import type { Instance } from '../instance/instance.js';
import type { ApprovalEntry } from '../state/store.js';

export const LATE_WHY = 'the request was withdrawn: its call is gone';

export interface LateWatch {
  /** one pass over the withdrawn requests; the number of answers recorded */
  sweep(): Promise<number>;
  /** stops watching; resolves once a pass under way has ended */
  stop(): Promise<void>;
}

/** Watches the instance's withdrawn approval requests every `everyMs`, starting now. */
export function watchWithdrawn(inst: Instance, everyMs: number): LateWatch {
  let running: Promise<number> | undefined;
  let stopped = false;
  const sweep = (): Promise<number> => (running ??= sweepOnce(inst).finally(() => (running = undefined)));
  const tick = () => {
    if (stopped) return;
    sweep().catch((e: Error) => inst.log.warn(`late approval answers could not be read: ${e.message}`));
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => 0);
    },
  };
}

const watched = (e: ApprovalEntry): e is ApprovalEntry & { ref: { channel: string; ts: string } } =>
  typeof e.ref?.channel === 'string' && typeof e.ref?.ts === 'string';

async function sweepOnce(inst: Instance): Promise<number> {
  const channels = inst.approvalChannels ?? {};
  const vias = Object.keys(channels);
  if (!vias.length) return 0;
  const open = (await inst.store.approvals.withdrawn(Date.now())).filter(watched);
  // nothing withdrawn within its expiry: no channel is asked at all
  if (!open.length) return 0;
  let recorded = 0;
  for (const e of open) {
    // the channel that posted it (a request kept before `via` was: the instance's one channel)
    const via = typeof e.ref.via === 'string' && channels[e.ref.via] ? e.ref.via : vias[0];
    const open = via === undefined ? undefined : channels[via];
    if (!open) continue;
    const channel = await open();
    if (!channel.answers) continue;
    let answers;
    try {
      answers = await channel.answers(e.ref);
    } catch (err) {
      inst.log.warn(
        `late answers to the withdrawn approval request ${e.ref.channel}/${e.ref.ts} could not be read: ${(err as Error).message}`,
      );
      continue;
    }
    for (const a of answers) {
      const answer = a.approve ? 'approve' : 'decline';
      // noted first: an answer is recorded at most once, whichever process sees it
      if (!(await inst.store.approvals.noteLate(e.id, `${a.user}:${answer}`))) continue;
      await inst.audit.append(
        inst.redactor.deep({
          v: 1,
          call: e.call,
          time: new Date().toISOString(),
          instance: inst.manifest.id,
          owner: inst.manifest.owner,
          manifest: inst.manifest.hash,
          ...(typeof e.ref.tool === 'string' ? { tool: e.ref.tool } : {}),
          phase: 'approval',
          status: 'ignored',
          via,
          ...(typeof e.ref.digest === 'string' ? { digest: e.ref.digest } : {}),
          by: a.user,
          answer,
          late: true,
          why: LATE_WHY,
          request: `${e.ref.channel}/${e.ref.ts}`,
        }),
      );
      recorded++;
    }
  }
  return recorded;
}
