import { z } from 'zod';
import { C, READ, slackTool, channelId, pageSize, message, messageTs, renderMessages, toMessage } from '../common.js';
import { free, on } from '../../../shared/connector/tool.js';

const page = z.object({ messages: z.array(message), next_cursor: z.string().optional() });

export const readHistory = slackTool({
  name: 'read_history',
  description: 'Read recent messages of a channel, newest first.',
  access: 'read',
  annotations: READ,
  input: z.object({
    channel: channelId,
    limit: pageSize(20, 100).optional(),
    cursor: z.string().max(500).optional().describe('next_cursor of a previous page'),
  }),
  output: page,
  needs: ['channels:history'],
  constraints: { channels: C.channels },
  covers: { channel: on('channels'), limit: free('a count'), cursor: free('continues a listing of the same channel') },
  async run(a, { client }) {
    const res = await client.conversations.history({ channel: a.channel, limit: a.limit ?? 20, cursor: a.cursor });
    return {
      messages: (res.messages ?? []).map(toMessage),
      next_cursor: res.response_metadata?.next_cursor || undefined,
    };
  },
  lists: { messages: {} }, // all in the granted channel (a fact of the call)
  limit: (a) => a.limit ?? 20,
  text: (o) => renderMessages(o.messages) + (o.next_cursor ? `\n(more: cursor ${o.next_cursor})` : ''),
});

export const readThread = slackTool({
  name: 'read_thread',
  description: 'Read a message and all replies in its thread.',
  access: 'read',
  annotations: READ,
  input: z.object({ channel: channelId, ts: messageTs.describe('ts of any message in the thread') }),
  output: page,
  needs: ['channels:history'],
  constraints: { channels: C.channels },
  covers: { channel: on('channels'), ts: free('a message in the granted channel') },
  async run(a, { client }) {
    const res = await client.conversations.replies({ channel: a.channel, ts: a.ts, limit: 200 });
    return { messages: (res.messages ?? []).map(toMessage) };
  },
  text: (o) => renderMessages(o.messages),
});

export const getPermalink = slackTool({
  name: 'get_permalink',
  description: 'Get a shareable link to a message.',
  access: 'read',
  annotations: READ,
  input: z.object({ channel: channelId, ts: messageTs }),
  output: z.object({ permalink: z.string() }),
  needs: [],
  constraints: { channels: C.channels },
  covers: { channel: on('channels'), ts: free('a message in the granted channel') },
  async run(a, { client }) {
    const res = await client.chat.getPermalink({ channel: a.channel, message_ts: a.ts });
    return { permalink: res.permalink ?? '' };
  },
  text: (o) => o.permalink,
});

/** Pages of 100 matches search_messages reads at most before it filters them to the grant. */
const SEARCH_PAGES = 5;
const match = z.object({
  channel: z.string(),
  ts: z.string(),
  user: z.string().optional(),
  text: z.string(),
  permalink: z.string().optional(),
});

export const searchMessages = slackTool({
  name: 'search_messages',
  description: 'Search messages by text; only channels this instance may read are searched.',
  access: 'read',
  annotations: READ,
  input: z.object({
    query: z.string().min(1).max(500).describe('Slack search query'),
    limit: pageSize(20, 100).optional(),
  }),
  output: z.object({ matches: z.array(match) }),
  needs: ['search:read'],
  constraints: { channels: C.channels },
  covers: {
    query: free('search text: the matches are filtered to granted channels'),
    limit: free('a count: the core cuts the granted matches to it'),
  },
  // Full pages, newest first: the core keeps matches in granted channels, then cuts to `limit`. A
  // page of matches in other channels would otherwise hide every granted one behind it.
  async run(a, { client, signal, allows }) {
    const want = a.limit ?? 20;
    const enough = () => matches.filter((m) => allows('channels', m.channel)).length >= want;
    const matches: z.infer<typeof match>[] = [];
    for (let page = 1; page <= SEARCH_PAGES && !signal.aborted; page++) {
      const res = await client.search.messages({ query: a.query, count: 100, page, sort: 'timestamp' });
      for (const m of res.messages?.matches ?? []) {
        matches.push({
          channel: m.channel?.id ?? '',
          ts: m.ts ?? '',
          user: m.user || undefined,
          text: m.text ?? '',
          permalink: m.permalink || undefined,
        });
      }
      if (page >= (res.messages?.paging?.pages ?? 1) || enough()) break; // the core still does the filtering
    }
    return { matches };
  },
  lists: { matches: { channels: (m: z.infer<typeof match>) => m.channel } },
  limit: (a) => a.limit ?? 20,
  text: (o) =>
    o.matches.map((m) => `${m.channel} ${m.ts} ${m.user ?? '?'}: ${m.text}`).join('\n') ||
    '(no matches in granted channels)',
});
