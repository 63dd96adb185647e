import { z } from 'zod';
import { C, READ, configName, dopplerTool, project } from '../common.js';
import { on } from '../../../shared/connector/tool.js';

const names = z.array(z.string());
const secret = { secrets: (n: string) => n };

export const compareConfigs = dopplerTool({
  name: 'compare_configs',
  description:
    'Compare two configs: which secret names exist in only one and which values differ (values are never returned).',
  access: 'read',
  annotations: READ,
  input: z.object({ from: configName.describe('First config'), to: configName.describe('Second config') }),
  output: z.object({
    from: z.string(),
    to: z.string(),
    only_in_from: names,
    only_in_to: names,
    differ: names,
    same: names,
  }),
  needs: [],
  constraints: { configs: C.configs, secrets: C.secrets },
  covers: { from: on('configs'), to: on('configs') },
  // Both configs' values are read here and compared here; only names leave this function.
  async run(a, ctx) {
    const [left, right] = await Promise.all([
      ctx.client.secrets(project(ctx), a.from),
      ctx.client.secrets(project(ctx), a.to),
    ]);
    // Doppler's own DOPPLER_* names (project, config, environment) differ between any two configs.
    const mine = (n: string) => !n.startsWith('DOPPLER_');
    const out = {
      from: a.from,
      to: a.to,
      only_in_from: [] as string[],
      only_in_to: [] as string[],
      differ: [] as string[],
      same: [] as string[],
    };
    for (const [n, v] of left) {
      if (!mine(n)) continue;
      if (!right.has(n)) out.only_in_from.push(n);
      else (right.get(n) === v ? out.same : out.differ).push(n);
    }
    for (const n of right.keys()) if (mine(n) && !left.has(n)) out.only_in_to.push(n);
    for (const k of ['only_in_from', 'only_in_to', 'differ', 'same'] as const) out[k].sort();
    return out;
  },
  lists: { only_in_from: secret, only_in_to: secret, differ: secret, same: secret },
  text: (o) =>
    [
      `${o.from} vs ${o.to} (granted names only)`,
      `only in ${o.from}: ${o.only_in_from.join(', ') || '-'}`,
      `only in ${o.to}: ${o.only_in_to.join(', ') || '-'}`,
      `values differ: ${o.differ.join(', ') || '-'}`,
      `same value: ${o.same.join(', ') || '-'}`,
    ].join('\n'),
});
