// Approvals through Slack, for the production bot where no human sits at the client. A separate
// approvals identity (scopes/fleet.yaml `approvals.slack`, its own credential) posts the request to
// the approvals channel; a listed approver answers with a threaded reply of exactly "approve" or
// "decline", a ✅/❌ reaction, or (answers delivered by Slack, ./events.ts) the request's Approve /
// Decline button (./answers.ts: the earliest answer by Slack's timestamp counts, a
// decline vetoes, every answer seen is recorded). The requester's own approval, a bot's, an
// unlisted user's and that of any member who is not a full human (users.info: bot, app, deleted,
// guest) are ignored and recorded. One shared read of the channel serves every pending request
// (./watch.ts), inside Slack's rate tiers; where Slack delivers answers (./inbox.ts) that read is
// only a slow safety net. Every value the
// requester controls is escaped for Slack's markup; every argument is shown in full, split across
// thread replies when long. A call withdrawn by its client withdraws its request.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { KnownBlock, WebClient } from '@slack/web-api';
import {
  describeRequest,
  type Answer,
  type ApprovalChannel,
  type ApprovalRequest,
  type PostingRequest,
  type Verdict,
} from '../../shared/call/approval.js';
import type { Member } from './proof.js';
import { slackReader } from './reader.js';
import {
  APPROVE_ACTION,
  DECLINE_ACTION,
  countedAnswer,
  seenIn,
  msEndUs,
  seenKey,
  slackUs,
  type Seen,
} from './answers.js';
import { ChannelWatch, type Thread } from './watch.js';
import { CREDENTIAL } from '../../shared/base/reference.js';
import { ManifestError, readYaml } from '../../shared/base/yaml.js';
import { StartupError } from '../../shared/base/errors.js';
import { durationSchema } from '../../shared/base/duration.js';
import { listen } from './inbox.js';

export const approvalsConfig = z.strictObject({
  workspace: z.string().regex(/^T[A-Z0-9]{2,}$/),
  channel: z.string().regex(/^[CG][A-Z0-9]{8,}$/, 'the approvals channel is a channel ID'),
  credential: z.string().regex(CREDENTIAL, 'credential must be a reference: env:NAME or doppler:project/config/NAME'),
  token_scopes: z.array(z.string()).default(['chat:write', 'channels:history', 'users:read']),
  /**
   * The Slack app's signing secret: where `fleet serve --http` runs, Slack delivers answers (Events
   * API, the request's buttons) to /slack/events and /slack/actions, checked with it (./events.ts).
   */
  signing_secret: z
    .string()
    .regex(CREDENTIAL, 'signing_secret must be a reference: env:NAME or doppler:project/config/NAME')
    .optional(),
  /**
   * The Slack app's app-level token (xapp-, connections:write): the instance opens a Socket Mode
   * connection and Slack delivers answers over it (./socket.ts), with no inbound URL.
   */
  app_token: z
    .string()
    .regex(CREDENTIAL, 'app_token must be a reference: env:NAME or doppler:project/config/NAME')
    .optional(),
  /** with answers delivered, the channel is still read this often: a safety net for a lost delivery */
  safety_poll: durationSchema(
    'how often the channel is still read when Slack delivers answers (default 1m)',
  ).optional(),
});
export type SlackApprovalsConfig = z.infer<typeof approvalsConfig>;

/** The sandbox's approvals bot (servers/slack/sandbox/seed.ts). */
export const SANDBOX_APPROVALS_BOT = 'U0APPROVALS';

/** Reads `approvals.slack` from the scopes folder's fleet.yaml; errors name file:line. */
export function readApprovalsConfig(scopes: string): SlackApprovalsConfig {
  const file = join(scopes, 'fleet.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new StartupError(
      `a grant asks for Slack approval, but ${file} is missing (it declares the approvals identity)`,
    );
  }
  const doc = readYaml(text, file);
  const block = (doc.data as { approvals?: { slack?: unknown } } | null)?.approvals?.slack;
  if (block === undefined)
    throw new ManifestError([
      {
        file,
        line: doc.line('approvals'),
        path: 'approvals.slack',
        message: 'a grant asks for Slack approval, but no approvals identity is declared here',
      },
    ]);
  const parsed = approvalsConfig.safeParse(block);
  if (!parsed.success) {
    throw new ManifestError(
      parsed.error.issues.map((i) => {
        const path = ['approvals', 'slack', ...i.path.map(String)].join('.');
        return { file, line: doc.line(path), path, message: i.message };
      }),
    );
  }
  return parsed.data;
}

/** One reader of the approvals channel per approvals identity and channel, in this process (./watch.ts). */
const watches = new Map<string, ChannelWatch>();
function sharedWatch(web: WebClient, o: SlackApprovalsOptions, channel: string): ChannelWatch {
  const key = `${o.baseUrl ?? ''}|${createHash('sha256').update(o.credential).digest('hex')}|${channel}`;
  let w = watches.get(key);
  if (!w) watches.set(key, (w = new ChannelWatch(web, channel, o.pollMs, o.warn)));
  return w;
}

export interface SlackApprovalsOptions {
  config: SlackApprovalsConfig;
  credential: string;
  baseUrl?: string;
  timeoutMs: number;
  /** how often the channel is read: the poll interval, or with `events` the safety net's */
  pollMs: number;
  /** Slack delivers answers here (./events.ts → ./inbox.ts): the request carries buttons, and answers arrive as they are given */
  events?: boolean;
  warn?: (message: string) => void;
}

/**
 * Escapes text the requester controls for Slack's markup: `&`, `<` and `>` as entities, so no
 * `<!here>`, `<@U…>` or `<https://…|disguised>` survives, and a bare @channel/@here/@everyone gets a
 * word joiner after its `@`, so it reads the same and notifies nobody.
 */
export function slackEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|everyone)/gi, '@\u2060$1');
}

/** Slack shows long messages folded; each message of a request stays well under that. */
export const PART_CHARS = 3000;

/**
 * Splits text into parts of at most `max` characters, at line ends where it can, never inside an
 * entity; the parts joined in order give the text back exactly.
 */
export function splitParts(text: string, max = PART_CHARS): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    // just after the last line end that fits: the line end stays with its line
    let cut = rest.lastIndexOf('\n', max - 1) + 1;
    if (cut < max / 2) {
      // no line end late enough: cut at max, or before an entity that max would cut
      cut = max;
      const amp = rest.lastIndexOf('&', cut - 1);
      if (amp > cut - 6 && !rest.slice(amp, cut).includes(';')) cut = amp;
    }
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  parts.push(rest);
  return parts;
}

export async function openSlackApprovals(o: SlackApprovalsOptions): Promise<ApprovalChannel> {
  const { webClient } = await import('./client.js');
  const web: WebClient = webClient(o.credential, o.baseUrl, o.timeoutMs);
  const me = await web.auth.test().catch((e: { data?: { error?: string } }) => {
    throw new Error(`the approvals identity failed auth.test: ${e.data?.error ?? 'request failed'}`);
  });
  if (me.team_id !== o.config.workspace)
    throw new Error(`the approvals token belongs to ${me.team_id}, not ${o.config.workspace}`);
  const channel = o.config.channel;
  const members = slackReader(web, o.config.workspace);
  const memberCache = new Map<string, Promise<Member | undefined>>();
  const member = (u: string) => {
    let m = memberCache.get(u);
    if (!m) memberCache.set(u, (m = members.member(u)));
    m.catch(() => memberCache.delete(u));
    return m;
  };

  const watch = sharedWatch(web, o, channel);

  /** The approvals identity's own request post holding `marker`, posted since `since`: a stopped holder's. */
  const ownPost = async (p: PostingRequest): Promise<string | undefined> => {
    const oldest = (p.since / 1000 - 60).toFixed(6);
    const h = await web.conversations.history({ channel, oldest, limit: 200 }).catch(() => undefined);
    return h?.messages?.find(
      (m) => m.user === me.user_id && (!m.thread_ts || m.thread_ts === m.ts) && !!m.text?.includes(p.marker),
    )?.ts;
  };

  const say = (ts: string, text: string) =>
    web.chat
      .postMessage({ channel, thread_ts: ts, text, link_names: false, unfurl_links: false, unfurl_media: false })
      .catch(() => undefined);

  return {
    async request(req: ApprovalRequest, hooks): Promise<Verdict> {
      // the requester as a member of this workspace: their own ID, or the ones fleet.yaml links to them
      const linked = await requesterHere(req, member);
      if ('refused' in linked) {
        hooks.event('refused', { why: linked.refused });
        return { status: 'failed', why: linked.refused };
      }
      const mine = linked.ids;
      const approvers = req.approvers.map((u) => `<@${u}>`).join(', ');
      const minutes = Math.max(1, Math.round(req.timeoutMs / 60_000));
      const lines = describeRequest(req, slackEscape);
      const split = lines.findIndex((l) => l.startsWith('Arguments ('));
      const head = lines.slice(0, split);
      const parts = splitParts(lines.slice(split + 1).join('\n'));
      const n = parts.length;
      const part = (i: number) => `Arguments, part ${i + 1} of ${n}:\n${parts[i]}`;
      let ts: string | undefined;
      if (req.resume && req.resume.channel === channel) {
        // asked already, by a process that stopped while it waited: the same post, the same thread
        ts = req.resume.ts;
        hooks.event('resumed', { channel, ts, approvers: req.approvers });
      } else if (req.unsure && (ts = await ownPost(req.unsure))) {
        // a process that stopped as it posted: its post is there, though it did not live to say where
        await hooks.posted?.({ channel, ts });
        hooks.event('resumed', { channel, ts, approvers: req.approvers });
      } else {
        const text = [
          `:lock: *Approval needed* (call ${req.call.slice(0, 8)})`,
          ...head,
          `Approvers: ${approvers}. Reply exactly \`approve\` or \`decline\` in this thread (or react :white_check_mark: / :x:${o.events ? ', or press Approve / Decline' : ''}) within ${minutes} min. The requester, bots and unlisted users cannot approve; an approval counts for this exact call (digest ${req.digest.slice(0, 12)}) only. Below: every argument in full, exactly as it will run.${n > 1 ? ` The arguments continue in ${n - 1} more part(s) in this thread: read them all before answering.` : ''}`,
          part(0),
        ].join('\n');
        // said first, in the shared state: a replica that carries this call on after this process
        // stops finds the post by the marker, whether or not this process lived to say where it is
        await hooks.posting?.({ marker: `(call ${req.call.slice(0, 8)})`, since: Date.now() });
        const posted = await web.chat.postMessage({
          channel,
          link_names: false,
          unfurl_links: false,
          unfurl_media: false,
          text,
          ...(o.events ? { blocks: requestBlocks(text, req.call) } : {}),
        });
        ts = posted.ts!;
        for (let i = 1; i < n; i++)
          await web.chat.postMessage({
            channel,
            thread_ts: ts,
            link_names: false,
            unfurl_links: false,
            unfurl_media: false,
            text: part(i),
          });
        await hooks.posted?.({ channel, ts });
        hooks.event('requested', { channel, ts, approvers: req.approvers, parts: n });
      }
      const deadline = Math.min(req.expiresAt, Date.now() + req.timeoutMs);
      /** why an answer does not count, or undefined when it does */
      const disqualified = async (v: Seen): Promise<string | undefined> => {
        // a decline by a listed approver stops the call even when they asked for it themselves
        if (v.approve && mine.includes(v.user)) return 'the requester cannot approve their own request';
        if (v.user === me.user_id || req.executor.includes(v.user))
          return v.user === me.user_id ? 'the approvals bot cannot approve' : "the instance's own bot cannot approve";
        if (!req.approvers.includes(v.user)) return 'not a listed approver';
        let m: Member | undefined;
        try {
          m = await member(v.user);
        } catch (e) {
          const code = (e as { data?: { error?: string } }).data?.error ?? 'request failed';
          if (code === 'missing_scope')
            o.warn?.(
              'the approvals token lacks users:read, so no approver can be checked to be a human member: every answer is ignored',
            );
          return `cannot check that ${v.user} is a human member (${code})`;
        }
        if (!m) return `${v.user} is not a member of the workspace`;
        if (!m.human) return `${v.user} is ${m.why}: only human members approve`;
        return undefined;
      };
      const withdraw = async (): Promise<Verdict> => {
        const why = 'the client withdrew the call (cancelled, timed out or disconnected)';
        const text = `:no_entry_sign: *Withdrawn* (call ${req.call.slice(0, 8)}): ${why}. Nothing will run; a later answer is ignored.`;
        // the buttons go with the request: the message is all text again
        await web.chat
          .update({ channel, ts, text, ...(o.events ? { blocks: requestBlocks(text) } : {}) })
          .catch(() => undefined);
        await say(ts, 'Withdrawn: the call is gone, nothing will run. Answers from now on are ignored.');
        hooks.event('withdrawn', { channel, ts });
        // answers still arrive until the request would have expired: whoever runs for the instance
        // next (this process, a replica, the next start) records each once (shared/call/late.ts)
        return { status: 'withdrawn', why };
      };
      // every answer seen, counted or not, goes on the record once; a reaction keeps the bounds of
      // the read that first saw it (Slack dates no reaction)
      const seen = new Map<string, Seen>();
      const recorded = new Set<string>();
      const ignore = (v: Seen, why: string) => {
        const k = seenKey(v);
        if (recorded.has(k)) return;
        recorded.add(k);
        hooks.event('ignored', {
          by: v.user,
          via: v.via,
          ...(v.approve === undefined ? {} : { answer: v.approve ? 'approve' : 'decline' }),
          ...(v.via === 'reply' ? { ts: v.what } : { name: v.what }),
          why,
        });
      };
      // what the last read of the thread shows, and what Slack delivered: the answers that stand
      let shown: string[] = [];
      let read = false;
      const delivered = new Set<string>();
      const judge = (t: Thread): Promise<Verdict | undefined> => {
        const news = seenIn(t.parent, t.replies, read ? t.prev * 1000 : slackUs(ts), msEndUs(t.at));
        read = true;
        shown = news.map(seenKey);
        return judgeSeen(news);
      };
      const judgeDelivered = (s: Seen): Promise<Verdict | undefined> => {
        delivered.add(seenKey(s));
        return judgeSeen([s]);
      };
      /** judges the answers that stand, with what is new: from a read of the thread, or delivered by Slack */
      const judgeSeen = async (news: Seen[]): Promise<Verdict | undefined> => {
        const qualified: Seen[] = [];
        for (const fresh of news) {
          const k = seenKey(fresh);
          const had = seen.get(k);
          // the same answer seen again: a delivered reaction dates more closely what a read only bounded
          if (!had || fresh.hi - fresh.lo < had.hi - had.lo) seen.set(k, fresh);
        }
        for (const k of new Set([...shown, ...delivered])) {
          const v = seen.get(k)!;
          if (v.approve === undefined) {
            ignore(
              v,
              'not an answer: only a reply of exactly "approve" or "decline", a ✅ or ❌ reaction, or a button counts',
            );
            continue;
          }
          const why = await disqualified(v);
          if (why) ignore(v, why);
          else qualified.push(v);
        }
        const d = countedAnswer(qualified);
        if (d.status === 'pending') return undefined;
        for (const v of d.rest) {
          ignore(
            v,
            d.status === 'declined' && v.approve
              ? 'a decline by a listed approver vetoes an approval that did not certainly come before it'
              : 'an earlier answer counted',
          );
        }
        const by = d.counted.user;
        await say(ts, d.status === 'approved' ? `Approved by <@${by}>: running.` : `Declined by <@${by}>: not run.`);
        return d.status === 'approved'
          ? { status: 'approved', by, digest: req.digest, at: Date.now() }
          : { status: 'declined', by, why: 'an approver declined' };
      };
      if (req.signal?.aborted) return withdraw();
      return new Promise<Verdict>((resolve) => {
        let done = false;
        let judging = Promise.resolve();
        const finish = (v: Verdict | Promise<Verdict>) => {
          if (done) return;
          done = true;
          stop();
          unlisten();
          clearTimeout(timer);
          req.signal?.removeEventListener('abort', onAbort);
          resolve(v);
        };
        const onAbort = () => finish(withdraw());
        const timer = setTimeout(
          () => finish(say(ts, 'No answer in time: expired, not run.').then(() => ({ status: 'expired' }) as const)),
          Math.max(0, deadline - Date.now()),
        );
        req.signal?.addEventListener('abort', onAbort, { once: true });
        const progress = () =>
          hooks.progress(
            `waiting for ${approvers} to approve ${req.tool} in ${channel} (${Math.ceil((deadline - Date.now()) / 1000)}s left)`,
          );
        progress();
        const stop = watch.watch(ts, {
          onThread: (t) =>
            void (judging = judging
              .then(async () => {
                if (done) return;
                const v = await judge(t);
                if (req.signal?.aborted) return finish(withdraw());
                if (v && Date.now() <= deadline) return finish(v);
                progress();
              })
              .catch((e: Error) => o.warn?.(`an approval answer could not be judged: ${e.message}`))),
          // Slack refused the approvals identity itself: no answer can come, so say so now
          onError: (code) =>
            finish({
              status: 'failed',
              why: `Slack refused the approvals identity while waiting (${code}): fix its credential (scopes/fleet.yaml approvals.slack)`,
            }),
        });
        // answers Slack delivers (a reply, a reaction, a button), judged as they come
        const unlisten = o.events
          ? listen(
              channel,
              ts,
              (s) =>
                void (judging = judging
                  .then(async () => {
                    if (done) return;
                    const v = await judgeDelivered(s);
                    if (v && Date.now() <= deadline && !req.signal?.aborted) finish(v);
                  })
                  .catch((e: Error) => o.warn?.(`an approval answer could not be judged: ${e.message}`))),
            )
          : () => {};
      }).then(async (v) => {
        // decided or expired: the buttons go, so nobody presses one that no longer counts
        if (o.events && v.status !== 'withdrawn' && v.status !== 'failed') {
          const text =
            v.status === 'approved'
              ? `:white_check_mark: *Approved* by <@${v.by}> (call ${req.call.slice(0, 8)}): running.`
              : v.status === 'declined'
                ? `:x: *Declined* by <@${v.by ?? '?'}> (call ${req.call.slice(0, 8)}): not run.`
                : `:hourglass: *Expired* (call ${req.call.slice(0, 8)}): no answer in time, not run.`;
          await web.chat.update({ channel, ts, text, blocks: requestBlocks(text) }).catch(() => undefined);
        }
        return v;
      });
    },

    async answers(ref): Promise<Answer[]> {
      const t = ref.channel === channel ? await watch.read(ref.ts) : undefined;
      if (!t) return [];
      return seenIn(t.parent, t.replies, t.prev * 1000, msEndUs(t.at)).flatMap((v) =>
        v.approve === undefined ? [] : [{ user: v.user, approve: v.approve }],
      );
    },
  };
}

/** The request as Block Kit: its text in sections (each within Slack's 3,000 characters), then, while it waits, the Approve and Decline buttons. */
export function requestBlocks(text: string, call?: string): KnownBlock[] {
  const sections: KnownBlock[] = splitParts(text).map((t) => ({ type: 'section', text: { type: 'mrkdwn', text: t } }));
  if (!call) return sections;
  const button = (action_id: string, label: string, style: 'primary' | 'danger') => ({
    type: 'button' as const,
    action_id,
    text: { type: 'plain_text' as const, text: label },
    style,
    value: call,
  });
  return [
    ...sections,
    {
      type: 'actions',
      block_id: 'fleet_approval',
      elements: [button(APPROVE_ACTION, 'Approve', 'primary'), button(DECLINE_ACTION, 'Decline', 'danger')],
    },
  ];
}

const MEMBER_ID = /^[UW][A-Z0-9]{2,20}$/;

/**
 * The requester's member IDs in this workspace. A requester proven as a member is that member. One
 * proven otherwise (an e-mail) is recognised through the member IDs fleet.yaml people: links to
 * them, each checked here (users.info): at least one must be a full human member of this workspace,
 * and where the token may read e-mails (users:read.email) its profile's must be the requester's.
 * Anything less is refused: no approver could be told apart from the requester.
 */
async function requesterHere(
  req: ApprovalRequest,
  member: (u: string) => Promise<Member | undefined>,
): Promise<{ ids: string[] } | { refused: string }> {
  if (!req.requester) return { ids: [] };
  if (req.requesterKind === 'slack-user') return { ids: [req.requester] };
  const links = (req.requesterIds ?? []).filter((id) => MEMBER_ID.test(id));
  const refused = (why: string) => ({
    refused: `the requester ${req.requester} cannot be told apart from an approver: ${why}`,
  });
  if (!links.length) return refused('fleet.yaml people: links them to no member ID');
  const here: string[] = [];
  for (const id of links) {
    let m: Member | undefined;
    try {
      m = await member(id);
    } catch (e) {
      return refused(
        `their member ID ${id} could not be checked (${(e as { data?: { error?: string } }).data?.error ?? 'request failed'})`,
      );
    }
    if (!m?.human) continue;
    if (m.email && m.email !== req.requester)
      return refused(`fleet.yaml people: links them to ${id}, whose e-mail in Slack is another's`);
    here.push(id);
  }
  if (!here.length)
    return refused(
      `none of the member IDs fleet.yaml people: links to them (${links.join(', ')}) is a full member of this workspace`,
    );
  return { ids: links };
}
