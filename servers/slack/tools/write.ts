import { z } from 'zod';
import { Denied } from '../../../shared/base/errors.js';
import type { ToolContext } from '../../../shared/connector/tool.js';
import {
  C,
  DESTROY,
  WRITE,
  bodyCovers,
  channelId,
  messageTs,
  slackTool,
  text,
  writeConstraints,
  type Slack,
} from '../common.js';
import { free, on } from '../../../shared/connector/tool.js';

const posted = z.object({ channel: z.string(), ts: z.string() });
const renderPosted = (o: z.infer<typeof posted>) => `posted ${o.channel} ${o.ts}`;

export const postMessage = slackTool({
  name: 'post_message',
  description: 'Post a new message to a channel.',
  access: 'write',
  annotations: WRITE,
  input: z.object({ channel: channelId, text }),
  output: posted,
  needs: ['chat:write'],
  constraints: writeConstraints,
  audit: { text: 'body' },
  covers: { channel: on('channels'), text: bodyCovers },
  async run(a, { client }) {
    const res = await client.chat.postMessage({
      channel: a.channel,
      text: a.text,
      link_names: false,
      unfurl_links: false,
    });
    return { channel: res.channel ?? a.channel, ts: res.ts ?? '' };
  },
  text: renderPosted,
});

export const replyInThread = slackTool({
  name: 'reply_in_thread',
  description: 'Reply in the thread of a message.',
  access: 'write',
  annotations: WRITE,
  input: z.object({ channel: channelId, thread_ts: messageTs.describe('ts of the thread parent'), text }),
  output: posted,
  needs: ['chat:write'],
  constraints: writeConstraints,
  audit: { text: 'body' },
  covers: { channel: on('channels'), thread_ts: free('a thread in the granted channel'), text: bodyCovers },
  async run(a, { client }) {
    const res = await client.chat.postMessage({
      channel: a.channel,
      thread_ts: a.thread_ts,
      text: a.text,
      link_names: false,
    });
    return { channel: res.channel ?? a.channel, ts: res.ts ?? '' };
  },
  text: (o) => `replied ${o.channel} ${o.ts}`,
});

/**
 * Edits and deletions only touch this instance's own bot messages. The author is looked up only
 * once the channel itself is granted, so a refused channel is never read.
 */
async function ownMessage(tool: string, channel: string, ts: string, ctx: ToolContext<Slack>): Promise<void> {
  if (!ctx.allows('channels', channel)) return;
  const res = await ctx.client.conversations.replies({ channel, ts, limit: 1000 });
  const m = res.messages?.find((x) => x.ts === ts);
  if (!m)
    throw new Denied(
      `tools.${tool}`,
      `denied: no message ${ts} in ${channel}; ${tool} only touches messages this bot posted`,
    );
  const mine = m.user === ctx.identity.user || (!!m.bot_id && m.bot_id === ctx.identity.bot);
  if (!mine) {
    throw new Denied(
      `tools.${tool}.own_messages`,
      `denied: ${tool} only touches messages posted by this instance's bot (${ctx.identity.user}); message ${ts} was posted by ${m.user ?? m.bot_id ?? 'someone else'}. Reply in its thread instead.`,
    );
  }
}

export const updateMessage = slackTool({
  name: 'update_message',
  description: 'Edit the text of a message this bot posted.',
  access: 'write',
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({ channel: channelId, ts: messageTs, text }),
  output: posted,
  needs: ['chat:write', 'channels:history'],
  constraints: writeConstraints,
  audit: { text: 'body' },
  covers: {
    channel: on('channels'),
    ts: free('a message in the granted channel; facts() checks this bot posted it'),
    text: bodyCovers,
  },
  async facts(a, ctx) {
    await ownMessage('update_message', a.channel, a.ts, ctx);
    return [];
  },
  async run(a, { client }) {
    const res = await client.chat.update({ channel: a.channel, ts: a.ts, text: a.text, link_names: false });
    return { channel: res.channel ?? a.channel, ts: res.ts ?? a.ts };
  },
  text: (o) => `updated ${o.channel} ${o.ts}`,
});

export const deleteMessage = slackTool({
  name: 'delete_message',
  description: 'Delete a message this bot posted.',
  access: 'destructive',
  annotations: DESTROY,
  input: z.object({ channel: channelId, ts: messageTs }),
  output: posted,
  needs: ['chat:write', 'channels:history'],
  constraints: { channels: C.channels },
  covers: { channel: on('channels'), ts: free('a message in the granted channel; facts() checks this bot posted it') },
  async facts(a, ctx) {
    await ownMessage('delete_message', a.channel, a.ts, ctx);
    return [];
  },
  async run(a, { client }) {
    const res = await client.chat.delete({ channel: a.channel, ts: a.ts });
    return { channel: res.channel ?? a.channel, ts: res.ts ?? a.ts };
  },
  text: (o) => `deleted ${o.channel} ${o.ts}`,
});
