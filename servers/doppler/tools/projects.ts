import { z } from 'zod';
import { C, READ, dopplerTool, project } from '../common.js';

export const listProjects = dopplerTool({
  name: 'list_projects',
  description: 'Show the Doppler project this instance is pinned to.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({
    projects: z.array(z.object({ slug: z.string(), name: z.string(), description: z.string().optional() })),
  }),
  needs: [],
  constraints: {},
  covers: {},
  run: async (_a, { client }) => ({ projects: await client.projects() }),
  // The manifest pins one project; whatever else the token sees stays out of the answer.
  filter: (o, ctx) => ({ projects: o.projects.filter((p) => p.slug === project(ctx)) }),
  text: (o) =>
    o.projects.map((p) => `${p.slug}${p.description ? ` — ${p.description}` : ''}`).join('\n') ||
    '(the pinned project is not visible to this token)',
});

export const listConfigs = dopplerTool({
  name: 'list_configs',
  description: 'List the configs (environments) of the project that this instance may use.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({
    configs: z.array(z.object({ name: z.string(), environment: z.string(), root: z.boolean(), locked: z.boolean() })),
  }),
  needs: [],
  constraints: { configs: C.configs },
  covers: {},
  run: async (_a, ctx) => ({ configs: await ctx.client.configs(project(ctx)) }),
  lists: { configs: { configs: (c: { name: string }) => c.name } },
  text: (o) =>
    o.configs.map((c) => `${c.name} (${c.environment}${c.locked ? ', locked' : ''})`).join('\n') ||
    '(no granted configs)',
});
