import { Stopped } from '../../../shared/base/errors.js';
import { z } from 'zod';
import { C, DESTROY, READ, WRITE, cfTool, maxItems, lines, text } from '../common.js';
import { BUCKET, named, safeKey, safePrefix } from '../names.js';
import { free, on } from '../../../shared/connector/tool.js';

const bucket = named(BUCKET, 'must be an R2 bucket name: 3-63 lower-case letters, digits and -').describe('Bucket');
const key = safeKey('object key').describe('Object key');
const objectCovers = { bucket: on('buckets'), key: on('key_prefix') };
/** r2_get_object returns text only, and at most this much of it */
export const R2_TEXT_CAP = 256 * 1024;

export const r2ListBuckets = cfTool({
  name: 'r2_list_buckets',
  description: 'List the R2 buckets this instance may use.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({ buckets: z.array(z.object({ name: z.string(), created: z.string().optional() })) }),
  needs: ['Workers R2 Storage Read'],
  constraints: { buckets: C.buckets },
  covers: {},
  async run(_a, { client, signal }) {
    const res = await client.api.r2.buckets.list({ account_id: client.account, per_page: 1000 }, { signal });
    return { buckets: (res.buckets ?? []).map((b) => ({ name: b.name ?? '', created: b.creation_date })) };
  },
  lists: { buckets: { buckets: (b: { name: string }) => b.name } },
  text: (o) =>
    lines(
      o.buckets.map((b) => b.name),
      '(no granted buckets)',
    ),
});

const object = z.object({ key: z.string(), size: z.number().optional(), uploaded: z.string().optional() });

export const r2ListObjects = cfTool({
  name: 'r2_list_objects',
  description: 'List objects in an R2 bucket, optionally under a prefix.',
  access: 'read',
  annotations: READ,
  input: z.object({
    bucket,
    prefix: safePrefix('prefix').optional(),
    limit: maxItems(1000).optional(),
    cursor: text(1000).optional().describe('from the previous page'),
  }),
  output: z.object({ objects: z.array(object), cursor: z.string().optional() }),
  needs: ['Workers R2 Storage Read'],
  constraints: { buckets: C.buckets, key_prefix: C.key_prefix },
  covers: {
    bucket: on('buckets'),
    prefix: on('key_prefix'),
    limit: free('a count'),
    cursor: free('continues a listing; objects are filtered by key_prefix'),
  },
  async run(a, { client, signal }) {
    const page = await client.api.r2.buckets.objects.list(
      a.bucket,
      { account_id: client.account, prefix: a.prefix, per_page: a.limit ?? 100, cursor: a.cursor },
      { signal },
    );
    const objects = page
      .getPaginatedItems()
      .map((o) => ({ key: o.key ?? '', size: o.size, uploaded: o.last_modified }));
    return { objects, cursor: (page.result_info as { cursor?: string } | undefined)?.cursor || undefined };
  },
  lists: { objects: { key_prefix: (x: { key: string }) => x.key } },
  limit: (a) => a.limit ?? 100,
  text: (o) =>
    lines(
      o.objects.map((x) => `${x.key} ${x.size ?? '?'} B`),
      '(no objects)',
    ) + (o.cursor ? `\n(more: cursor ${o.cursor})` : ''),
});

/** Reads at most `cap` bytes of a body; the rest is never downloaded. */
async function readCapped(res: Response, cap: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  if (!reader) return { bytes: Buffer.alloc(0), truncated: false };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: Buffer.concat(chunks), truncated: false };
    chunks.push(Buffer.from(value));
    size += value.byteLength;
    if (size > cap) {
      await reader.cancel();
      return { bytes: Buffer.concat(chunks).subarray(0, cap), truncated: true };
    }
  }
}

export const r2GetObject = cfTool({
  name: 'r2_get_object',
  description: `Read an R2 object as UTF-8 text (first ${R2_TEXT_CAP / 1024} KiB).`,
  access: 'read',
  annotations: READ,
  input: z.object({ bucket, key }),
  output: z.object({
    key: z.string(),
    size: z.number(),
    content_type: z.string().optional(),
    text: z.string(),
    truncated: z.boolean(),
  }),
  needs: ['Workers R2 Storage Read'],
  constraints: { buckets: C.buckets, key_prefix: C.key_prefix },
  covers: objectCovers,
  async run(a, { client, signal }) {
    const res = await client.api.r2.buckets.objects.get(
      a.key,
      { account_id: client.account, bucket_name: a.bucket },
      { signal },
    );
    const { bytes, truncated } = await readCapped(res, R2_TEXT_CAP);
    let text: string;
    try {
      // A cut may split a multi-byte character: only the complete prefix must decode.
      text = new TextDecoder('utf-8', { fatal: !truncated }).decode(bytes);
    } catch {
      throw new Stopped('not_text', `object ${a.key} is not UTF-8 text; r2_get_object returns text only`);
    }
    const length = Number(res.headers.get('content-length'));
    return {
      key: a.key,
      size: Number.isFinite(length) && length > 0 ? length : bytes.length,
      content_type: res.headers.get('content-type') ?? undefined,
      text,
      truncated,
    };
  },
  text: (o) => o.text + (o.truncated ? `\n[truncated at ${R2_TEXT_CAP} of ${o.size} bytes]` : ''),
});

export const r2PutObject = cfTool({
  name: 'r2_put_object',
  description: 'Write a text object to an R2 bucket.',
  access: 'write',
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({
    bucket,
    key,
    text: z.string().refine((s) => s.length <= 5_000_000, 'text must be at most 5,000,000 characters'),
    content_type: z
      .string()
      .refine((s) => /^[\w.+-]+\/[\w.+-]+(; ?charset=[\w-]+)?$/.test(s), 'must be a media type such as text/markdown')
      .optional()
      .describe('default text/plain'),
  }),
  output: z.object({ key: z.string(), size: z.number(), etag: z.string().optional() }),
  needs: ['Workers R2 Storage Write'],
  constraints: { buckets: C.buckets, key_prefix: C.key_prefix },
  audit: { text: 'body' },
  covers: { ...objectCovers, text: free('the content, kept as a body hash'), content_type: free('a media type') },
  async run(a, { client, signal }) {
    const res = await client.api.r2.buckets.objects.upload(
      a.key,
      a.text,
      { account_id: client.account, bucket_name: a.bucket },
      {
        signal,
        headers: { 'Content-Type': a.content_type ?? 'text/plain; charset=utf-8' },
      },
    );
    return { key: a.key, size: Number(res.size ?? Buffer.byteLength(a.text)), etag: res.etag };
  },
  text: (o) => `wrote ${o.key} (${o.size} B)`,
});

export const r2DeleteObject = cfTool({
  name: 'r2_delete_object',
  description: 'Delete an object from an R2 bucket.',
  access: 'destructive',
  annotations: DESTROY,
  input: z.object({ bucket, key }),
  output: z.object({ key: z.string(), deleted: z.boolean() }),
  needs: ['Workers R2 Storage Write'],
  constraints: { buckets: C.buckets, key_prefix: C.key_prefix },
  covers: objectCovers,
  async run(a, { client, signal }) {
    await client.api.r2.buckets.objects.delete(
      a.key,
      { account_id: client.account, bucket_name: a.bucket },
      { signal },
    );
    return { key: a.key, deleted: true };
  },
  text: (o) => `deleted ${o.key}`,
});
