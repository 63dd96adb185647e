import { z } from 'zod';
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
  maxItems,
  lines,
  text,
} from '../common.js';
import { safeKey, safePrefix } from '../names.js';
import { free, on } from '../../../shared/connector/tool.js';

const namespaceId = hexId('KV namespace');
const key = safeKey('key', 512).describe('Key');
const keyCovers = { namespace_id: on('namespaces'), key: on('key_prefix') };

export const kvListNamespaces = cfTool({
  name: 'kv_list_namespaces',
  description: 'List the KV namespaces this instance may use, with their IDs.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({ namespaces: z.array(z.object({ id: z.string(), title: z.string() })) }),
  needs: ['Workers KV Storage Read'],
  constraints: { namespaces: C.namespaces },
  covers: {},
  async run(_a, { client, signal }) {
    const all = await collect(
      client.api.kv.namespaces.list({ account_id: client.account, per_page: 100 }, { signal }),
      WALK,
      signal,
    );
    return { namespaces: all.map((n) => ({ id: n.id, title: n.title })) };
  },
  lists: { namespaces: { namespaces: (n: { id: string }) => n.id } },
  limit: () => SHOWN,
  text: (o) =>
    lines(
      o.namespaces.map((n) => `${n.id} ${n.title}`),
      '(no granted namespaces)',
    ),
});

export const kvListKeys = cfTool({
  name: 'kv_list_keys',
  description: 'List keys in a KV namespace, optionally under a prefix.',
  access: 'read',
  annotations: READ,
  input: z.object({
    namespace_id: namespaceId,
    prefix: safePrefix('prefix').optional(),
    limit: maxItems(1000).optional(),
    cursor: text(1000).optional().describe('from the previous page'),
  }),
  output: z.object({
    keys: z.array(z.object({ name: z.string(), expiration: z.number().optional() })),
    cursor: z.string().optional(),
  }),
  needs: ['Workers KV Storage Read'],
  constraints: { namespaces: C.namespaces, key_prefix: C.key_prefix },
  // A prefix narrower than the grant's is checked like a key; without one, keys are filtered.
  covers: {
    namespace_id: on('namespaces'),
    prefix: on('key_prefix'),
    limit: free('a count'),
    cursor: free('continues a listing; keys are filtered by key_prefix'),
  },
  async run(a, { client, signal }) {
    const page = await client.api.kv.namespaces.keys.list(
      a.namespace_id,
      { account_id: client.account, prefix: a.prefix, limit: Math.max(10, a.limit ?? 100), cursor: a.cursor },
      { signal },
    );
    const keys = page
      .getPaginatedItems()
      .map((k) => ({ name: k.name, ...(k.expiration ? { expiration: k.expiration } : {}) }));
    const cursor = (page.result_info as { cursor?: string } | undefined)?.cursor || undefined;
    return { keys, cursor };
  },
  lists: { keys: { key_prefix: (k: { name: string }) => k.name } },
  limit: (a) => a.limit ?? 100,
  text: (o) =>
    lines(
      o.keys.map((k) => k.name),
      '(no keys)',
    ) + (o.cursor ? `\n(more: cursor ${o.cursor})` : ''),
});

export const kvGet = cfTool({
  name: 'kv_get',
  description: 'Read the value of a KV key as text.',
  access: 'read',
  annotations: READ,
  input: z.object({ namespace_id: namespaceId, key }),
  output: z.object({ key: z.string(), value: z.string() }),
  needs: ['Workers KV Storage Read'],
  constraints: { namespaces: C.namespaces, key_prefix: C.key_prefix },
  covers: keyCovers,
  async run(a, { client, signal }) {
    const res = await client.api.kv.namespaces.values.get(
      a.key,
      { account_id: client.account, namespace_id: a.namespace_id },
      { signal },
    );
    return { key: a.key, value: await res.text() };
  },
  text: (o) => o.value,
});

export const kvPut = cfTool({
  name: 'kv_put',
  description: 'Write a text value to a KV key.',
  access: 'write',
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({
    namespace_id: namespaceId,
    key,
    value: z.string().refine((s) => s.length <= 1_000_000, 'value must be at most 1,000,000 characters'),
    expiration_ttl: whole((n) => n >= 60, 'must be at least 60 seconds')
      .optional()
      .describe('seconds'),
  }),
  output: z.object({ key: z.string(), written: z.boolean() }),
  needs: ['Workers KV Storage Write'],
  constraints: { namespaces: C.namespaces, key_prefix: C.key_prefix },
  audit: { value: 'body' },
  covers: { ...keyCovers, value: free('the value, kept as a body hash'), expiration_ttl: free('a duration') },
  async run(a, { client, signal }) {
    await client.api.kv.namespaces.values.update(
      a.key,
      { account_id: client.account, namespace_id: a.namespace_id, value: a.value, expiration_ttl: a.expiration_ttl },
      { signal },
    );
    return { key: a.key, written: true };
  },
  text: (o) => `wrote ${o.key}`,
});

export const kvDelete = cfTool({
  name: 'kv_delete',
  description: 'Delete a KV key.',
  access: 'destructive',
  annotations: DESTROY,
  input: z.object({ namespace_id: namespaceId, key }),
  output: z.object({ key: z.string(), deleted: z.boolean() }),
  needs: ['Workers KV Storage Write'],
  constraints: { namespaces: C.namespaces, key_prefix: C.key_prefix },
  covers: keyCovers,
  async run(a, { client, signal }) {
    await client.api.kv.namespaces.values.delete(
      a.key,
      { account_id: client.account, namespace_id: a.namespace_id },
      { signal },
    );
    return { key: a.key, deleted: true };
  },
  text: (o) => `deleted ${o.key}`,
});
