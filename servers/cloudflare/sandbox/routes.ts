// The Cloudflare v4 operations the tools (and the start-up identity check) use, as the API
// answers them. Paths are matched segment by segment after percent-decoding each segment, as
// the real API does, so an encoded `/` stays inside its key.
import { randomUUID } from 'node:crypto';
import type { EmulatorRequest, Reply } from '../../../shared/connector/emulator.js';
import type { D1Engine } from './d1.js';
import { CfError, cursored, formData, json, ok, paged } from './http.js';
import { etagOf, type Account, type DnsRecord, type Script, type Zone } from './seed.js';
import {
  admits,
  makeGrant,
  newId,
  parseCreate,
  PERMISSION_GROUPS,
  reaches,
  statusOf,
  tokenOut,
  type Grant,
} from './tokens.js';

export type { Grant } from './tokens.js';

/** The sandbox's tokens, for the token routes. */
export interface TokenRegistry {
  /** stores a new grant and returns its secret value */
  add(g: Grant): string;
  remove(id: string): boolean;
  all(): Grant[];
}

export interface Call {
  p: Record<string, string>;
  q: URLSearchParams;
  req: EmulatorRequest;
  token: Grant;
  /** the path's account, already checked against the token */
  account: Account;
  zones: Zone[];
  d1: D1Engine;
  accounts: Account[];
  tokens: TokenRegistry;
}

export interface Route {
  name: string;
  method: string;
  path: string;
  /** any one of these permission groups admits the call ('' for none) */
  perms: string[];
  handle(c: Call): Reply | Promise<Reply>;
}

const read = (group: string) => [`${group} Read`, `${group} Write`];
const write = (group: string) => [`${group} Write`];
const now = () => new Date().toISOString();

function need<T>(v: T | undefined, status: number, code: number, message: string): T {
  if (v === undefined) throw new CfError(status, code, message);
  return v;
}
const scriptOf = (c: Call) =>
  need(c.account.scripts.get(c.p.script!), 404, 10007, 'This Worker does not exist on your account.');
const kvOf = (c: Call) => need(c.account.kv.get(c.p.ns!), 404, 10013, "list keys: 'namespace not found'");
const bucketOf = (c: Call) =>
  need(c.account.buckets.get(c.p.bucket!), 404, 10006, 'The specified bucket does not exist.');
const dbOf = (c: Call) => need(c.account.d1.get(c.p.db!), 404, 7404, 'The database could not be found.');
const workflowOf = (c: Call) => need(c.account.workflows.get(c.p.wf!), 404, 10200, 'workflow.not_found');
function zoneOf(c: Call): Zone {
  const z = c.zones.find((x) => x.id === c.p.zone);
  if (!z) throw new CfError(404, 7003, 'Could not route to /zones, perhaps your object identifier is invalid?');
  if (!reaches(c.token, z.account, z.id)) throw new CfError(403, 9109, 'Unauthorized to access requested resource');
  return z;
}

function zoneOut(c: Call, z: Zone) {
  const account = { id: z.account, name: c.accounts.find((a) => a.id === z.account)?.name ?? '' };
  return {
    id: z.id,
    name: z.name,
    status: 'active',
    paused: false,
    type: 'full',
    development_mode: 0,
    account,
    owner: { id: z.account, type: 'organization', name: account.name },
    meta: {
      cdn_only: false,
      custom_certificate_quota: 0,
      dns_only: false,
      foundation_dns: false,
      page_rule_quota: 3,
      phishing_detected: false,
      step: 2,
    },
    name_servers: ['ada.ns.cloudflare.com', 'bob.ns.cloudflare.com'],
    original_name_servers: null,
    original_registrar: null,
    original_dnshost: null,
    created_on: '2025-01-01T00:00:00Z',
    modified_on: '2025-01-01T00:00:00Z',
    activated_on: '2025-01-01T00:00:00Z',
  };
}

function scriptInfo(s: Script) {
  return {
    id: s.name,
    etag: s.etag,
    handlers: ['fetch'],
    has_assets: false,
    has_modules: true,
    logpush: false,
    compatibility_date: s.compatibility_date,
    compatibility_flags: [],
    created_on: s.created_on,
    modified_on: s.modified_on,
    usage_model: 'bundled',
    tail_consumers: [],
  };
}

const BINDING_FIELDS: Record<string, string[]> = {
  plain_text: ['text'],
  kv_namespace: ['namespace_id'],
  r2_bucket: ['bucket_name'],
  d1: ['id'],
  workflow: ['workflow_name'],
  secret_text: ['text'],
};

async function upload(c: Call): Promise<Reply> {
  const form = await formData(c.req.body, c.req.headers['content-type']);
  const metaPart = form.get('metadata');
  if (metaPart === null) throw new CfError(400, 10021, 'the upload has no metadata part');
  let meta: {
    main_module?: string;
    body_part?: string;
    bindings?: Record<string, unknown>[];
    compatibility_date?: string;
  };
  try {
    meta = JSON.parse(typeof metaPart === 'string' ? metaPart : await metaPart.text());
  } catch {
    throw new CfError(400, 10021, 'metadata is not valid JSON');
  }
  if (!meta.main_module) throw new CfError(400, 10021, 'metadata.main_module is required for an ES module Worker');
  const modules: Script['modules'] = {};
  for (const [field, part] of form.entries()) {
    if (field === 'metadata' || typeof part === 'string') continue;
    modules[part.name || field] = { type: part.type, content: await part.text() };
  }
  const main = modules[meta.main_module];
  if (!main)
    throw new CfError(
      400,
      10021,
      `No such module "${meta.main_module}": the main module must be one of the uploaded parts`,
    );
  if (!/export\s+default\b/.test(main.content))
    throw new CfError(400, 10068, 'The uploaded script has no registered event handlers.');
  const bindings = (meta.bindings ?? []).map((b) => {
    const fields = BINDING_FIELDS[String(b.type)];
    if (!fields || typeof b.name !== 'string')
      throw new CfError(400, 10021, `unsupported binding ${JSON.stringify(b)}`);
    for (const f of fields) if (typeof b[f] !== 'string') throw new CfError(400, 10021, `binding ${b.name} needs ${f}`);
    if (b.type === 'kv_namespace' && !c.account.kv.has(b.namespace_id as string))
      throw new CfError(400, 10041, `KV namespace '${b.namespace_id}' not found.`);
    if (b.type === 'r2_bucket' && !c.account.buckets.has(b.bucket_name as string))
      throw new CfError(400, 10085, `R2 bucket '${b.bucket_name}' not found.`);
    if (b.type === 'd1' && !c.account.d1.has(b.id as string))
      throw new CfError(400, 10021, `D1 database '${b.id}' not found.`);
    return b;
  });
  const prev = c.account.scripts.get(c.p.script!);
  const s: Script = {
    name: c.p.script!,
    main_module: meta.main_module,
    modules,
    bindings,
    compatibility_date: meta.compatibility_date ?? '2021-11-02',
    created_on: prev?.created_on ?? now(),
    modified_on: now(),
    etag: etagOf(main.content),
  };
  c.account.scripts.set(s.name, s);
  return ok({ ...scriptInfo(s), startup_time_ms: 1 });
}

// Secret values never leave the API.
const publicBinding = (b: Record<string, unknown>) => (b.type === 'secret_text' ? { type: b.type, name: b.name } : b);

async function kvPut(c: Call): Promise<Reply> {
  const ns = kvOf(c);
  const ttl = c.q.get('expiration_ttl');
  if (ttl !== null && (!/^\d+$/.test(ttl) || Number(ttl) < 60))
    throw new CfError(400, 10033, `Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least 60.`);
  let value: Buffer;
  let metadata: unknown;
  const type = c.req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const form = await formData(c.req.body, type);
    const v = form.get('value');
    if (v === null) throw new CfError(400, 10001, 'the form has no value field');
    value = typeof v === 'string' ? Buffer.from(v) : Buffer.from(await v.arrayBuffer());
    const m = form.get('metadata');
    if (typeof m === 'string' && m) metadata = JSON.parse(m);
  } else value = c.req.body;
  if (value.length > 25 * 1024 * 1024) throw new CfError(413, 10011, 'value too large');
  ns.values.set(c.p.key!, {
    value,
    ...(ttl ? { expiration: Math.floor(Date.now() / 1000) + Number(ttl) } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
  });
  return ok({});
}

function recordOut(z: Zone, { comment, ...r }: DnsRecord) {
  return {
    ...r,
    ...(comment !== null ? { comment } : {}),
    zone_id: z.id,
    zone_name: z.name,
    proxiable: ['A', 'AAAA', 'CNAME'].includes(r.type),
    locked: false,
    meta: { auto_added: false, managed_by_apps: false, managed_by_argo_tunnel: false },
    tags: [],
    settings: {},
  };
}

const HOST = /^(\*\.)?([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9-]{1,63}$/;
function checkRecord(z: Zone, body: Record<string, unknown>, id?: string): DnsRecord {
  const type = String(body.type ?? '');
  const name = String(body.name ?? '')
    .toLowerCase()
    .replace(/\.$/, '');
  const content = String(body.content ?? '');
  if (!['A', 'AAAA', 'CNAME', 'TXT', 'MX'].includes(type)) throw new CfError(400, 9004, 'DNS record type is invalid.');
  if (!(name === z.name || name.endsWith(`.${z.name}`)) || !HOST.test(name))
    throw new CfError(400, 9005, 'DNS record name is invalid or outside the zone.');
  const valid =
    type === 'A'
      ? /^(\d{1,3})(\.\d{1,3}){3}$/.test(content) && content.split('.').every((o) => Number(o) <= 255)
      : type === 'AAAA'
        ? /^[0-9a-f:]+$/i.test(content) && content.includes(':')
        : type === 'CNAME' || type === 'MX'
          ? HOST.test(content.toLowerCase())
          : content.length > 0 && content.length <= 2048;
  if (!valid) throw new CfError(400, 9005, `Content for ${type} record is invalid.`);
  const ttl = body.ttl === undefined ? 1 : Number(body.ttl);
  if (!Number.isInteger(ttl) || (ttl !== 1 && (ttl < 30 || ttl > 86400)))
    throw new CfError(400, 9021, 'Invalid TTL. Must be between 30 and 86400 seconds, or 1 for Automatic.');
  for (const r of z.records) {
    if (r.id === id || r.name !== name) continue;
    const exclusive = (t: string) => ['A', 'AAAA', 'CNAME'].includes(t);
    if ((type === 'CNAME' && exclusive(r.type)) || (r.type === 'CNAME' && exclusive(type)))
      throw new CfError(400, 81053, 'An A, AAAA, or CNAME record with that host already exists.');
    if (r.type === type && r.content === content) throw new CfError(400, 81058, 'An identical record already exists.');
  }
  return {
    id: id ?? randomUUID().replace(/-/g, ''),
    type,
    name,
    content,
    ttl,
    proxied: body.proxied === true,
    ...(type === 'MX' ? { priority: Number(body.priority ?? 10) } : {}),
    comment: typeof body.comment === 'string' ? body.comment : null,
    created_on: now(),
    modified_on: now(),
  };
}

/** `name=x`, `name.exact=x` or `name[exact]=x`, whichever way the query serializer wrote it */
const exact = (q: URLSearchParams, key: string) => q.get(`${key}.exact`) ?? q.get(`${key}[exact]`) ?? q.get(key);

function instanceOut(wf: { id: string }, i: import('./seed.js').WorkflowInstance) {
  return {
    id: i.id,
    status: i.status,
    created_on: i.created_on,
    modified_on: i.modified_on,
    started_on: i.started_on,
    ended_on: i.ended_on,
    version_id: 'v1',
    workflow_id: wf.id,
    trigger_source: 'api',
  };
}

const ownTokens = (c: Call) => c.tokens.all().filter((t) => t.kind === 'account' && t.owner === c.account.id);
const ownToken = (c: Call) =>
  need(
    ownTokens(c).find((t) => t.id === c.p.id),
    404,
    1003,
    'Token not found',
  );

const A = '/accounts/:account';
export const ROUTES: Route[] = [
  // Identity and account-owned API tokens. `verify` and `permission_groups` come before `:id`.
  {
    name: 'accounts.tokens.verify',
    method: 'GET',
    path: `${A}/tokens/verify`,
    perms: [''],
    handle: (c) => {
      if (c.token.kind !== 'account' || c.token.owner !== c.account.id)
        throw new CfError(401, 1000, 'Invalid API Token');
      return ok({
        id: c.token.id,
        status: statusOf(c.token),
        expires_on: c.token.expires_on ?? '2027-01-01T00:00:00Z',
      });
    },
  },
  {
    name: 'accounts.tokens.permission_groups',
    method: 'GET',
    path: `${A}/tokens/permission_groups`,
    perms: read('Account API Tokens'),
    handle: (c) => {
      const name = c.q.get('name');
      const scope = c.q.get('scope');
      return ok(
        PERMISSION_GROUPS.filter((g) => (!name || g.name === name) && (!scope || g.scopes.includes(scope as never))),
      );
    },
  },
  {
    name: 'accounts.tokens.list',
    method: 'GET',
    path: `${A}/tokens`,
    perms: read('Account API Tokens'),
    handle: (c) => {
      const withExpired = c.q.get('include_expired') === 'true';
      return paged(
        ownTokens(c)
          .filter((t) => withExpired || statusOf(t) !== 'expired')
          .map((t) => tokenOut(t)),
        c.q,
        20,
        50,
      );
    },
  },
  {
    name: 'accounts.tokens.create',
    method: 'POST',
    path: `${A}/tokens`,
    perms: write('Account API Tokens'),
    handle: (c) => {
      const body = parseCreate(json(c.req.body), c.account, c.zones);
      const grant = makeGrant(
        {
          id: newId(),
          kind: 'account',
          owner: c.account.id,
          status: 'active',
          issued_on: now().replace(/\.\d{3}Z$/, 'Z'),
          ...body,
        },
        c.zones,
      );
      const value = c.tokens.add(grant);
      return ok({ ...tokenOut(grant), value });
    },
  },
  {
    name: 'accounts.tokens.get',
    method: 'GET',
    path: `${A}/tokens/:id`,
    perms: read('Account API Tokens'),
    handle: (c) => ok(tokenOut(ownToken(c))),
  },
  {
    name: 'accounts.tokens.delete',
    method: 'DELETE',
    path: `${A}/tokens/:id`,
    perms: write('Account API Tokens'),
    handle: (c) => {
      c.tokens.remove(ownToken(c).id);
      return ok({ id: c.p.id });
    },
  },
  {
    name: 'user.tokens.verify',
    method: 'GET',
    path: '/user/tokens/verify',
    perms: [''],
    handle: (c) => {
      if (c.token.kind !== 'user') throw new CfError(401, 1000, 'Invalid API Token');
      return ok({
        id: c.token.id,
        status: statusOf(c.token),
        expires_on: c.token.expires_on ?? '2027-01-01T00:00:00Z',
      });
    },
  },
  {
    name: 'user.tokens.get',
    method: 'GET',
    path: '/user/tokens/:id',
    perms: ['API Tokens Read'],
    handle: (c) => {
      if (c.token.kind !== 'user' || c.p.id !== c.token.id) throw new CfError(404, 1003, 'Token not found');
      return ok(tokenOut(c.token));
    },
  },
  {
    name: 'accounts.list',
    method: 'GET',
    path: '/accounts',
    perms: [''],
    handle: (c) =>
      paged(
        c.accounts
          .filter((a) => c.token.accounts.includes(a.id))
          .map((a) => ({ id: a.id, name: a.name, type: 'standard', created_on: '2020-01-01T00:00:00Z', settings: {} })),
        c.q,
      ),
  },

  // Workers
  {
    name: 'workers.scripts.list',
    method: 'GET',
    path: `${A}/workers/scripts`,
    perms: read('Workers Scripts'),
    handle: (c) => ok([...c.account.scripts.values()].map(scriptInfo)),
  },
  {
    name: 'workers.scripts.update',
    method: 'PUT',
    path: `${A}/workers/scripts/:script`,
    perms: write('Workers Scripts'),
    handle: upload,
  },
  {
    name: 'workers.scripts.delete',
    method: 'DELETE',
    path: `${A}/workers/scripts/:script`,
    perms: write('Workers Scripts'),
    handle: (c) => {
      scriptOf(c);
      c.account.scripts.delete(c.p.script!);
      return ok(null);
    },
  },
  {
    name: 'workers.scripts.content.get',
    method: 'GET',
    path: `${A}/workers/scripts/:script/content/v2`,
    perms: read('Workers Scripts'),
    handle: (c) => {
      const s = scriptOf(c);
      const m = s.modules[s.main_module]!;
      return { headers: { 'content-type': m.type, 'cf-entrypoint': s.main_module }, raw: m.content };
    },
  },
  {
    name: 'workers.scripts.settings.get',
    method: 'GET',
    path: `${A}/workers/scripts/:script/settings`,
    perms: read('Workers Scripts'),
    handle: (c) => {
      const s = scriptOf(c);
      return ok({
        bindings: s.bindings.map(publicBinding),
        compatibility_date: s.compatibility_date,
        compatibility_flags: [],
        logpush: false,
        placement: {},
        tail_consumers: [],
        usage_model: 'bundled',
      });
    },
  },

  // KV
  {
    name: 'kv.namespaces.list',
    method: 'GET',
    path: `${A}/storage/kv/namespaces`,
    perms: read('Workers KV Storage'),
    handle: (c) =>
      paged(
        [...c.account.kv.values()].map((n) => ({ id: n.id, title: n.title, supports_url_encoding: true })),
        c.q,
        20,
        1000,
      ),
  },
  {
    name: 'kv.keys.list',
    method: 'GET',
    path: `${A}/storage/kv/namespaces/:ns/keys`,
    perms: read('Workers KV Storage'),
    handle: (c) => {
      const prefix = c.q.get('prefix') ?? '';
      const keys = [...kvOf(c).values.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const page = cursored(keys, c.q, 'limit', 1000, 10, 1000);
      return ok(
        page.slice.map(([name, v]) => ({
          name,
          ...(v.expiration ? { expiration: v.expiration } : {}),
          ...(v.metadata !== undefined ? { metadata: v.metadata } : {}),
        })),
        { count: page.slice.length, cursor: page.cursor },
      );
    },
  },
  {
    name: 'kv.values.get',
    method: 'GET',
    path: `${A}/storage/kv/namespaces/:ns/values/:key`,
    perms: read('Workers KV Storage'),
    handle: (c) => {
      const v = need(kvOf(c).values.get(c.p.key!), 404, 10009, "get: 'key not found'");
      return { headers: { 'content-type': 'application/octet-stream' }, raw: v.value };
    },
  },
  {
    name: 'kv.values.update',
    method: 'PUT',
    path: `${A}/storage/kv/namespaces/:ns/values/:key`,
    perms: write('Workers KV Storage'),
    handle: kvPut,
  },
  {
    name: 'kv.values.delete',
    method: 'DELETE',
    path: `${A}/storage/kv/namespaces/:ns/values/:key`,
    perms: write('Workers KV Storage'),
    handle: (c) => {
      kvOf(c).values.delete(c.p.key!);
      return ok({});
    },
  },

  // R2
  {
    name: 'r2.buckets.list',
    method: 'GET',
    path: `${A}/r2/buckets`,
    perms: read('Workers R2 Storage'),
    handle: (c) => {
      const all = [...c.account.buckets.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
      const page = cursored(all, c.q, 'per_page', 20, 1, 1000);
      return ok(
        {
          buckets: page.slice.map((b) => ({
            name: b.name,
            creation_date: b.creation_date,
            location: 'WEUR',
            storage_class: 'Standard',
          })),
        },
        { cursor: page.cursor, per_page: page.limit },
      );
    },
  },
  {
    name: 'r2.objects.list',
    method: 'GET',
    path: `${A}/r2/buckets/:bucket/objects`,
    perms: read('Workers R2 Storage'),
    handle: (c) => {
      const prefix = c.q.get('prefix') ?? '';
      const all = [...bucketOf(c).objects.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const page = cursored(all, c.q, 'per_page', 1000, 1, 1000);
      return ok(
        page.slice.map(([key, o]) => ({
          key,
          size: o.body.length,
          etag: o.etag,
          last_modified: o.uploaded,
          http_metadata: { contentType: o.contentType },
          custom_metadata: o.custom ?? {},
          storage_class: 'Standard',
        })),
        { cursor: page.cursor, is_truncated: page.more, per_page: page.limit, delimited: [] },
      );
    },
  },
  {
    name: 'r2.objects.get',
    method: 'GET',
    path: `${A}/r2/buckets/:bucket/objects/:key`,
    perms: read('Workers R2 Storage'),
    handle: (c) => {
      const o = need(bucketOf(c).objects.get(c.p.key!), 404, 10007, 'The specified key does not exist.');
      return {
        headers: {
          'content-type': o.contentType,
          etag: `"${o.etag}"`,
          'last-modified': new Date(o.uploaded).toUTCString(),
        },
        raw: o.body,
      };
    },
  },
  {
    name: 'r2.objects.upload',
    method: 'PUT',
    path: `${A}/r2/buckets/:bucket/objects/:key`,
    perms: write('Workers R2 Storage'),
    handle: (c) => {
      const b = bucketOf(c);
      const o = {
        body: c.req.body,
        contentType: c.req.headers['content-type'] ?? 'application/octet-stream',
        etag: etagOf(c.req.body),
        uploaded: now(),
      };
      b.objects.set(c.p.key!, o);
      return ok({
        key: c.p.key,
        size: String(o.body.length),
        etag: o.etag,
        uploaded: o.uploaded,
        version: randomUUID().replace(/-/g, ''),
        storage_class: 'Standard',
      });
    },
  },
  {
    name: 'r2.objects.delete',
    method: 'DELETE',
    path: `${A}/r2/buckets/:bucket/objects/:key`,
    perms: write('Workers R2 Storage'),
    handle: (c) => {
      bucketOf(c).objects.delete(c.p.key!);
      return ok({ key: c.p.key });
    },
  },

  // D1
  {
    name: 'd1.database.list',
    method: 'GET',
    path: `${A}/d1/database`,
    perms: read('D1'),
    handle: (c) =>
      paged(
        [...c.account.d1.values()].map((d) => ({
          uuid: d.uuid,
          name: d.name,
          created_at: d.created_at,
          version: 'production',
          num_tables: 2,
          file_size: 12288,
        })),
        c.q,
        100,
        10000,
      ),
  },
  {
    name: 'd1.database.query',
    method: 'POST',
    path: `${A}/d1/database/:db/query`,
    perms: read('D1'),
    handle: async (c) => {
      const d = dbOf(c);
      const body = json(c.req.body);
      if (typeof body.sql !== 'string' || !body.sql.trim())
        throw new CfError(400, 7400, 'The request is malformed: sql is required');
      const params = Array.isArray(body.params) ? body.params : [];
      try {
        return ok(await c.d1.query(d, body.sql, params));
      } catch (e) {
        throw new CfError(400, 7500, (e as Error).message);
      }
    },
  },

  // Workflows
  {
    name: 'workflows.instances.list',
    method: 'GET',
    path: `${A}/workflows/:wf/instances`,
    perms: read('Workers Scripts'),
    handle: (c) => {
      const wf = workflowOf(c);
      const status = c.q.get('status');
      const all = wf.instances
        .filter((i) => !status || i.status === status)
        .slice()
        .reverse();
      return paged(
        all.map((i) => instanceOut(wf, i)),
        c.q,
        50,
        100,
      );
    },
  },
  {
    name: 'workflows.instances.get',
    method: 'GET',
    path: `${A}/workflows/:wf/instances/:id`,
    perms: read('Workers Scripts'),
    handle: (c) => {
      const i = need(
        workflowOf(c).instances.find((x) => x.id === c.p.id),
        404,
        10201,
        'instance.not_found',
      );
      return ok({
        status: i.status,
        params: i.params,
        output: i.output ?? '',
        error: i.error,
        queued: i.created_on,
        start: i.started_on,
        end: i.ended_on,
        success: i.status === 'complete' ? true : i.status === 'errored' ? false : null,
        rollback: null,
        step_count: i.steps.length,
        versionId: 'v1',
        trigger: { source: 'api' },
        steps: i.steps.map((s) => ({
          ...s,
          attempts: [],
          config: { retries: { delay: 1000, limit: 5, backoff: 'exponential' }, timeout: '10 minutes' },
          output: null,
        })),
      });
    },
  },
  {
    name: 'workflows.instances.create',
    method: 'POST',
    path: `${A}/workflows/:wf/instances`,
    perms: write('Workers Scripts'),
    handle: (c) => {
      const wf = workflowOf(c);
      const body = json(c.req.body);
      const id = body.instance_id === undefined ? randomUUID() : String(body.instance_id);
      if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw new CfError(400, 10001, 'invalid instance_id');
      if (wf.instances.some((i) => i.id === id)) throw new CfError(409, 10202, 'instance.already_exists');
      const t = now();
      const params = typeof body.params === 'string' ? JSON.parse(body.params) : (body.params ?? {});
      wf.instances.push({
        id,
        status: 'queued',
        params,
        output: null,
        created_on: t,
        modified_on: t,
        started_on: null,
        ended_on: null,
        error: null,
        steps: [],
      });
      return ok({ id, status: 'queued', version_id: 'v1', workflow_id: wf.id });
    },
  },

  // Zones and DNS
  {
    name: 'zones.list',
    method: 'GET',
    path: '/zones',
    perms: read('Zone'),
    handle: (c) => {
      const account = c.q.get('account.id') ?? c.q.get('account[id]');
      const zones = c.zones.filter(
        (z) => admits(c.token, read('Zone'), z.account, z.id) && (!account || z.account === account),
      );
      return paged(
        zones.map((z) => zoneOut(c, z)),
        c.q,
        20,
        50,
      );
    },
  },
  {
    name: 'zones.get',
    method: 'GET',
    path: '/zones/:zone',
    perms: read('Zone'),
    handle: (c) => {
      const z = zoneOf(c);
      return ok(zoneOut(c, z));
    },
  },
  {
    name: 'dns.records.list',
    method: 'GET',
    path: '/zones/:zone/dns_records',
    perms: read('DNS'),
    handle: (c) => {
      const z = zoneOf(c);
      const name = exact(c.q, 'name')?.toLowerCase();
      const type = c.q.get('type');
      return paged(
        z.records.filter((r) => (!name || r.name === name) && (!type || r.type === type)).map((r) => recordOut(z, r)),
        c.q,
        100,
        5000000,
      );
    },
  },
  {
    name: 'dns.records.create',
    method: 'POST',
    path: '/zones/:zone/dns_records',
    perms: write('DNS'),
    handle: (c) => {
      const z = zoneOf(c);
      const r = checkRecord(z, json(c.req.body));
      z.records.push(r);
      return ok(recordOut(z, r));
    },
  },
  {
    name: 'dns.records.get',
    method: 'GET',
    path: '/zones/:zone/dns_records/:id',
    perms: read('DNS'),
    handle: (c) => {
      const z = zoneOf(c);
      return ok(
        recordOut(
          z,
          need(
            z.records.find((r) => r.id === c.p.id),
            404,
            81044,
            'Record does not exist.',
          ),
        ),
      );
    },
  },
  {
    name: 'dns.records.update',
    method: 'PUT',
    path: '/zones/:zone/dns_records/:id',
    perms: write('DNS'),
    handle: (c) => {
      const z = zoneOf(c);
      const i = z.records.findIndex((r) => r.id === c.p.id);
      if (i < 0) throw new CfError(404, 81044, 'Record does not exist.');
      const r = { ...checkRecord(z, json(c.req.body), c.p.id), created_on: z.records[i]!.created_on };
      z.records[i] = r;
      return ok(recordOut(z, r));
    },
  },
  {
    name: 'dns.records.delete',
    method: 'DELETE',
    path: '/zones/:zone/dns_records/:id',
    perms: write('DNS'),
    handle: (c) => {
      const z = zoneOf(c);
      const i = z.records.findIndex((r) => r.id === c.p.id);
      if (i < 0) throw new CfError(404, 81044, 'Record does not exist.');
      z.records.splice(i, 1);
      return ok({ id: c.p.id });
    },
  },
];
