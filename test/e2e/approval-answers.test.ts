// Approval answers mean what people mean (the security review's class 2), generated: orderings of
// answers by listed approvers, the requester, an unlisted member and a listed guest, all given
// within one read of the thread, in exact and near-miss forms (replies and reactions). The Slack
// channel (the approvals identity's real SDK against the sandbox over loopback) must count only an
// exact answer by a qualifying person, the earliest by Slack's timestamp, with a decline vetoing
// any approval that did not certainly come first — and put every answer it saw on the record.
import fc from 'fast-check';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { openSlackApprovals } from '../../servers/slack/approvals.js';
import type { ApprovalRequest, Verdict } from '../../shared/call/approval.js';
import { APPROVALS_SCOPES } from '../helpers.js';

const TEAM = 'T0BLOGPROD';
const CHANNEL = 'C0APPROVALS';
const APPROVERS = ['U0EDITOR1', 'U0EDITOR2', 'U0GUEST1'];
const REQUESTER = 'U0WRITER1';
const PEOPLE = ['U0EDITOR1', 'U0EDITOR2', REQUESTER, 'U0WRITER2', 'U0GUEST1'];
/** who may answer at all: a listed approver who is a full human member, not the requester */
const QUALIFIED = new Set(['U0EDITOR1', 'U0EDITOR2']);

const EXACT_REPLIES: [string, boolean][] = [
  ['approve', true],
  ['Approve', true],
  ['  APPROVE\n', true],
  ['decline', false],
  ['Decline ', false],
  ['\tdecline', false],
];
const NEAR_REPLIES = [
  'approved',
  'Approve this? why does it touch prod',
  'yes',
  'lgtm',
  'approve.',
  'decline?',
  'no',
  'ok, approve',
  'deny',
  'I approve',
];
const EXACT_REACTIONS: [string, boolean][] = [
  ['white_check_mark', true],
  ['x', false],
];
const NEAR_REACTIONS = ['+1', 'thumbsup', 'heavy_check_mark', '-1', 'no_entry', 'ballot_box_with_check'];

type Act = { user: string; reply?: string; reaction?: string; approve?: boolean };

const act: fc.Arbitrary<Act> = fc
  .tuple(
    fc.constantFrom(...PEOPLE),
    fc.oneof(
      fc.constantFrom(...EXACT_REPLIES).map(([reply, approve]) => ({ reply, approve })),
      fc.constantFrom(...NEAR_REPLIES).map((reply) => ({ reply })),
      fc.constantFrom(...EXACT_REACTIONS).map(([reaction, approve]) => ({ reaction, approve })),
      fc.constantFrom(...NEAR_REACTIONS).map((reaction) => ({ reaction })),
    ),
  )
  .map(([user, a]) => ({ user, ...a }));

/** one reaction per person and name, as Slack allows */
const acts = fc.array(act, { minLength: 1, maxLength: 6 }).map((xs) => {
  const seen = new Set<string>();
  return xs.filter((a) => !a.reaction || (!seen.has(`${a.user}:${a.reaction}`) && seen.add(`${a.user}:${a.reaction}`)));
});

/**
 * What must happen. Replies are in Slack's order; a reaction carries no time, so a read only
 * knows it came after the request: it may have come before any reply.
 */
function expected(xs: Act[]): { status: 'approved' | 'declined' | 'expired'; by: string[] } {
  const counts = xs.filter((a) => a.approve !== undefined && QUALIFIED.has(a.user));
  const declines = counts.filter((a) => a.approve === false);
  const firstYes = counts.findIndex((a) => a.approve === true && a.reply !== undefined);
  const yesReaction = counts.find((a) => a.approve === true && a.reaction !== undefined);
  // an approval counts when no decline could have come before it
  if (firstYes >= 0 && declines.every((d) => d.reply !== undefined && counts.indexOf(d) > firstYes))
    return { status: 'approved', by: [counts[firstYes]!.user] };
  if (firstYes < 0 && yesReaction && !declines.length)
    return { status: 'approved', by: counts.filter((a) => a.approve).map((a) => a.user) };
  if (declines.length) return { status: 'declined', by: declines.map((d) => d.user) };
  return { status: 'expired', by: [] };
}

let sb: SlackSandbox;
beforeAll(async () => {
  // the guarantee here is about meaning, not Slack's budget: a short window lets many runs go
  sb = await startSlackSandbox(0, { speedup: 60 });
});
afterAll(() => sb?.close());

const person = new Map<string, WebClient>();
const as = (user: string) => {
  let c = person.get(user);
  if (!c)
    person.set(
      user,
      (c = new WebClient(sb.issue(TEAM, ['chat:write', 'reactions:write'], undefined, user), {
        slackApiUrl: sb.url,
        retryConfig: { retries: 0 },
      })),
    );
  return c;
};

let n = 0;
async function run(
  xs: Act[],
): Promise<{ verdict: Verdict; events: { status: string; detail: Record<string, unknown> }[] }> {
  const channel = await openSlackApprovals({
    config: {
      workspace: TEAM,
      channel: CHANNEL,
      credential: 'env:SLACK_APPROVALS_TOKEN',
      token_scopes: APPROVALS_SCOPES,
    },
    credential: sb.issue(TEAM, APPROVALS_SCOPES, undefined, 'U0APPROVALS'),
    baseUrl: sb.url,
    timeoutMs: 5000,
    pollMs: 40,
  });
  const events: { status: string; detail: Record<string, unknown> }[] = [];
  const req: ApprovalRequest = {
    call: `answers-${n++}-0000`,
    instance: 'slack.prod',
    tool: 'update_message',
    resources: [],
    lines: ['text = "x"'],
    digest: 'd'.repeat(64),
    requester: REQUESTER,
    requesterKind: 'slack-user',
    approvers: APPROVERS,
    executor: ['U0PRODBOT'],
    timeoutMs: 1200,
    expiresAt: Date.now() + 60_000,
  };
  const verdict = await channel.request(req, {
    progress: () => {},
    event: (status, detail) => events.push({ status, detail }),
    // every answer is given before the channel's first read: all within one poll interval
    posted: async ({ ts }) => {
      for (const a of xs) {
        if (a.reply !== undefined)
          await as(a.user).chat.postMessage({ channel: CHANNEL, thread_ts: ts, text: a.reply });
        else await as(a.user).reactions.add({ channel: CHANNEL, timestamp: ts, name: a.reaction! });
      }
    },
  });
  return { verdict, events };
}

describe('approval answers mean what people mean (generated)', () => {
  it('counts only exact answers by qualifying people, earliest first, a decline vetoing; records every answer seen', async () => {
    await fc.assert(
      fc.asyncProperty(acts, async (xs) => {
        const { verdict, events } = await run(xs);
        const want = expected(xs);
        expect(verdict.status, JSON.stringify(xs)).toBe(want.status);
        if (verdict.status === 'approved' || verdict.status === 'declined')
          expect(want.by, JSON.stringify(xs)).toContain(verdict.by);
        // every answer seen is on the record: the one that counted as the verdict, each other as ignored
        const ignored = events.filter((e) => e.status === 'ignored');
        const counted = verdict.status === 'approved' || verdict.status === 'declined' ? verdict.by : undefined;
        for (const a of xs) {
          const isCounted = counted === a.user && a.approve === (verdict.status === 'approved');
          const onRecord = ignored.some(
            (e) => e.detail.by === a.user && (a.reaction ? e.detail.name === a.reaction : e.detail.via === 'reply'),
          );
          expect(isCounted || onRecord, `not on the record: ${JSON.stringify(a)} of ${JSON.stringify(xs)}`).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  }, 240_000);

  it('a decline and an approval in one poll interval: the decline given first vetoes, and both are on the record', async () => {
    const { verdict, events } = await run([
      { user: 'U0EDITOR2', reply: 'decline', approve: false },
      { user: 'U0EDITOR1', reply: 'approve', approve: true },
    ]);
    expect(verdict).toMatchObject({ status: 'declined', by: 'U0EDITOR2' });
    expect(events.filter((e) => e.status === 'ignored').map((e) => [e.detail.by, e.detail.answer])).toEqual([
      ['U0EDITOR1', 'approve'],
    ]);
  }, 30_000);

  it('👍 and "Approve this? why…" are not answers', async () => {
    const { verdict, events } = await run([
      { user: 'U0EDITOR1', reply: 'Approve this? why does it touch prod' },
      { user: 'U0EDITOR2', reaction: '+1' },
    ]);
    expect(verdict.status).toBe('expired');
    expect(
      events
        .filter((e) => e.status === 'ignored')
        .map((e) => e.detail.by)
        .sort(),
    ).toEqual(['U0EDITOR1', 'U0EDITOR2']);
  }, 30_000);
});
