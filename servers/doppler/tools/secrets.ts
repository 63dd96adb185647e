import { z } from 'zod';
import type { ToolContext } from '../../../shared/connector/tool.js';
import { C, READ, configName, dopplerTool, project, secretName, type Doppler } from '../common.js';
import { on } from '../../../shared/connector/tool.js';

export const listSecretNames = dopplerTool({
  name: 'list_secret_names',
  description: 'List the names (never values) of the secrets in a config that this instance may see.',
  access: 'read',
  annotations: READ,
  input: z.object({ config: configName }),
  output: z.object({ config: z.string(), names: z.array(z.string()) }),
  needs: [],
  constraints: { configs: C.configs, secrets: C.secrets },
  covers: { config: on('configs') },
  run: async (a, ctx) => ({ config: a.config, names: await ctx.client.names(project(ctx), a.config) }),
  lists: { names: { secrets: (n: string) => n } },
  text: (o) => (o.names.length ? `${o.config}: ${o.names.join(', ')}` : `${o.config}: (no granted secret names)`),
});

// How many change log entries get_secret reads back to find a secret's last change.
const LOG_LOOKUPS = 10;

/** When `name` last changed, from the config's change log; undefined beyond the last few entries. */
async function lastChange(ctx: ToolContext<Doppler>, config: string, name: string): Promise<string | undefined> {
  const logs = await ctx.client.logs(project(ctx), config, LOG_LOOKUPS);
  for (const log of logs) {
    if (ctx.signal.aborted) return undefined;
    if ((await ctx.client.logNames(project(ctx), config, log.id)).includes(name)) return log.created_at;
  }
  return undefined;
}

export const getSecret = dopplerTool({
  name: 'get_secret',
  description:
    'Check a secret: whether it is set, its length and when it last changed; its value only with reveal where granted.',
  access: 'read',
  annotations: READ,
  input: z.object({
    config: configName,
    name: secretName,
    reveal: z.boolean().optional().describe('Return the value (only if the grant allows)'),
  }),
  output: z.object({
    config: z.string(),
    name: z.string(),
    set: z.boolean(),
    length: z.number().int(),
    changed_at: z.string().optional(),
    value: z.string().optional(),
  }),
  needs: [],
  constraints: { configs: C.configs, secrets: C.secrets, reveal: C.reveal },
  covers: {
    config: on('configs'),
    name: on('secrets'),
    reveal: on('reveal', (r: boolean, a: { name: string }) => (r ? [a.name] : [])),
  },
  async run(a, ctx) {
    const s = await ctx.client.secret(project(ctx), a.config, a.name);
    const raw = s?.raw ?? '';
    // No hash of the value: a short secret's hash is as good as the secret.
    return {
      config: a.config,
      name: a.name,
      set: raw.length > 0,
      length: raw.length,
      changed_at: s ? await lastChange(ctx, a.config, a.name) : undefined,
      ...(a.reveal && s ? { value: raw } : {}),
    };
  },
  text: (o) =>
    `${o.config}/${o.name}: ${o.set ? `set, ${o.length} characters` : 'not set'}${o.changed_at ? `, last changed ${o.changed_at}` : ''}` +
    (o.value !== undefined ? `\nvalue: ${o.value}` : ''),
});
