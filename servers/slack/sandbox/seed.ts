// The sandbox's workspaces, matching scopes/slack.dev.yaml and scopes/slack.prod.yaml.
export interface SlackUser {
  id: string;
  name: string;
  real_name: string;
  is_bot: boolean;
  bot_id?: string;
  email?: string;
  tz: string;
  deleted?: boolean;
  /** a guest: single-channel (ultra) or multi-channel (restricted) */
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  /** the member's home workspace when it is not this one: a Slack Connect member of a shared channel */
  team?: string;
}

export interface SlackMessage {
  type: 'message';
  ts: string;
  user: string;
  text: string;
  bot_id?: string;
  thread_ts?: string;
  reply_count?: number;
  /** a thread's parent: the newest reply's ts and who replied, as conversations.history shows them */
  latest_reply?: string;
  reply_users?: string[];
  reactions?: { name: string; users: string[]; count: number }[];
  /** set by chat.update, as Slack marks an edited message */
  edited?: { user: string; ts: string };
  /** Block Kit, as posted (a request's buttons) */
  blocks?: { type: string; elements?: { type: string; action_id?: string }[] }[];
}

export interface SlackChannel {
  id: string;
  name: string;
  is_private: boolean;
  created: number;
  topic: string;
  /** newest last; replies included (thread_ts set and != ts) */
  messages: SlackMessage[];
}

export interface Workspace {
  id: string;
  name: string;
  domain: string;
  bot: SlackUser & { bot_id: string };
  users: SlackUser[];
  channels: SlackChannel[];
}

/** The home workspace of the sandbox's Slack Connect member (another organisation). */
export const PARTNER_TEAM = 'T0PARTNER';

/** A member's home workspace: their own, or the one they are in. */
export const homeTeam = (ws: Workspace, u: SlackUser): string => u.team ?? ws.id;

const T0 = 1767225600; // 2026-01-01T00:00:00Z
const ts = (n: number) => `${T0 + n * 60}.${String(100 + n).padStart(6, '0')}`;
const msg = (n: number, user: string, text: string, extra: Partial<SlackMessage> = {}): SlackMessage => ({
  type: 'message',
  ts: ts(n),
  user,
  text,
  ...extra,
});

const channel = (
  id: string,
  name: string,
  topic: string,
  messages: SlackMessage[],
  is_private = false,
): SlackChannel => ({
  id,
  name,
  is_private,
  created: T0 - 86_400 * 30,
  topic,
  messages,
});

function thread(parent: SlackMessage, replies: SlackMessage[]): SlackMessage[] {
  parent.thread_ts = parent.ts;
  parent.reply_count = replies.length;
  if (replies.length) {
    parent.latest_reply = replies.at(-1)!.ts;
    parent.reply_users = [...new Set(replies.map((r) => r.user))];
  }
  for (const r of replies) r.thread_ts = parent.ts;
  return [parent, ...replies];
}

export function seedWorkspaces(): Workspace[] {
  const devBot = {
    id: 'U0DEVBOT',
    name: 'blogbot-dev',
    real_name: 'Blog Bot (dev)',
    is_bot: true,
    bot_id: 'B0DEVBLOGBOT',
    tz: 'UTC',
  };
  const prodBot = {
    id: 'U0PRODBOT',
    name: 'blogbot',
    real_name: 'Blog Bot',
    is_bot: true,
    bot_id: 'B0PRODBLOGBOT',
    tz: 'UTC',
  };
  const dev: Workspace = {
    id: 'T0BLOGDEV',
    name: 'Blog Dev Sandbox',
    domain: 'blog-dev',
    bot: devBot,
    users: [
      {
        id: 'U0DEVALICE',
        name: 'alice',
        real_name: 'Alice Developer',
        is_bot: false,
        email: 'alice@example.com',
        tz: 'Europe/Berlin',
      },
      {
        id: 'U0DEVBOB',
        name: 'bob',
        real_name: 'Bob Tester',
        is_bot: false,
        email: 'bob@example.com',
        tz: 'America/New_York',
      },
      devBot,
    ],
    channels: [
      channel('C0DEVGENERAL', 'general', 'Everything about the dev sandbox', [
        msg(1, 'U0DEVALICE', 'Welcome to the blog dev sandbox.'),
        ...thread(msg(2, 'U0DEVBOB', 'Does the draft preview work again?'), [
          msg(3, 'U0DEVALICE', 'Yes, fixed in the last deploy.'),
          msg(4, 'U0DEVBOT', 'Preview rebuilt for draft 42.', { bot_id: devBot.bot_id }),
        ]),
      ]),
      channel('C0DEVBOTTEST', 'bot-test', 'Where the bot may post', [
        msg(5, 'U0DEVBOT', 'Bot test channel ready.', { bot_id: devBot.bot_id }),
        msg(6, 'U0DEVALICE', 'Testing replies here.'),
      ]),
      channel('C0DEVSCRATCH', 'bot-scratch', 'Scratch space for bot experiments', [msg(7, 'U0DEVBOB', 'scratch')]),
      channel('C0DEVPRIVATE', 'hiring', 'Private: hiring', [msg(8, 'U0DEVALICE', 'Candidate notes (private).')], true),
    ],
  };
  const prod: Workspace = {
    id: 'T0BLOGPROD',
    name: 'Blog HQ',
    domain: 'blog-hq',
    bot: prodBot,
    users: [
      {
        id: 'U0EDITOR1',
        name: 'erin',
        real_name: 'Erin Editor',
        is_bot: false,
        email: 'erin@example.com',
        tz: 'Europe/London',
      },
      {
        id: 'U0EDITOR2',
        name: 'sam',
        real_name: 'Sam Subeditor',
        is_bot: false,
        email: 'sam@example.com',
        tz: 'Europe/London',
      },
      {
        id: 'U0WRITER1',
        name: 'wes',
        real_name: 'Wes Writer',
        is_bot: false,
        email: 'wes@example.com',
        tz: 'America/Chicago',
      },
      {
        id: 'U0WRITER2',
        name: 'kim',
        real_name: 'Kim Columnist',
        is_bot: false,
        email: 'kim@example.com',
        tz: 'Asia/Tokyo',
      },
      // members that look human but must never prove a request or approve one
      {
        id: 'U0GUEST1',
        name: 'gus',
        real_name: 'Gus Guest',
        is_bot: false,
        email: 'gus@partner.example',
        tz: 'UTC',
        is_restricted: true,
      },
      {
        id: 'U0FORMER1',
        name: 'fay',
        real_name: 'Fay Former',
        is_bot: false,
        email: 'fay@example.com',
        tz: 'UTC',
        deleted: true,
      },
      prodBot,
      // The approvals identity: its own bot, separate from every instance's bot (scopes/fleet.yaml).
      {
        id: 'U0APPROVALS',
        name: 'fleet-approvals',
        real_name: 'Fleet Approvals',
        is_bot: true,
        bot_id: 'B0APPROVALSBOT',
        tz: 'UTC',
      },
      // A Slack Connect member: a full human of another organisation's workspace, in the shared
      // editorial and approvals channels. Slack shows them like a member (users.info answers, their
      // messages read back) but with their own team_id; they are nobody of this workspace.
      {
        id: 'U0PARTNER1',
        name: 'pat',
        real_name: 'Pat Partner',
        is_bot: false,
        email: 'pat@partner.example',
        tz: 'UTC',
        team: PARTNER_TEAM,
      },
    ],
    channels: [
      channel('C0EDITORIAL', 'editorial', 'Drafts, reviews and publishing', [
        ...thread(msg(10, 'U0WRITER1', 'Draft: "Ten years of the blog" is ready for review.'), [
          msg(11, 'U0EDITOR1', 'Reviewing now.'),
        ]),
        msg(12, 'U0PRODBOT', 'Published: "Release notes 4.2".', { bot_id: prodBot.bot_id }),
        msg(16, 'U0PARTNER1', 'Hi from the partner agency: our guest post is in the shared folder.'),
      ]),
      channel('C0GENERAL', 'general', 'Company-wide', [msg(13, 'U0EDITOR2', 'Office closed Friday.')]),
      channel('C0RANDOM', 'random', 'Off-topic', [msg(14, 'U0WRITER1', 'Lunch?')]),
      channel('C0APPROVALS', 'approvals', 'Approval requests from the fleet', [
        msg(17, 'U0PARTNER1', 'Partner agency here: we can help review.'),
      ]),
      channel('C0FINANCE', 'finance', 'Private: finance', [msg(15, 'U0EDITOR2', 'Q3 numbers (private).')], true),
    ],
  };
  return [dev, prod];
}
