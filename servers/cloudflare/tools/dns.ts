import { z } from 'zod';
import { Denied, Stopped } from '../../../shared/base/errors.js';
import type { ToolContext } from '../../../shared/connector/tool.js';
import {
  C,
  DESTROY,
  READ,
  WRITE,
  cfTool,
  whole,
  collect,
  hexId,
  SHOWN,
  WALK,
  lines,
  text,
  type CF,
} from '../common.js';
import { free, lookup, on } from '../../../shared/connector/tool.js';

const zoneId = hexId('zone');
/** dns_list_records shows at most this many granted records */
const RECORDS_SHOWN = 5000;
const TYPES = ['A', 'AAAA', 'CNAME', 'TXT', 'MX'] as const;
/** Record names are compared as the API stores them: lower-case, no trailing dot. */
const fqdn = z
  .string()
  .transform((s) => s.toLowerCase().replace(/\.$/, ''))
  .refine(
    (s) => /^(\*\.)?([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z]{2,63}$/.test(s),
    'must be a full record name such as api.example.com',
  )
  .describe('Full record name');

const record = z.object({
  id: z.string(),
  type: z.string(),
  name: z.string(),
  content: z.string(),
  ttl: z.number().optional(),
  proxied: z.boolean().optional(),
});
type Record_ = z.infer<typeof record>;
const toRecord = (r: {
  id?: string;
  type?: string;
  name?: string;
  content?: string;
  ttl?: number;
  proxied?: boolean;
}): Record_ => ({
  id: r.id ?? '',
  type: r.type ?? '',
  name: r.name ?? '',
  content: r.content ?? '',
  ttl: r.ttl,
  proxied: r.proxied,
});
const render = (r: Record_) => `${r.id} ${r.type} ${r.name} ${r.content}${r.proxied ? ' (proxied)' : ''}`;

/** A zone the grant names must still belong to the pinned account; checked once per zone. */
async function zoneFacts(ctx: ToolContext<CF>, zone: string): Promise<{ on: string; value: string }[]> {
  const facts: { on: string; value: string }[] = [];
  if (!ctx.allows('zones', zone)) return facts;
  let owner = ctx.client.zoneAccounts.get(zone);
  if (!owner) {
    const z_ = await ctx.client.api.zones.get({ zone_id: zone }, { signal: ctx.signal });
    owner = z_.account?.id ?? '';
    ctx.client.zoneAccounts.set(zone, owner);
  }
  if (owner !== ctx.client.account) {
    throw new Denied(
      'upstream.account',
      `denied: zone ${zone} belongs to account ${owner || '(unknown)'}, not ${ctx.client.account} pinned by ${ctx.manifest.id} (${ctx.manifest.file}:${ctx.manifest.line('upstream.account')})`,
    );
  }
  return facts;
}

export const listZones = cfTool({
  name: 'list_zones',
  description: 'List the zones (domains) this instance may use, with their IDs.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({ zones: z.array(z.object({ id: z.string(), name: z.string(), status: z.string().optional() })) }),
  needs: ['Zone Read'],
  constraints: { zones: C.zones },
  covers: {},
  async run(_a, { client, signal }) {
    const all = await collect(
      client.api.zones.list({ account: { id: client.account }, per_page: 50 }, { signal }),
      WALK,
      signal,
    );
    return { zones: all.map((z_) => ({ id: z_.id, name: z_.name, status: z_.status })) };
  },
  lists: { zones: { zones: (z_: { id: string }) => z_.id } },
  limit: () => SHOWN,
  text: (o) =>
    lines(
      o.zones.map((z_) => `${z_.id} ${z_.name}`),
      '(no granted zones)',
    ),
});

export const dnsListRecords = cfTool({
  name: 'dns_list_records',
  description: 'List DNS records of a zone, optionally by exact name or type.',
  access: 'read',
  annotations: READ,
  input: z.object({ zone_id: zoneId, name: fqdn.optional(), type: z.enum(TYPES).optional() }),
  output: z.object({ records: z.array(record) }),
  needs: ['DNS Read'],
  constraints: { zones: C.zones, names: C.listNames, types: C.listTypes },
  covers: {
    zone_id: on('zones'),
    name: free('narrows the listing; the records shown are filtered by names'),
    type: free('narrows the listing; the records shown are filtered by types'),
  },
  facts: (a, ctx) => zoneFacts(ctx, a.zone_id),
  async run(a, { client, signal }) {
    const list = client.api.dns.records.list(
      {
        zone_id: a.zone_id,
        per_page: 100,
        ...(a.name ? { name: { exact: a.name } } : {}),
        ...(a.type ? { type: a.type } : {}),
      },
      { signal },
    );
    return { records: (await collect(list, WALK, signal)).map(toRecord) };
  },
  lists: { records: { names: (r: Record_) => r.name, types: (r: Record_) => r.type } },
  limit: () => RECORDS_SHOWN,
  text: (o) => lines(o.records.map(render), '(no records)'),
});

export const dnsUpsertRecord = cfTool({
  name: 'dns_upsert_record',
  description: 'Create a DNS record, or update the one with that name and type.',
  access: 'write',
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({
    zone_id: zoneId,
    type: z.enum(TYPES),
    name: fqdn,
    content: text(2048, 'content').describe('IP, target or text'),
    ttl: whole((n) => n === 1 || (n >= 30 && n <= 86400), 'must be 1 (auto) or 30 to 86400').optional(),
    proxied: z.boolean().optional(),
    priority: whole((n) => n >= 0 && n <= 65535, 'must be 0 to 65535')
      .optional()
      .describe('MX'),
  }),
  output: record.extend({ created: z.boolean() }),
  needs: ['DNS Write'],
  constraints: { zones: C.zones, names: C.names, types: C.types },
  covers: {
    zone_id: on('zones'),
    name: on('names'),
    type: on('types'),
    content: free('what the record points at'),
    ttl: free('a duration'),
    proxied: free('a setting of the granted record'),
    priority: free('a setting of the granted record'),
  },
  facts: (a, ctx) => zoneFacts(ctx, a.zone_id),
  async run(a, { client, signal }) {
    const existing = await collect(
      client.api.dns.records.list(
        { zone_id: a.zone_id, name: { exact: a.name }, type: a.type, per_page: 100 },
        { signal },
      ),
      100,
      signal,
    );
    if (existing.length > 1) {
      throw new Stopped(
        'ambiguous',
        `${existing.length} ${a.type} records are named ${a.name}; delete the extra ones with dns_delete_record first`,
      );
    }
    const body = {
      zone_id: a.zone_id,
      type: a.type,
      name: a.name,
      content: a.content,
      ttl: a.ttl ?? 1,
      ...(a.proxied !== undefined ? { proxied: a.proxied } : {}),
      ...(a.type === 'MX' ? { priority: a.priority ?? 10 } : {}),
    } as never;
    const r = existing[0]?.id
      ? await client.api.dns.records.update(existing[0].id, body, { signal })
      : await client.api.dns.records.create(body, { signal });
    return { ...toRecord(r), created: !existing[0] };
  },
  text: (o) => `${o.created ? 'created' : 'updated'} ${render(o)}`,
});

export const dnsDeleteRecord = cfTool({
  name: 'dns_delete_record',
  description: 'Delete a DNS record by its ID.',
  access: 'destructive',
  annotations: DESTROY,
  input: z.object({ zone_id: zoneId, id: hexId('record') }),
  output: z.object({ id: z.string(), deleted: z.boolean() }),
  needs: ['DNS Write'],
  constraints: { zones: C.zones, names: C.names, types: C.types },
  // The record's name and type decide; they are read only once its zone is granted.
  covers: { zone_id: on('zones'), id: lookup('names', 'types') },
  async facts(a, ctx) {
    const facts = await zoneFacts(ctx, a.zone_id);
    if (!ctx.allows('zones', a.zone_id)) return facts;
    const r = await ctx.client.api.dns.records.get(a.id, { zone_id: a.zone_id }, { signal: ctx.signal });
    return [...facts, { on: 'names', value: r.name ?? '' }, { on: 'types', value: r.type ?? '' }];
  },
  async run(a, { client, signal }) {
    await client.api.dns.records.delete(a.id, { zone_id: a.zone_id }, { signal });
    return { id: a.id, deleted: true };
  },
  text: (o) => `deleted record ${o.id}`,
});
