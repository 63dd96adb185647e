import { z } from 'zod';
import { C, DESTROY, WRITE, configName, dopplerTool, project, secretName } from '../common.js';
import { free, on } from '../../../shared/connector/tool.js';

const changed = z.object({ config: z.string(), name: z.string(), length: z.number().int().optional() });

export const setSecret = dopplerTool({
  name: 'set_secret',
  description: 'Set a secret to a value you were asked to set (creates or overwrites it).',
  access: 'write',
  annotations: WRITE,
  input: z.object({ config: configName, name: secretName, value: z.string().max(65_536).describe('The new value') }),
  output: changed,
  needs: [],
  constraints: { configs: C.configs, secrets: C.secrets },
  // The audit record keeps the value's length only.
  audit: { value: 'secret' },
  covers: { config: on('configs'), name: on('secrets'), value: free('the new value, kept as its length only') },
  async run(a, ctx) {
    await ctx.client.set(project(ctx), a.config, a.name, a.value);
    return { config: a.config, name: a.name, length: a.value.length };
  },
  text: (o) => `set ${o.config}/${o.name} (${o.length} characters)`,
});

export const deleteSecret = dopplerTool({
  name: 'delete_secret',
  description: 'Delete a secret from a config.',
  access: 'destructive',
  annotations: DESTROY,
  input: z.object({ config: configName, name: secretName }),
  output: changed,
  needs: [],
  constraints: { configs: C.configs, secrets: C.secrets },
  covers: { config: on('configs'), name: on('secrets') },
  async run(a, ctx) {
    await ctx.client.delete(project(ctx), a.config, a.name);
    return { config: a.config, name: a.name };
  },
  text: (o) => `deleted ${o.config}/${o.name}`,
});
