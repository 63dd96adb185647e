// The Doppler v3 operations the tools and the credential resolver use, answered as Doppler does:
// JSON bodies always, `{messages, success: false}` with a 4xx on errors, page/per_page pagination
// with no total (a short or empty page ends it), 204 for a deleted secret.
import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorRequest, Reply } from '../../../shared/connector/emulator.js';
import { at, WORKPLACE, type SandboxConfig, type SandboxProject } from './seed.js';

export interface Grant {
  kind: 'service_account' | 'service_token';
  project: string;
  /** configs the token may read; '*' for all of the project's */
  configs: string[] | '*';
  write: boolean;
  name: string;
  /** may create, list and revoke the project's service tokens (a broker) */
  tokens?: boolean;
  /** a service token's slug, its config's environment, when it was made and when it expires (ms) */
  slug?: string;
  created_at?: string;
  expires_at?: number;
}

/** The sandbox's tokens, for the service-token routes. */
export interface TokenRegistry {
  add(key: string, g: Grant): void;
  /** removes the service token with this slug or this key; false when there is none */
  remove(project: string, config: string, by: { slug?: string; key?: string }): boolean;
  all(): Grant[];
}

export interface Caller {
  grant: Grant;
  token: string;
  projects: SandboxProject[];
  tokens: TokenRegistry;
  /** the next change log id and time, so logs stay ordered */
  stamp(): { id: string; created_at: string };
}

export const error = (status: number, ...messages: string[]): Reply => ({ status, json: { messages, success: false } });

/** Thrown by a handler to answer with Doppler's error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** route key → handler; the key names the operation for faults and the request record */
export const ROUTES: Record<string, (c: Caller, req: EmulatorRequest) => Reply> = {
  'GET /v3/me': (c) => ({
    json: {
      slug: `tok_${c.grant.name}`,
      name: c.grant.name,
      created_at: at(0),
      last_seen_at: new Date().toISOString(),
      type: c.grant.kind,
      token_preview: `${c.token.slice(0, 6)}...${c.token.slice(-6)}`,
      workplace: WORKPLACE,
    },
  }),

  // Not used by the fleet: @dopplerhq/mcp-server checks its token here before serving (the bench
  // runs it against this sandbox). Workplace-level, so a config's service token is refused.
  'GET /v3/workplace': (c) => {
    if (c.grant.kind === 'service_token') throw new ApiError(403, 'This token does not have access to the workplace');
    return {
      json: {
        workplace: {
          id: WORKPLACE.slug,
          name: WORKPLACE.name,
          billing_email: 'billing@example.com',
          security_email: 'security@example.com',
        },
        success: true,
      },
    };
  },

  'GET /v3/projects': (c, req) => {
    const visible = c.projects.filter((p) => p.slug === c.grant.project);
    return page(
      req,
      'projects',
      visible.map((p) => ({
        id: p.id,
        slug: p.slug,
        name: p.name,
        description: p.description,
        created_at: p.created_at,
      })),
    );
  },

  'GET /v3/configs': (c, req) => {
    const p = project(c, req.query.get('project'));
    const visible = p.configs.filter((cf) => c.grant.configs === '*' || c.grant.configs.includes(cf.name));
    return page(
      req,
      'configs',
      visible.map((cf) => ({
        name: cf.name,
        root: cf.root,
        locked: cf.locked,
        initial_fetch_at: at(2),
        last_fetch_at: at(2),
        created_at: cf.created_at,
        environment: cf.environment,
        project: p.slug,
      })),
    );
  },

  'GET /v3/configs/config/secrets': (c, req) => {
    const cf = config(c, req.query);
    const only = req.query.get('secrets')?.split(',');
    const secrets: Record<string, unknown> = {};
    for (const [name, value] of all(cf, c)) {
      if (!only || only.includes(name))
        secrets[name] = {
          raw: value,
          computed: value,
          note: '',
          rawVisibility: 'masked',
          computedVisibility: 'masked',
        };
    }
    return { json: { secrets, success: true } };
  },

  'GET /v3/configs/config/secrets/names': (c, req) => {
    const cf = config(c, req.query);
    return { json: { names: [...all(cf, c).keys()], success: true } };
  },

  'GET /v3/configs/config/secret': (c, req) => {
    const cf = config(c, req.query);
    const name = req.query.get('name') ?? '';
    const value = all(cf, c).get(name);
    if (value === undefined) return error(404, 'Could not find requested secret');
    return { json: { name, value: { raw: value, computed: value, note: '' }, success: true } };
  },

  'POST /v3/configs/config/secrets': (c, req) => {
    let body: { project?: unknown; config?: unknown; secrets?: unknown };
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      return error(400, 'Request body must be JSON');
    }
    const q = new URLSearchParams({ project: String(body.project ?? ''), config: String(body.config ?? '') });
    const cf = config(c, q);
    if (!c.grant.write) return error(403, 'This token does not have write access');
    if (!body.secrets || typeof body.secrets !== 'object' || Array.isArray(body.secrets))
      return error(400, 'Either secrets or change_requests is required');
    const entries = Object.entries(body.secrets as Record<string, unknown>);
    for (const [name, value] of entries) {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(name))
        return error(400, 'Secret names must contain only uppercase letters, numbers and underscores');
      if (name.startsWith('DOPPLER_')) return error(400, 'Secret names starting with DOPPLER_ are reserved');
      if (typeof value !== 'string' && value !== null) return error(400, 'Secret values must be strings');
    }
    const diff = entries.map(([name, value]) => {
      const old = cf.secrets.get(name);
      if (value === null) cf.secrets.delete(name);
      else cf.secrets.set(name, value as string);
      return {
        name,
        ...(old !== undefined ? { removed: old } : {}),
        ...(value !== null ? { added: value as string } : {}),
      };
    });
    cf.logs.push({
      ...c.stamp(),
      text: `${c.grant.name} updated ${diff.length} secret${diff.length === 1 ? '' : 's'}`,
      user: actor(c),
      rollback: false,
      diff,
    });
    const secrets: Record<string, unknown> = {};
    for (const [name, value] of all(cf, c)) secrets[name] = { raw: value, computed: value, note: '' };
    return { json: { secrets, success: true } };
  },

  'DELETE /v3/configs/config/secret': (c, req) => {
    const cf = config(c, req.query);
    if (!c.grant.write) return error(403, 'This token does not have write access');
    const name = req.query.get('name') ?? '';
    const old = cf.secrets.get(name);
    if (old === undefined) return error(404, 'Could not find requested secret');
    cf.secrets.delete(name);
    cf.logs.push({
      ...c.stamp(),
      text: `${c.grant.name} deleted 1 secret`,
      user: actor(c),
      rollback: false,
      diff: [{ name, removed: old }],
    });
    return { status: 204 };
  },

  // Service tokens: made by a broker (a service account allowed to manage tokens), scoped to one
  // config, read or read/write, with an optional expiry (unix seconds, as a string).
  'POST /v3/configs/config/tokens': (c, req) => {
    const body = parseJson(req);
    const q = new URLSearchParams({ project: String(body.project ?? ''), config: String(body.config ?? '') });
    const cf = config(c, q);
    if (!c.grant.tokens) throw new ApiError(403, 'This token does not have access to manage service tokens');
    if (typeof body.name !== 'string' || !body.name.trim() || body.name.length > 200)
      return error(400, 'Name is required');
    const access = body.access ?? 'read';
    if (access !== 'read' && access !== 'read/write') return error(400, 'Access must be one of read, read/write');
    let expires_at: number | undefined;
    if (body.expire_at !== undefined && body.expire_at !== null) {
      const raw = String(body.expire_at);
      const t = /^\d+$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw);
      if (!Number.isFinite(t)) return error(400, 'expire_at must be a unix timestamp');
      if (t <= Date.now()) return error(400, 'expire_at must be in the future');
      expires_at = t;
    }
    const key = `dp.st.${cf.name}.${randomBytes(20).toString('hex')}`;
    const slug = randomUUID();
    const created_at = new Date().toISOString();
    c.tokens.add(key, {
      kind: 'service_token',
      project: c.grant.project,
      configs: [cf.name],
      write: access === 'read/write',
      name: body.name,
      slug,
      created_at,
      ...(expires_at ? { expires_at } : {}),
    });
    return {
      json: { token: { ...tokenOut(c.tokens.all().find((g) => g.slug === slug)!, cf), key, access }, success: true },
    };
  },

  'GET /v3/configs/config/tokens': (c, req) => {
    const cf = config(c, req.query);
    if (!c.grant.tokens) throw new ApiError(403, 'This token does not have access to manage service tokens');
    const tokens = c.tokens
      .all()
      .filter(
        (g) =>
          g.kind === 'service_token' &&
          g.slug &&
          g.project === c.grant.project &&
          g.configs !== '*' &&
          g.configs.includes(cf.name),
      );
    return { json: { tokens: tokens.map((g) => tokenOut(g, cf)), success: true } };
  },

  'DELETE /v3/configs/config/tokens/token': (c, req) => {
    const body = parseJson(req);
    const q = new URLSearchParams({ project: String(body.project ?? ''), config: String(body.config ?? '') });
    const cf = config(c, q);
    if (!c.grant.tokens) throw new ApiError(403, 'This token does not have access to manage service tokens');
    const by = {
      slug: typeof body.slug === 'string' ? body.slug : undefined,
      key: typeof body.token === 'string' ? body.token : undefined,
    };
    if (!by.slug && !by.key) return error(400, 'Either slug or token is required');
    if (!c.tokens.remove(c.grant.project, cf.name, by)) return error(404, 'Could not find requested service token');
    return { json: { success: true } };
  },

  'GET /v3/configs/config/logs': (c, req) => {
    const cf = config(c, req.query);
    const logs = [...cf.logs].reverse().map(({ diff: _d, ...l }) => ({
      ...l,
      html: l.text,
      config: cf.name,
      environment: cf.environment,
      project: req.query.get('project'),
    }));
    return page(req, 'logs', logs);
  },

  'GET /v3/configs/config/logs/log': (c, req) => {
    const cf = config(c, req.query);
    const log = cf.logs.find((l) => l.id === req.query.get('log'));
    if (!log) return error(404, 'Could not find requested log');
    return {
      json: {
        log: {
          ...log,
          html: log.text,
          config: cf.name,
          environment: cf.environment,
          project: req.query.get('project'),
        },
        success: true,
      },
    };
  },
};

function parseJson(req: EmulatorRequest): Record<string, unknown> {
  try {
    const v = JSON.parse(req.body.toString('utf8') || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    /* answered below */
  }
  throw new ApiError(400, 'Request body must be a JSON object');
}

function tokenOut(g: Grant, cf: SandboxConfig) {
  return {
    name: g.name,
    slug: g.slug,
    created_at: g.created_at,
    config: cf.name,
    environment: cf.environment,
    project: g.project,
    expires_at: g.expires_at ? new Date(g.expires_at).toISOString() : null,
  };
}

const actor = (c: Caller) => ({
  email: `${c.grant.name}@tokens.example.com`,
  name: c.grant.name,
  username: c.grant.name,
});

function page(req: EmulatorRequest, key: string, items: unknown[]): Reply {
  const n = Number(req.query.get('page') ?? 1);
  const per = Number(req.query.get('per_page') ?? 20);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(per) || per < 1 || per > 100)
    return error(400, 'page must be >= 1 and per_page between 1 and 100');
  return { json: { page: n, [key]: items.slice((n - 1) * per, n * per), success: true } };
}

function project(c: Caller, slug: string | null): SandboxProject {
  if (!slug) throw new ApiError(400, 'Missing project');
  const p = c.projects.find((x) => x.slug === slug);
  if (!p) throw new ApiError(404, 'Could not find requested project');
  if (p.slug !== c.grant.project) throw new ApiError(403, 'You do not have access to this project');
  return p;
}

function config(c: Caller, q: URLSearchParams): SandboxConfig {
  const p = project(c, q.get('project'));
  const name = q.get('config');
  if (!name) throw new ApiError(400, 'Missing config');
  const cf = p.configs.find((x) => x.name === name);
  if (!cf) throw new ApiError(404, 'Could not find requested config');
  if (c.grant.configs !== '*' && !c.grant.configs.includes(name))
    throw new ApiError(403, 'This token does not have access to this config');
  return cf;
}

/** The config's secrets plus the ones Doppler manages itself, as the API lists them. */
function all(cf: SandboxConfig, c: Caller): Map<string, string> {
  return new Map([
    ...cf.secrets,
    ['DOPPLER_CONFIG', cf.name],
    ['DOPPLER_ENVIRONMENT', cf.environment],
    ['DOPPLER_PROJECT', c.grant.project],
  ]);
}
