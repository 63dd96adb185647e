// The sandbox's account, matching scopes/cloudflare.dev.yaml and scopes/cloudflare.prod.yaml:
// the blog bot's dev and production Workers, their KV, R2, D1 and Workflows, and the blog's zone.
// One account holds both, as in production; the manifests decide which half an instance sees.
import { createHash } from 'node:crypto';

export const ACCOUNT = '5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12';
export const OTHER_ACCOUNT = '0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f50';
export const IDS = {
  devKv: '1d0e5f0c2b4a49e7a1c3e5f7a9b1d3e5',
  prodKv: '7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2',
  sessionsKv: '9f8e7d6c5b4a43f2e1d0c9b8a7f6e5d4',
  devDb: 'c0ffee00d1d14000a000000000000001',
  prodDb: 'c0ffee00d1d14000a000000000000002',
  zone: 'e1b2a3c4d5e6f708192a3b4c5d6e7f80',
  devZone: 'ab12cd34ef5647a8b9c0d1e2f3a4b5c6',
  otherZone: 'f0e1d2c3b4a5968778695a4b3c2d1e0f',
};

export interface Script {
  name: string;
  main_module: string;
  modules: Record<string, { type: string; content: string }>;
  bindings: Record<string, unknown>[];
  compatibility_date: string;
  created_on: string;
  modified_on: string;
  etag: string;
}
export interface KvNamespace {
  id: string;
  title: string;
  values: Map<string, { value: Buffer; expiration?: number; metadata?: unknown }>;
}
export interface R2Object {
  body: Buffer;
  contentType: string;
  etag: string;
  uploaded: string;
  custom?: Record<string, string>;
}
export interface Bucket {
  name: string;
  creation_date: string;
  objects: Map<string, R2Object>;
}
export interface D1Database {
  uuid: string;
  name: string;
  created_at: string;
  seed: string[];
}
export interface WorkflowInstance {
  id: string;
  status: string;
  params: unknown;
  output: unknown;
  created_on: string;
  modified_on: string;
  started_on: string | null;
  ended_on: string | null;
  error: { name: string; message: string } | null;
  steps: { name: string; type: string; success: boolean | null; start: string; end: string | null }[];
}
export interface Workflow {
  name: string;
  id: string;
  script: string;
  class_name: string;
  instances: WorkflowInstance[];
}
export interface DnsRecord {
  id: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
  proxied: boolean;
  priority?: number;
  comment: string | null;
  created_on: string;
  modified_on: string;
}
export interface Zone {
  id: string;
  name: string;
  account: string;
  records: DnsRecord[];
}

export interface Account {
  id: string;
  name: string;
  scripts: Map<string, Script>;
  kv: Map<string, KvNamespace>;
  buckets: Map<string, Bucket>;
  d1: Map<string, D1Database>;
  workflows: Map<string, Workflow>;
}

const T0 = '2026-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
export const etagOf = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

function script(name: string, env: string, bindings: Record<string, unknown>[]): Script {
  const content = `// blogbot (${env})\nexport default {\n  async fetch(request, env) {\n    return new Response('blogbot ${env}');\n  },\n};\n`;
  return {
    name,
    main_module: 'worker.js',
    modules: { 'worker.js': { type: 'application/javascript+module', content } },
    bindings,
    compatibility_date: '2025-09-01',
    created_on: at(0),
    modified_on: at(10),
    etag: etagOf(content),
  };
}

const POSTS_SQL = [
  'CREATE TABLE posts (id INTEGER PRIMARY KEY, slug TEXT UNIQUE NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL, published_at TEXT)',
  'CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)',
  'CREATE INDEX posts_status ON posts(status)',
  "CREATE VIEW published AS SELECT id, slug, title FROM posts WHERE status = 'published'",
];
const posts = (rows: [string, string, string, string | null][]) =>
  rows.map(
    ([slug, title, status, when], i) =>
      `INSERT INTO posts VALUES (${i + 1}, '${slug}', '${title}', '${status}', ${when ? `'${when}'` : 'NULL'})`,
  );

function kv(id: string, title: string, entries: Record<string, string>): KvNamespace {
  return { id, title, values: new Map(Object.entries(entries).map(([k, v]) => [k, { value: Buffer.from(v) }])) };
}

function bucket(name: string, objects: Record<string, string>): Bucket {
  return {
    name,
    creation_date: at(0),
    objects: new Map(
      Object.entries(objects).map(([k, v]) => [
        k,
        {
          body: Buffer.from(v),
          contentType: k.endsWith('.json') ? 'application/json' : 'text/plain',
          etag: etagOf(v),
          uploaded: at(5),
        },
      ]),
    ),
  };
}

function instance(id: string, status: string, params: unknown, minutes: number): WorkflowInstance {
  const done = status === 'complete' || status === 'errored';
  return {
    id,
    status,
    params,
    output: done && status === 'complete' ? { published: true } : null,
    created_on: at(minutes),
    modified_on: at(minutes + 1),
    started_on: at(minutes),
    ended_on: done ? at(minutes + 1) : null,
    error: status === 'errored' ? { name: 'Error', message: 'render failed' } : null,
    steps: [{ name: 'render', type: 'step', success: status !== 'errored', start: at(minutes), end: at(minutes + 1) }],
  };
}

export function seedAccounts(): { accounts: Account[]; zones: Zone[] } {
  const main: Account = {
    id: ACCOUNT,
    name: 'Blog Platform',
    scripts: new Map([
      [
        'blogbot-dev',
        script('blogbot-dev', 'dev', [
          { type: 'kv_namespace', name: 'CACHE', namespace_id: IDS.devKv },
          { type: 'r2_bucket', name: 'MEDIA', bucket_name: 'blogbot-dev-media' },
          { type: 'd1', name: 'DB', id: IDS.devDb },
          { type: 'plain_text', name: 'ENVIRONMENT', text: 'dev' },
          { type: 'secret_text', name: 'SLACK_TOKEN' },
        ]),
      ],
      [
        'blogbot',
        script('blogbot', 'prod', [
          { type: 'kv_namespace', name: 'CACHE', namespace_id: IDS.prodKv },
          { type: 'r2_bucket', name: 'MEDIA', bucket_name: 'blogbot-media' },
          { type: 'd1', name: 'DB', id: IDS.prodDb },
          { type: 'workflow', name: 'PUBLISH', workflow_name: 'publish-post' },
          { type: 'plain_text', name: 'ENVIRONMENT', text: 'production' },
          { type: 'secret_text', name: 'SLACK_TOKEN' },
        ]),
      ],
      ['billing-worker', script('billing-worker', 'billing', [])],
    ]),
    kv: new Map([
      [
        IDS.devKv,
        kv(IDS.devKv, 'blogbot-dev-cache', {
          'posts/hello-world': '{"title":"Hello, world"}',
          'config/theme': 'light',
        }),
      ],
      [
        IDS.prodKv,
        kv(IDS.prodKv, 'blogbot-cache', {
          'posts/release-notes-4-2': '{"title":"Release notes 4.2"}',
          'config/theme': 'dark',
          'sessions/u1': 'session-secret-u1',
        }),
      ],
      [IDS.sessionsKv, kv(IDS.sessionsKv, 'blogbot-sessions', { u1: 'session' })],
    ]),
    buckets: new Map([
      [
        'blogbot-dev-media',
        bucket('blogbot-dev-media', { 'drafts/hello.md': '# Hello\n', 'published/hello.md': '# Hello (published)\n' }),
      ],
      [
        'blogbot-media',
        bucket('blogbot-media', {
          'published/release-notes-4-2.md': '# Release notes 4.2\n',
          'drafts/ten-years.md': '# Ten years (draft)\n',
        }),
      ],
      ['blogbot-backups', bucket('blogbot-backups', { 'db/2026-01-01.sql': '-- backup\n' })],
    ]),
    d1: new Map([
      [
        IDS.devDb,
        {
          uuid: IDS.devDb,
          name: 'blogbot-dev-db',
          created_at: at(0),
          seed: [
            ...POSTS_SQL,
            ...posts([
              ['hello-world', 'Hello, world', 'published', at(20)],
              ['draft-one', 'Draft one', 'draft', null],
            ]),
          ],
        },
      ],
      [
        IDS.prodDb,
        {
          uuid: IDS.prodDb,
          name: 'blogbot-db',
          created_at: at(0),
          seed: [
            ...POSTS_SQL,
            ...posts([
              ['release-notes-4-2', 'Release notes 4.2', 'published', at(30)],
              ['ten-years', 'Ten years of the blog', 'draft', null],
            ]),
          ],
        },
      ],
    ]),
    workflows: new Map([
      [
        'publish-post-dev',
        {
          name: 'publish-post-dev',
          id: 'b7e1c0de-0000-4000-8000-000000000001',
          script: 'blogbot-dev',
          class_name: 'PublishPost',
          instances: [instance('dev-run-1', 'complete', { slug: 'hello-world' }, 30)],
        },
      ],
      [
        'publish-post',
        {
          name: 'publish-post',
          id: 'b7e1c0de-0000-4000-8000-000000000002',
          script: 'blogbot',
          class_name: 'PublishPost',
          instances: [
            instance('run-1', 'complete', { slug: 'release-notes-4-2' }, 40),
            instance('run-2', 'errored', { slug: 'ten-years' }, 50),
          ],
        },
      ],
      [
        'reindex-search',
        {
          name: 'reindex-search',
          id: 'b7e1c0de-0000-4000-8000-000000000003',
          script: 'blogbot',
          class_name: 'Reindex',
          instances: [],
        },
      ],
    ]),
  };
  const other: Account = {
    id: OTHER_ACCOUNT,
    name: 'Someone else',
    scripts: new Map(),
    kv: new Map(),
    buckets: new Map(),
    d1: new Map(),
    workflows: new Map(),
  };
  const rec = (id: number, type: string, name: string, content: string, proxied = false): DnsRecord => ({
    id: `d0${String(id).padStart(30, '0')}`,
    type,
    name,
    content,
    ttl: 1,
    proxied,
    comment: null,
    created_on: at(0),
    modified_on: at(0),
  });
  const zones: Zone[] = [
    {
      id: IDS.zone,
      name: 'example-blog.com',
      account: ACCOUNT,
      records: [
        rec(1, 'A', 'example-blog.com', '192.0.2.10', true),
        rec(2, 'CNAME', 'www.example-blog.com', 'example-blog.com', true),
        rec(5, 'TXT', '_verify.example-blog.com', 'verification=abc123'),
        { ...rec(6, 'MX', 'example-blog.com', 'mail.example-blog.com'), priority: 10 },
      ],
    },
    {
      id: IDS.devZone,
      name: 'example-blog.dev',
      account: ACCOUNT,
      records: [
        rec(3, 'A', 'example-blog.dev', '192.0.2.20'),
        rec(4, 'CNAME', 'preview.example-blog.dev', 'example-blog.dev'),
        rec(8, 'TXT', '_verify.example-blog.dev', 'verification=dev123'),
      ],
    },
    {
      id: IDS.otherZone,
      name: 'someone-else.org',
      account: OTHER_ACCOUNT,
      records: [rec(7, 'A', 'someone-else.org', '198.51.100.1')],
    },
  ];
  return { accounts: [main, other], zones };
}
