import { createHash } from 'node:crypto';
import { z } from 'zod';
import { C, DESTROY, READ, WRITE, cfTool, collect, lines, SHOWN, WALK, text, type CF, type Smoke } from '../common.js';
import { SCRIPT, named } from '../names.js';
import { free, on } from '../../../shared/connector/tool.js';

const scriptName = named(SCRIPT, 'must be a Worker name: lower-case letters, digits, - and _').describe('Worker name');

const binding = z.object({
  name: z.string(),
  type: z.string(),
  /** plain_text text, KV namespace ID, bucket name, database ID, workflow name */
  value: z.string().optional(),
});
type Binding = z.infer<typeof binding>;

// Only what identifies a binding; secret values are never returned by the API, and never by us.
function toBinding(b: Record<string, unknown>): Binding {
  const value = {
    plain_text: b.text,
    kv_namespace: b.namespace_id,
    r2_bucket: b.bucket_name,
    d1: b.id,
    workflow: b.workflow_name,
  }[String(b.type)];
  return { name: String(b.name ?? ''), type: String(b.type ?? ''), ...(typeof value === 'string' ? { value } : {}) };
}

/** A deployed Worker as get_worker shows it and smoke_check_worker checks it: main module source and bindings. */
async function readScript(
  client: CF,
  name: string,
  signal: AbortSignal,
): Promise<{ name: string; source: string; compatibility_date?: string; bindings: Binding[] }> {
  const opts = { account_id: client.account };
  const [content, settings] = await Promise.all([
    client.api.workers.scripts.content.get(name, opts, { signal }),
    client.api.workers.scripts.scriptAndVersionSettings.get(name, opts, { signal }),
  ]);
  return {
    name,
    source: await content.text(),
    compatibility_date: settings.compatibility_date,
    bindings: (settings.bindings ?? []).map((b) => toBinding(b as unknown as Record<string, unknown>)),
  };
}

export const listWorkers = cfTool({
  name: 'list_workers',
  description: 'List the Workers this instance may see.',
  access: 'read',
  annotations: READ,
  input: z.object({}),
  output: z.object({ workers: z.array(z.object({ name: z.string(), modified_on: z.string().optional() })) }),
  needs: ['Workers Scripts Read'],
  constraints: { scripts: C.scripts },
  covers: {},
  async run(_a, { client, signal }) {
    const all = await collect(
      client.api.workers.scripts.list({ account_id: client.account }, { signal }),
      WALK,
      signal,
    );
    return { workers: all.map((s) => ({ name: s.id ?? '', modified_on: s.modified_on })) };
  },
  lists: { workers: { scripts: (w: { name: string }) => w.name } },
  limit: () => SHOWN,
  text: (o) =>
    lines(
      o.workers.map((w) => `${w.name}${w.modified_on ? ` (modified ${w.modified_on})` : ''}`),
      '(no granted workers)',
    ),
});

export const getWorker = cfTool({
  name: 'get_worker',
  description: "Get a Worker's main module source and its bindings.",
  access: 'read',
  annotations: READ,
  input: z.object({ name: scriptName }),
  output: z.object({
    name: z.string(),
    source: z.string(),
    compatibility_date: z.string().optional(),
    bindings: z.array(binding),
  }),
  needs: ['Workers Scripts Read'],
  constraints: { scripts: C.scripts },
  covers: { name: on('scripts') },
  run: (a, { client, signal }) => readScript(client, a.name, signal),
  text: (o) =>
    `${o.name} (${o.compatibility_date ?? 'no compatibility date'})\nbindings: ${o.bindings.map((b) => `${b.name}:${b.type}`).join(', ') || 'none'}\n---\n${o.source}`,
});

const bindingArg = z.object({
  name: z.string().refine((s) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(s), 'must be an identifier such as CACHE'),
  type: z.enum(['plain_text', 'kv_namespace', 'r2_bucket', 'd1']),
  value: text(5000, 'value').describe('text or resource ID'),
});

function metadataBinding(b: z.infer<typeof bindingArg>): Record<string, string> {
  switch (b.type) {
    case 'plain_text':
      return { type: b.type, name: b.name, text: b.value };
    case 'kv_namespace':
      return { type: b.type, name: b.name, namespace_id: b.value };
    case 'r2_bucket':
      return { type: b.type, name: b.name, bucket_name: b.value };
    case 'd1':
      return { type: b.type, name: b.name, id: b.value };
  }
}

const BOUND = { kv_namespace: 'namespaces', r2_bucket: 'buckets', d1: 'databases' } as const;

export const deployWorker = cfTool({
  name: 'deploy_worker',
  description: 'Deploy an ES-module Worker from source text with bindings.',
  access: 'write',
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({
    name: scriptName,
    source: text(1_000_000, 'source').describe('ES module source'),
    bindings: z
      .array(bindingArg)
      .refine((b) => b.length <= 64, 'at most 64 bindings')
      .optional(),
    compatibility_date: z
      .string()
      .refine((s) => /^\d{4}-\d{2}-\d{2}$/.test(s), 'must be a date such as 2025-01-01')
      .optional(),
  }),
  output: z.object({ name: z.string(), etag: z.string().optional(), modified_on: z.string().optional() }),
  needs: ['Workers Scripts Write'],
  // A binding hands the Worker a resource; it may only name resources the grant lists.
  constraints: { scripts: C.scripts, namespaces: C.bindNamespaces, buckets: C.bindBuckets, databases: C.bindDatabases },
  audit: { source: 'body' },
  covers: {
    name: on('scripts'),
    source: free('code, kept as a body hash'),
    // each binding to a resource is checked against the grant's list of that kind
    bindings: (['kv_namespace', 'r2_bucket', 'd1'] as const).map((type) =>
      on(BOUND[type], (bs: z.infer<typeof bindingArg>[]) => bs.filter((b) => b.type === type).map((b) => b.value)),
    ),
    compatibility_date: free('a date'),
  },
  async run(a, { client, signal }) {
    const metadata = {
      main_module: 'worker.js',
      compatibility_date: a.compatibility_date ?? '2025-01-01',
      bindings: (a.bindings ?? []).map(metadataBinding),
    };
    // SDK 7.3.0 turns a metadata object into bracketed form fields and forces a non-multipart
    // Content-Type (cloudflare-typescript#2799): send metadata as a JSON part and let fetch set
    // the multipart boundary.
    const res = await client.api.workers.scripts.update(
      a.name,
      {
        account_id: client.account,
        metadata: new File([JSON.stringify(metadata)], 'metadata.json', { type: 'application/json' }) as never,
        files: [new File([a.source], 'worker.js', { type: 'application/javascript+module' })],
      },
      { signal, headers: { 'Content-Type': null } },
    );
    return { name: a.name, etag: res.etag, modified_on: res.modified_on };
  },
  evidence: (a) => deployEvidence(a.name, a.source, a.bindings ?? []),
  text: (o) => `deployed ${o.name}${o.etag ? ` (etag ${o.etag})` : ''}`,
});

const sha = (v: string | Uint8Array) => createHash('sha256').update(v).digest('hex');

/**
 * The bindings a Worker's code relies on, by name and type: the resource IDs and texts they point
 * at differ between development and production by design, so they are not part of the digest.
 */
export function bindingsDigest(bindings: { name: string; type: string }[]): string {
  return sha(
    bindings
      .map((b) => `${b.name}:${b.type}`)
      .sort()
      .join('\n'),
  );
}

/** What a deploy proves, and what a promoted deploy must match: the exact source and binding shape. */
export const deployEvidence = (name: string, source: string, bindings: { name: string; type: string }[]) => ({
  script: name,
  content_sha256: sha(source),
  bindings_sha256: bindingsDigest(bindings),
});

export const smokeCheckWorker = cfTool({
  name: 'smoke_check_worker',
  description: "Run the grant's smoke check against a deployed Worker and record the result.",
  access: 'read',
  annotations: READ,
  input: z.object({ name: scriptName }),
  output: z.object({
    name: z.string(),
    url: z.string(),
    status: z.number(),
    expected_status: z.number(),
    body_sha256: z.string(),
    body_ok: z.boolean(),
    passed: z.boolean(),
    content_sha256: z.string(),
    bindings_sha256: z.string(),
  }),
  needs: ['Workers Scripts Read'],
  constraints: { scripts: C.scripts, smoke: C.smoke },
  covers: { name: on('scripts') },
  facts: (a) => [{ on: 'scripts', value: a.name }],
  async run(a, { client, signal, grant }) {
    const check = grant.smoke as Smoke;
    if (!client.routeOf) throw new Error('no route to the deployment: set upstream.workers_subdomain in the manifest');
    // What is deployed now, read back: the evidence names the deployment the check ran against.
    const { source, bindings } = await readScript(client, a.name, signal);
    const url = `${client.routeOf(a.name)}${check.path}`;
    const res = await fetch(url, { signal, redirect: 'manual' });
    const body = new Uint8Array(await res.arrayBuffer());
    const bodySha = sha(body);
    const bodyOk = check.body_sha256 === undefined || check.body_sha256 === bodySha;
    const ev = deployEvidence(a.name, source, bindings);
    return {
      name: a.name,
      url,
      status: res.status,
      expected_status: check.status,
      body_sha256: bodySha,
      body_ok: bodyOk,
      passed: res.status === check.status && bodyOk,
      content_sha256: ev.content_sha256,
      bindings_sha256: ev.bindings_sha256,
    };
  },
  evidence: (a, o) => ({
    script: a.name,
    check: 'smoke',
    content_sha256: o?.content_sha256 ?? '',
    bindings_sha256: o?.bindings_sha256 ?? '',
    passed: o?.passed ?? false,
    status: o?.status ?? 0,
    expected_status: o?.expected_status ?? 0,
    body_ok: o?.body_ok ?? false,
  }),
  text: (o) =>
    `${o.passed ? 'PASSED' : 'FAILED'}: GET ${o.url} answered ${o.status} (expected ${o.expected_status})${o.body_ok ? '' : ', body digest differs'}; content sha256 ${o.content_sha256.slice(0, 12)}…`,
});

export const deleteWorker = cfTool({
  name: 'delete_worker',
  description: 'Delete a Worker.',
  access: 'destructive',
  annotations: DESTROY,
  input: z.object({ name: scriptName }),
  output: z.object({ name: z.string(), deleted: z.boolean() }),
  needs: ['Workers Scripts Write'],
  constraints: { scripts: C.scripts },
  covers: { name: on('scripts') },
  async run(a, { client, signal }) {
    await client.api.workers.scripts.delete(a.name, { account_id: client.account }, { signal });
    return { name: a.name, deleted: true };
  },
  text: (o) => `deleted ${o.name}`,
});
