import { z } from 'zod';
import { C, READ, configName, dopplerTool, project } from '../common.js';
import { free, on } from '../../../shared/connector/tool.js';

export const configActivity = dopplerTool({
  name: 'config_activity',
  description: 'Show recent changes to a config: who changed how many secrets, and when.',
  access: 'read',
  annotations: READ,
  input: z.object({
    config: configName,
    limit: z.number().int().min(1).max(100).optional().describe('Max entries (20)'),
  }),
  output: z.object({
    config: z.string(),
    entries: z.array(
      z.object({
        id: z.string(),
        text: z.string(),
        created_at: z.string(),
        user: z.string().optional(),
        rollback: z.boolean(),
      }),
    ),
  }),
  needs: [],
  constraints: { configs: C.configs },
  covers: { config: on('configs'), limit: free('a count') },
  // The list carries no diffs: the values a change set or removed are never fetched here.
  run: async (a, ctx) => ({ config: a.config, entries: await ctx.client.logs(project(ctx), a.config, a.limit ?? 20) }),
  lists: { entries: {} }, // all of the granted config (a fact of the call)
  limit: (a) => a.limit ?? 20,
  text: (o) =>
    o.entries.map((e) => `${e.created_at} ${e.user ?? '?'}: ${e.text}${e.rollback ? ' (rollback)' : ''}`).join('\n') ||
    '(no changes)',
});
