// The Slack Web API methods the tools use, as Slack answers them: HTTP 200 with {ok:false, error}
// for API errors, cursor pagination in response_metadata.next_cursor ('' at the end). As strict as
// Slack where the fleet's identity rules depend on it: a member's `profile.email` only to a token
// holding users:read.email, every member with its home `team_id` and every message with its
// author's `team` (a Slack Connect member's is another organisation's).
import { homeTeam, type SlackChannel, type SlackMessage, type SlackUser, type Workspace } from './seed.js';

export type Params = Record<string, string>;
export interface Caller {
  ws: Workspace;
  scopes: string[];
  /** who the token acts as: the workspace's bot, or a human with a user token */
  user: SlackUser;
}
export class SlackError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(error);
  }
}

/** method → the scope it needs ('' for none) and its implementation */
export const METHODS: Record<string, { scope: string; run(c: Caller, p: Params): Record<string, unknown> }> = {
  'auth.test': {
    scope: '',
    run: ({ ws, user }) => ({
      url: `https://${ws.domain}.slack.com/`,
      team: ws.name,
      user: user.name,
      team_id: ws.id,
      user_id: user.id,
      ...(user.bot_id ? { bot_id: user.bot_id } : {}),
      is_enterprise_install: false,
    }),
  },
  'conversations.list': {
    scope: 'channels:read',
    run: ({ ws }, p) => {
      const types = (p.types ?? 'public_channel').split(',');
      const all = ws.channels.filter((c) => types.includes(c.is_private ? 'private_channel' : 'public_channel'));
      const page = paginate(all, p, 100);
      return { channels: page.items.map((c) => conversation(ws, c)), response_metadata: { next_cursor: page.next } };
    },
  },
  'conversations.info': {
    scope: 'channels:read',
    run: ({ ws }, p) => ({ channel: conversation(ws, findChannel(ws, p.channel)) }),
  },
  'conversations.history': {
    scope: 'channels:history',
    run: ({ ws }, p) => {
      const ch = findChannel(ws, p.channel);
      const top = ch.messages
        .filter((m) => !m.thread_ts || m.thread_ts === m.ts)
        .slice()
        .reverse(); // newest first
      const ranged = inRange(top, p);
      const page = paginate(ranged, p, 100);
      return {
        messages: page.items.map((m) => message(ws, m)),
        has_more: page.next !== '',
        pin_count: 0,
        channel_actions_ts: null,
        channel_actions_count: 0,
        response_metadata: { next_cursor: page.next },
      };
    },
  },
  'conversations.replies': {
    scope: 'channels:history',
    run: ({ ws }, p) => {
      const ch = findChannel(ws, p.channel);
      const target = ch.messages.find((m) => m.ts === p.ts);
      if (!target) throw new SlackError('thread_not_found');
      const root = target.thread_ts ?? target.ts;
      const msgs = ch.messages.filter((m) => m.ts === root || m.thread_ts === root);
      const page = paginate(inRange(msgs, p), p, 1000);
      return {
        messages: page.items.map((m) => message(ws, m)),
        has_more: page.next !== '',
        response_metadata: { next_cursor: page.next },
      };
    },
  },
  'chat.postMessage': {
    scope: 'chat:write',
    run: ({ ws, user }, p) => {
      const ch = findChannel(ws, p.channel);
      const text = needText(p);
      const m: SlackMessage = {
        type: 'message',
        ts: nextTs(),
        user: user.id,
        ...(user.bot_id ? { bot_id: user.bot_id } : {}),
        text,
        ...blocksOf(p),
      };
      if (p.thread_ts) {
        const parent = ch.messages.find((x) => x.ts === p.thread_ts);
        if (!parent) throw new SlackError('thread_not_found');
        parent.thread_ts = parent.ts;
        parent.reply_count = (parent.reply_count ?? 0) + 1;
        parent.latest_reply = m.ts;
        if (!parent.reply_users?.includes(user.id)) parent.reply_users = [...(parent.reply_users ?? []), user.id];
        m.thread_ts = parent.ts;
      }
      ch.messages.push(m);
      return { channel: ch.id, ts: m.ts, message: message(ws, m) };
    },
  },
  'chat.update': {
    scope: 'chat:write',
    run: ({ ws, user }, p) => {
      const ch = findChannel(ws, p.channel);
      const m = ch.messages.find((x) => x.ts === p.ts);
      if (!m) throw new SlackError('message_not_found');
      if (m.user !== user.id) throw new SlackError('cant_update_message');
      m.text = needText(p);
      // Slack: the update's blocks replace the message's; with none given, none are left
      delete m.blocks;
      Object.assign(m, blocksOf(p));
      m.edited = { user: user.id, ts: nextTs() };
      return { channel: ch.id, ts: m.ts, text: m.text, message: { text: m.text, edited: m.edited } };
    },
  },
  'chat.delete': {
    scope: 'chat:write',
    run: ({ ws, user }, p) => {
      const ch = findChannel(ws, p.channel);
      const i = ch.messages.findIndex((x) => x.ts === p.ts);
      if (i < 0) throw new SlackError('message_not_found');
      if (ch.messages[i]!.user !== user.id) throw new SlackError('cant_delete_message');
      ch.messages.splice(i, 1);
      return { channel: ch.id, ts: p.ts };
    },
  },
  'chat.getPermalink': {
    scope: '',
    run: ({ ws }, p) => {
      const ch = findChannel(ws, p.channel);
      if (!ch.messages.some((m) => m.ts === p.message_ts)) throw new SlackError('message_not_found');
      return { channel: ch.id, permalink: permalink(ws, ch.id, p.message_ts!) };
    },
  },
  'reactions.add': {
    scope: 'reactions:write',
    run: ({ ws, user }, p) => {
      const ch = findChannel(ws, p.channel);
      const m = ch.messages.find((x) => x.ts === p.timestamp);
      if (!m) throw new SlackError('message_not_found');
      if (!p.name || !/^[a-z0-9_+'-]+$/.test(p.name)) throw new SlackError('invalid_name');
      m.reactions ??= [];
      let r = m.reactions.find((x) => x.name === p.name);
      if (r?.users.includes(user.id)) throw new SlackError('already_reacted');
      if (!r) m.reactions.push((r = { name: p.name, users: [], count: 0 }));
      r.users.push(user.id);
      r.count++;
      return {};
    },
  },
  'users.list': {
    scope: 'users:read',
    run: ({ ws, scopes }, p) => {
      const page = paginate(ws.users, p, 100);
      return {
        members: page.items.map((u) => user(ws, u, scopes)),
        cache_ts: 1767225600,
        response_metadata: { next_cursor: page.next },
      };
    },
  },
  'users.info': {
    scope: 'users:read',
    run: ({ ws, scopes }, p) => {
      const u = ws.users.find((x) => x.id === p.user);
      if (!u) throw new SlackError('user_not_found');
      return { user: user(ws, u, scopes) };
    },
  },
  'search.messages': {
    scope: 'search:read',
    run: ({ ws }, p) => {
      const q = (p.query ?? '').trim().toLowerCase();
      if (!q) throw new SlackError('no_query');
      const count = clamp(Number(p.count ?? 20), 1, 100);
      const page = clamp(Number(p.page ?? 1), 1, 100);
      const hits = ws.channels.flatMap((c) =>
        c.messages.filter((m) => m.text.toLowerCase().includes(q)).map((m) => ({ c, m })),
      );
      const slice = hits.slice((page - 1) * count, page * count);
      return {
        query: p.query,
        messages: {
          total: hits.length,
          matches: slice.map(({ c, m }) => ({
            iid: `${c.id}-${m.ts}`,
            team: message(ws, m).team,
            channel: { id: c.id, name: c.name, is_private: c.is_private },
            type: 'message',
            user: m.user,
            username: ws.users.find((u) => u.id === m.user)?.name ?? '',
            ts: m.ts,
            text: m.text,
            permalink: permalink(ws, c.id, m.ts),
          })),
          paging: { count, total: hits.length, page, pages: Math.max(1, Math.ceil(hits.length / count)) },
        },
      };
    },
  },
};

let tsCounter = 0;
export function nextTs(): string {
  const now = Date.now();
  return `${Math.floor(now / 1000)}.${String((now % 1000) * 1000 + (tsCounter++ % 1000)).padStart(6, '0')}`;
}

const clamp = (n: number, lo: number, hi: number) =>
  Number.isFinite(n) ? Math.min(hi, Math.max(lo, Math.floor(n))) : lo;

function blocksOf(p: Params): Pick<SlackMessage, 'blocks'> {
  if (!p.blocks) return {};
  let blocks: unknown;
  try {
    blocks = JSON.parse(p.blocks);
  } catch {
    throw new SlackError('invalid_blocks');
  }
  if (
    !Array.isArray(blocks) ||
    blocks.length > 50 ||
    blocks.some((b) => !b || typeof (b as { type?: unknown }).type !== 'string')
  )
    throw new SlackError('invalid_blocks');
  return blocks.length ? { blocks: blocks as SlackMessage['blocks'] } : {};
}

function needText(p: Params): string {
  const text = p.text ?? '';
  if (!text.trim() && !p.blocks && !p.attachments) throw new SlackError('no_text');
  if (text.length > 40_000) throw new SlackError('msg_too_long');
  return text;
}

function findChannel(ws: Workspace, id: string | undefined): SlackChannel {
  const ch = ws.channels.find((c) => c.id === id);
  if (!ch) throw new SlackError('channel_not_found');
  return ch;
}

function inRange(msgs: SlackMessage[], p: Params): SlackMessage[] {
  const incl = p.inclusive === 'true' || p.inclusive === '1';
  return msgs.filter((m) => {
    const t = Number(m.ts);
    if (p.latest && (incl ? t > Number(p.latest) : t >= Number(p.latest))) return false;
    if (p.oldest && (incl ? t < Number(p.oldest) : t <= Number(p.oldest))) return false;
    return true;
  });
}

function paginate<T>(all: T[], p: Params, max: number): { items: T[]; next: string } {
  const limit = clamp(Number(p.limit ?? max), 1, max);
  let offset = 0;
  if (p.cursor) {
    const m = /^offset:(\d+)$/.exec(Buffer.from(p.cursor, 'base64').toString());
    if (!m) throw new SlackError('invalid_cursor');
    offset = Number(m[1]);
  }
  const items = all.slice(offset, offset + limit);
  const next = offset + limit < all.length ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '';
  return { items, next };
}

function permalink(ws: Workspace, channel: string, ts: string): string {
  return `https://${ws.domain}.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
}

function conversation(ws: Workspace, c: SlackChannel) {
  return {
    id: c.id,
    name: c.name,
    name_normalized: c.name,
    is_channel: !c.is_private,
    is_group: c.is_private,
    is_im: false,
    is_mpim: false,
    is_private: c.is_private,
    is_archived: false,
    is_general: c.name === 'general',
    is_shared: false,
    is_org_shared: false,
    is_member: true,
    created: c.created,
    creator: ws.users[0]!.id,
    topic: { value: c.topic, creator: ws.users[0]!.id, last_set: c.created },
    purpose: { value: c.topic, creator: ws.users[0]!.id, last_set: c.created },
    num_members: ws.users.length,
  };
}

/** A message as Slack sends it: with its author's workspace (`team`); a Slack Connect author's is their own. */
function message(ws: Workspace, m: SlackMessage) {
  const author = ws.users.find((u) => u.id === m.user);
  return { ...m, team: author ? homeTeam(ws, author) : ws.id };
}

/** A member as users.info/users.list show them: `profile.email` only to a token holding users:read.email. */
function user(ws: Workspace, u: Workspace['users'][number], scopes: string[]) {
  const email = scopes.includes('users:read.email') && u.email ? { email: u.email } : {};
  return {
    id: u.id,
    team_id: homeTeam(ws, u),
    name: u.name,
    real_name: u.real_name,
    deleted: u.deleted ?? false,
    is_bot: u.is_bot,
    is_restricted: u.is_restricted ?? false,
    is_ultra_restricted: u.is_ultra_restricted ?? false,
    is_app_user: false,
    is_admin: false,
    is_owner: false,
    tz: u.tz,
    profile: {
      real_name: u.real_name,
      display_name: u.name,
      ...email,
      team: homeTeam(ws, u),
      ...(u.bot_id ? { bot_id: u.bot_id } : {}),
    },
  };
}
