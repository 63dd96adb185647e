import { z } from 'zod';
import { C, WRITE, channelId, messageTs, slackTool } from '../common.js';
import { free, on } from '../../../shared/connector/tool.js';

export const addReaction = slackTool({
  name: 'add_reaction',
  description: 'Add an emoji reaction to a message.',
  access: 'write',
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({
    channel: channelId,
    ts: messageTs,
    emoji: z.string().min(1).max(100).describe('Emoji name without colons, e.g. eyes'),
  }),
  output: z.object({ ok: z.boolean() }),
  needs: ['reactions:write'],
  constraints: { channels: C.channels, emoji: C.emoji },
  covers: {
    channel: on('channels'),
    ts: free('a message in the granted channel'),
    emoji: on('emoji', (e: string) => e.replace(/^:|:$/g, '')),
  },
  async run(a, { client }) {
    await client.reactions.add({ channel: a.channel, timestamp: a.ts, name: a.emoji.replace(/^:|:$/g, '') });
    return { ok: true };
  },
  text: () => 'reaction added',
});
