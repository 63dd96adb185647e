// A Doppler v3 API emulator on loopback. The official SDK talks to it over real HTTP with a
// Bearer token. Every answer is JSON (the SDK cannot handle anything else), and DELETE answers
// close the connection: the SDK sends a DELETE body with no length, whose stray bytes would
// otherwise be read as a second request on the same socket.
import { randomBytes } from 'node:crypto';
import { Emulator, type EmulatorRequest, type Reply } from '../../../shared/connector/emulator.js';
import { ApiError, error, ROUTES, type Grant, type TokenRegistry } from './api.js';
import { seedProjects, type SandboxProject } from './seed.js';

const ROUTE_NAMES: Record<string, string> = {
  'GET /v3/me': 'me',
  'GET /v3/workplace': 'workplace.get',
  'GET /v3/projects': 'projects.list',
  'GET /v3/configs': 'configs.list',
  'GET /v3/configs/config/secrets': 'secrets.list',
  'GET /v3/configs/config/secrets/names': 'secrets.names',
  'GET /v3/configs/config/secret': 'secrets.get',
  'POST /v3/configs/config/secrets': 'secrets.update',
  'DELETE /v3/configs/config/secret': 'secrets.delete',
  'GET /v3/configs/config/logs': 'config_logs.list',
  'GET /v3/configs/config/logs/log': 'config_logs.get',
  'POST /v3/configs/config/tokens': 'service_tokens.create',
  'GET /v3/configs/config/tokens': 'service_tokens.list',
  'DELETE /v3/configs/config/tokens/token': 'service_tokens.delete',
};

const key = (req: EmulatorRequest) => `${req.method} ${req.path}`;

export class DopplerSandbox {
  readonly projects: SandboxProject[] = seedProjects();
  private tokens = new Map<string, Grant>();
  private seq = 0;
  readonly emulator = new Emulator({
    route: (req) => ROUTE_NAMES[key(req)] ?? key(req),
    // Names only: a request body carrying secret values is never recorded.
    params: (req) => {
      const p: Record<string, unknown> = Object.fromEntries(req.query);
      if (req.method === 'POST' && req.body.length) {
        const b = JSON.parse(req.body.toString('utf8')) as {
          project?: unknown;
          config?: unknown;
          secrets?: Record<string, unknown>;
        };
        Object.assign(p, { project: b.project, config: b.config, names: Object.keys(b.secrets ?? {}) });
      }
      return p;
    },
    handle: (req) => this.handle(req),
    faultBody: (status) => ({
      messages: [status === 429 ? 'Too many requests' : 'Internal server error'],
      success: false,
    }),
  });
  url = '';

  async start(port = 0): Promise<this> {
    this.url = await this.emulator.listen(port);
    return this;
  }

  /** A service account token for `project`, with access to all its configs. */
  issueAccount(project: string, write: boolean): string {
    this.project(project);
    const token = `dp.sa.${randomBytes(20).toString('hex')}`;
    this.tokens.set(token, {
      kind: 'service_account',
      project,
      configs: '*',
      write,
      name: `fleet-${project}-${write ? 'rw' : 'ro'}`,
    });
    return token;
  }

  /** A service account allowed to create, list and revoke the project's service tokens (and nothing else). */
  issueBroker(project: string): string {
    this.project(project);
    const token = `dp.sa.${randomBytes(20).toString('hex')}`;
    this.tokens.set(token, {
      kind: 'service_account',
      project,
      configs: '*',
      write: false,
      tokens: true,
      name: `fleet-${project}-broker`,
    });
    return token;
  }

  /** A service token's key by its slug (tests: use a minted token directly against the sandbox). */
  keyOf(slug: string): string | undefined {
    for (const [k, g] of this.tokens) if (g.slug === slug) return k;
    return undefined;
  }

  /** The token a key stands for (tests: what a minted credential really holds). */
  grantOf(key: string): Grant | undefined {
    return this.tokens.get(key);
  }

  readonly registry: TokenRegistry = {
    add: (key, g) => void this.tokens.set(key, g),
    remove: (project, config, by) => {
      for (const [k, g] of this.tokens) {
        if (g.kind !== 'service_token' || g.project !== project || g.configs === '*' || !g.configs.includes(config))
          continue;
        if ((by.slug && g.slug === by.slug) || (by.key && k === by.key)) return this.tokens.delete(k);
      }
      return false;
    },
    all: () => [...this.tokens.values()],
  };

  /** A read-only service token scoped to one config, as the credential resolver is given. */
  issueServiceToken(project: string, config: string): string {
    if (!this.project(project).configs.some((c) => c.name === config))
      throw new Error(`sandbox project ${project} has no config ${config}`);
    const token = `dp.st.${config}.${randomBytes(20).toString('hex')}`;
    this.tokens.set(token, {
      kind: 'service_token',
      project,
      configs: [config],
      write: false,
      name: `${project}-${config}-reader`,
    });
    return token;
  }

  /** Sets a secret directly (seeding a test), leaving a change log entry like the API does. */
  setSecret(project: string, config: string, name: string, value: string): void {
    const cf = this.project(project).configs.find((c) => c.name === config);
    if (!cf) throw new Error(`sandbox project ${project} has no config ${config}`);
    const old = cf.secrets.get(name);
    cf.secrets.set(name, value);
    cf.logs.push({
      ...this.stamp(),
      text: 'sandbox seed updated 1 secret',
      user: { email: 'seed@example.com', name: 'seed', username: 'seed' },
      rollback: false,
      diff: [{ name, ...(old !== undefined ? { removed: old } : {}), added: value }],
    });
  }

  secretsOf(project: string, config: string): Map<string, string> {
    const cf = this.project(project).configs.find((c) => c.name === config);
    if (!cf) throw new Error(`sandbox project ${project} has no config ${config}`);
    return cf.secrets;
  }

  close(): Promise<void> {
    return this.emulator.close();
  }

  private project(slug: string): SandboxProject {
    const p = this.projects.find((x) => x.slug === slug);
    if (!p) throw new Error(`sandbox has no project ${slug}`);
    return p;
  }

  private stamp() {
    this.seq++;
    return {
      id: `log_sb_${String(this.seq).padStart(6, '0')}`,
      created_at: new Date(Date.now() + this.seq).toISOString(),
    };
  }

  private handle(req: EmulatorRequest): Reply {
    const reply = this.answer(req);
    return req.method === 'DELETE' ? { ...reply, headers: { ...reply.headers, connection: 'close' } } : reply;
  }

  private answer(req: EmulatorRequest): Reply {
    const route = ROUTES[key(req)];
    if (!route) return error(404, `No route for ${key(req)}`);
    const token = req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? '';
    const grant = this.tokens.get(token);
    if (!grant || (grant.expires_at !== undefined && grant.expires_at <= Date.now()))
      return error(401, 'Invalid Auth token');
    try {
      return route({ grant, token, projects: this.projects, tokens: this.registry, stamp: () => this.stamp() }, req);
    } catch (e) {
      if (e instanceof ApiError) return error(e.status, e.message);
      throw e;
    }
  }
}

export async function startDopplerSandbox(port = 0): Promise<DopplerSandbox> {
  return new DopplerSandbox().start(port);
}
