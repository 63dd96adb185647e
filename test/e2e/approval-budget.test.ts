// Pending Slack approvals fit Slack's budget: with many requests waiting, each read interval costs
// one conversations.history read of the approvals channel, and conversations.replies only for a
// thread that changed. Tested against the sandbox's strict rate tiers (Slack's own windows, no
// speedup), with the approvals identity's real SDK over loopback.
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { openSlackApprovals } from '../../servers/slack/approvals.js';
import type { ApprovalRequest, Verdict } from '../../shared/call/approval.js';
import { APPROVALS_SCOPES, waitFor } from '../helpers.js';

const TEAM = 'T0BLOGPROD';
const CHANNEL = 'C0APPROVALS';
const PENDING = 20;
const POLL_MS = 1200; // 50 reads a minute: Tier 3's whole budget if each read cost one call per request

let sb: SlackSandbox;
beforeAll(async () => {
  sb = await startSlackSandbox();
});
afterAll(() => sb?.close());

const count = (route: string, since: number) =>
  sb.emulator.requests.slice(since).filter((r) => r.route === route).length;

describe("pending approvals inside Slack's rate tiers (strict)", () => {
  it(`${PENDING} pending requests cost one history read an interval, and replies only for the thread that changed`, async () => {
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
      pollMs: POLL_MS,
    });
    const posted: string[] = new Array(PENDING);
    const abort = new AbortController();
    const verdicts: Promise<Verdict>[] = [];
    for (let i = 0; i < PENDING; i++) {
      const req: ApprovalRequest = {
        call: `budget-${i}-00000000`,
        instance: 'slack.prod',
        tool: 'update_message',
        resources: [],
        lines: [`text = "budget ${i}"`],
        digest: String(i).padStart(64, '0'),
        requester: 'U0WRITER1',
        requesterKind: 'slack-user',
        approvers: ['U0EDITOR1', 'U0EDITOR2'],
        executor: ['U0PRODBOT'],
        timeoutMs: 60_000,
        expiresAt: Date.now() + 60_000,
        signal: abort.signal,
      };
      verdicts.push(
        channel.request(req, { progress: () => {}, event: () => {}, posted: async ({ ts }) => void (posted[i] = ts) }),
      );
    }
    await waitFor(() => posted.filter(Boolean).length === PENDING || undefined, 20_000);
    const since = sb.emulator.requests.length;
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3 * POLL_MS + 200));
    const reads = count('conversations.history', since);
    const intervals = Math.ceil((Date.now() - started) / POLL_MS) + 1;
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(reads).toBeLessThanOrEqual(intervals);
    expect(count('conversations.replies', since)).toBe(0);

    // one approver answers one request: its thread alone is read, and that request alone is decided
    const editor = new WebClient(sb.issue(TEAM, ['chat:write'], undefined, 'U0EDITOR1'), {
      slackApiUrl: sb.url,
      retryConfig: { retries: 0 },
    });
    const mark = sb.emulator.requests.length;
    await editor.chat.postMessage({ channel: CHANNEL, thread_ts: posted[7]!, text: 'approve' });
    expect(await verdicts[7]).toMatchObject({ status: 'approved', by: 'U0EDITOR1' });
    const replies = sb.emulator.requests.slice(mark).filter((r) => r.route === 'conversations.replies');
    expect(replies.map((r) => r.params.ts)).toEqual([posted[7]]);
    // and Slack never had to refuse the approvals identity
    expect(sb.tiers.limited.get('conversations.history') ?? 0).toBe(0);
    expect(sb.tiers.limited.get('conversations.replies') ?? 0).toBe(0);
    abort.abort();
    await Promise.all(verdicts);
  }, 60_000);
});
