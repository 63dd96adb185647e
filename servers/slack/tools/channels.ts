import { z } from 'zod';
import { C, READ, slackTool, pageSize } from '../common.js';
import { free } from '../../../shared/connector/tool.js';

const channel = z.object({ id: z.string(), name: z.string(), private: z.boolean(), topic: z.string().optional() });

export const listChannels = slackTool({
  name: 'list_channels',
  description: 'List the Slack channels this instance may use, with IDs to pass to other tools.',
  access: 'read',
  annotations: READ,
  input: z.object({ limit: pageSize(100, 1000).optional().describe('Max channels') }),
  output: z.object({ channels: z.array(channel) }),
  needs: ['channels:read'],
  constraints: { channels: C.channels },
  covers: { limit: free('a count: the core cuts the granted channels to it') },
  // Every page is walked (up to 50): the core keeps the granted channels, then cuts to `limit`.
  async run(_a, { client, signal }) {
    const out: z.infer<typeof channel>[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 50 && !signal.aborted; page++) {
      const res = await client.conversations.list({
        types: 'public_channel,private_channel',
        exclude_archived: true,
        limit: 200,
        cursor,
      });
      for (const c of res.channels ?? [])
        out.push({ id: c.id!, name: c.name ?? '', private: !!c.is_private, topic: c.topic?.value || undefined });
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) break;
    }
    return { channels: out };
  },
  lists: { channels: { channels: (c: z.infer<typeof channel>) => c.id } },
  limit: (a) => a.limit ?? 100,
  text: (out) =>
    out.channels.map((c) => `${c.id} #${c.name}${c.private ? ' (private)' : ''}`).join('\n') || '(no granted channels)',
});
