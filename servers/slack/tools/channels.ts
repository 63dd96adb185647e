import { z } from 'zod';
import { C, READ, slackTool, limit, type Slack } from '../common.js';

const channel = z.object({ id: z.string(), name: z.string(), private: z.boolean(), topic: z.string().optional() });

export const listChannels = slackTool({
  name: 'list_channels',
  description: 'List the Slack channels this instance may use, with IDs to pass to other tools.',
  access: 'read',
  annotations: READ,
  input: z.object({ limit: limit(100, 1000).optional().describe('Max channels') }),
  output: z.object({ channels: z.array(channel) }),
  needs: ['channels:read'],
  constraints: { channels: C.channels },
  facts: () => [],
  async run({ limit: max = 100 }, { client, signal }) {
    const out: z.infer<typeof channel>[] = [];
    let cursor: string | undefined;
    // Walk pages until `max` granted channels are found; filtering happens per page.
    for (let page = 0; page < 50 && !signal.aborted; page++) {
      const res = await client.conversations.list({ types: 'public_channel,private_channel', exclude_archived: true, limit: 200, cursor });
      for (const c of res.channels ?? []) out.push({ id: c.id!, name: c.name ?? '', private: !!c.is_private, topic: c.topic?.value || undefined });
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) break;
    }
    return { channels: out.slice(0, max) };
  },
  filter: (out, ctx) => ({ channels: out.channels.filter((c) => ctx.allows('channels', c.id)) }),
  text: (out) => out.channels.map((c) => `${c.id} #${c.name}${c.private ? ' (private)' : ''}`).join('\n') || '(no granted channels)',
});
