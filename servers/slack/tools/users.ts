import { z } from 'zod';
import { pageSize, slackTool } from '../common.js';
import { free } from '../../../shared/connector/tool.js';

// Emails and profile details stay out: a model needs who someone is, not how to reach them.
const user = z.object({
  id: z.string(),
  name: z.string(),
  real_name: z.string().optional(),
  bot: z.boolean(),
  tz: z.string().optional(),
});
type User = z.infer<typeof user>;

const toUser = (u: { id?: string; name?: string; real_name?: string; is_bot?: boolean; tz?: string }): User => ({
  id: u.id ?? '',
  name: u.name ?? '',
  real_name: u.real_name || undefined,
  bot: !!u.is_bot,
  tz: u.tz || undefined,
});
const render = (u: User) => `${u.id} @${u.name}${u.real_name ? ` (${u.real_name})` : ''}${u.bot ? ' [bot]' : ''}`;

export const listUsers = slackTool({
  name: 'list_users',
  description: 'List workspace members (ID, handle, name).',
  access: 'read',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  input: z.object({ limit: pageSize(200, 1000).optional().describe('Max users') }),
  output: z.object({ users: z.array(user) }),
  needs: ['users:read'],
  constraints: {},
  covers: { limit: free('a count') },
  async run(a, { client, signal }) {
    const max = a.limit ?? 200;
    const out: User[] = [];
    let cursor: string | undefined;
    while (out.length < max && !signal.aborted) {
      const res = await client.users.list({ limit: 200, cursor });
      for (const u of res.members ?? []) if (!u.deleted) out.push(toUser(u));
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) break;
    }
    return { users: out };
  },
  lists: { users: {} }, // no grant narrows members
  limit: (a) => a.limit ?? 200,
  text: (o) => o.users.map(render).join('\n'),
});

export const getUser = slackTool({
  name: 'get_user',
  description: 'Look up one member by user ID.',
  access: 'read',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  input: z.object({
    user: z
      .string()
      .refine((s) => /^[UW][A-Z0-9]{2,}$/.test(s), 'must be a user ID such as U0123ABCD')
      .describe('User ID (U…)'),
  }),
  output: user,
  needs: ['users:read'],
  constraints: {},
  covers: { user: free('the workspace directory is not scoped by grant') },
  async run(a, { client }) {
    const res = await client.users.info({ user: a.user });
    return toUser(res.user ?? {});
  },
  text: render,
});
