// A Cloudflare v4 API emulator on loopback, for exactly the operations the tools use. The
// official `cloudflare` SDK talks to it over real HTTP with a Bearer token; tokens are issued per
// account with exactly the permission groups asked for.
import { Emulator, type EmulatorRequest, type Reply } from '../../../shared/connector/emulator.js';
import { D1Engine } from './d1.js';
import { CfError, failure } from './http.js';
import { ROUTES, type Grant, type Route, type TokenRegistry } from './routes.js';
import { admits, makeGrant, newId, newTokenValue, reaches, statusOf } from './tokens.js';
import { seedAccounts } from './seed.js';

const BASE = '/client/v4';
const WORKERS = '/__workers/';

interface Match {
  route: Route;
  p: Record<string, string>;
}

function match(method: string, path: string): Match | { status: 404 | 405 } | { bad: string } {
  if (!path.startsWith(`${BASE}/`)) return { status: 404 };
  const raw = path.slice(BASE.length + 1).split('/');
  let segs: string[];
  try {
    segs = raw.map(decodeURIComponent);
  } catch {
    return { bad: 'malformed percent-encoding in the path' };
  }
  let wrongMethod = false;
  for (const route of ROUTES) {
    const parts = route.path.slice(1).split('/');
    if (parts.length !== segs.length) continue;
    const p: Record<string, string> = {};
    const matches = parts.every((part, i) => {
      if (!part.startsWith(':')) return part === segs[i];
      p[part.slice(1)] = segs[i]!;
      return segs[i] !== '';
    });
    if (!matches) continue;
    if (route.method !== method) {
      wrongMethod = true;
      continue;
    }
    return { route, p };
  }
  return { status: wrongMethod ? 405 : 404 };
}

export class CloudflareSandbox {
  readonly state = seedAccounts();
  readonly d1 = new D1Engine();
  private tokens = new Map<string, Grant>();
  readonly emulator = new Emulator({
    route: (req) => {
      if (req.path.startsWith(WORKERS)) return 'worker.fetch';
      const m = match(req.method, req.path);
      return 'route' in m ? m.route.name : 'unknown';
    },
    params: (req) => ({
      ...Object.fromEntries(req.query),
      ...(req.headers['content-type']?.includes('json') && req.body.length ? JSON.parse(req.body.toString()) : {}),
    }),
    handle: (req) => this.handle(req),
    faultBody: (status) =>
      status === 429
        ? {
            success: false,
            errors: [{ code: 971, message: 'Please wait and consider throttling your request speed' }],
            messages: [],
            result: null,
          }
        : {
            success: false,
            errors: [{ code: 10013, message: 'An unknown error has occurred' }],
            messages: [],
            result: null,
          },
  });
  url = '';

  async start(port = 0): Promise<this> {
    this.url = `${await this.emulator.listen(port)}${BASE}`;
    return this;
  }

  /** Every token by its secret value; the token routes create, list and delete through `registry`. */
  readonly registry: TokenRegistry = {
    add: (g) => {
      const value = newTokenValue();
      this.tokens.set(value, g);
      return value;
    },
    remove: (id) => {
      for (const [v, g] of this.tokens) if (g.id === id) return this.tokens.delete(v);
      return false;
    },
    all: () => [...this.tokens.values()],
  };

  /** A token for `account` holding exactly `permissions`; `user` tokens are verified at /user/tokens. */
  issue(
    account: string,
    permissions: string[],
    opts: {
      kind?: 'account' | 'user';
      accounts?: string[];
      status?: Grant['status'];
      name?: string;
      expires_on?: string;
    } = {},
  ): string {
    if (!this.state.accounts.some((a) => a.id === account)) throw new Error(`sandbox has no account ${account}`);
    const kind = opts.kind ?? 'account';
    const resources = Object.fromEntries(
      (opts.accounts ?? [account]).map((a) => [`com.cloudflare.api.account.${a}`, '*' as const]),
    );
    return this.registry.add(
      makeGrant(
        {
          id: newId(),
          kind,
          ...(kind === 'account' ? { owner: account } : {}),
          name: opts.name ?? `sandbox token ${account.slice(0, 6)}`,
          policies: [{ id: newId(), effect: 'allow', groups: [...permissions], resources }],
          status: opts.status ?? 'active',
          issued_on: '2026-01-01T00:00:00Z',
          ...(opts.expires_on ? { expires_on: opts.expires_on } : {}),
        },
        this.state.zones,
      ),
    );
  }

  /** A token's secret value by its id (tests: use a minted credential directly against the sandbox). */
  valueOf(id: string): string | undefined {
    for (const [v, g] of this.tokens) if (g.id === id) return v;
    return undefined;
  }

  /** The token a value stands for (tests: what a minted credential really holds). */
  grantOf(value: string): Grant | undefined {
    return this.tokens.get(value);
  }

  account(id: string) {
    const a = this.state.accounts.find((x) => x.id === id);
    if (!a) throw new Error(`sandbox has no account ${id}`);
    return a;
  }

  async close(): Promise<void> {
    this.d1.close();
    await this.emulator.close();
  }

  /**
   * A deployed Worker answering at its route (workers.dev in Cloudflare; here /__workers/<name>/…):
   * the first string literal its main module passes to `new Response(…)`, with status 200 (or the
   * `status:` it sets there). Faults on route "worker.fetch" make it fail.
   */
  private worker(req: EmulatorRequest): Reply {
    const [name] = req.path.slice(WORKERS.length).split('/');
    const script = this.state.accounts.map((a) => a.scripts.get(decodeURIComponent(name ?? ''))).find(Boolean);
    if (!script) return { status: 404, headers: { 'content-type': 'text/plain' }, raw: 'There is nothing here yet' };
    const src = script.modules[script.main_module]?.content ?? '';
    const m = /new\s+Response\(\s*(["'`])((?:(?!\1)[^\\]|\\.)*)\1(?:\s*,\s*\{[^}]*status\s*:\s*(\d{3}))?/.exec(src);
    return { status: m?.[3] ? Number(m[3]) : 200, headers: { 'content-type': 'text/plain' }, raw: m?.[2] ?? '' };
  }

  private async handle(req: EmulatorRequest): Promise<Reply> {
    if (req.path.startsWith(WORKERS)) return this.worker(req);
    const m = match(req.method, req.path);
    if ('bad' in m) return failure(400, 7003, m.bad);
    if ('status' in m)
      return m.status === 405
        ? failure(405, 10405, 'Method not allowed for this route')
        : failure(404, 7003, 'No route for that URI');
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!auth) return failure(400, 9106, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers');
    const token = this.tokens.get(auth);
    if (!token) return failure(401, 1000, 'Invalid API Token');
    if (statusOf(token) !== 'active' && !m.route.name.endsWith('.verify'))
      return failure(401, 1000, 'Invalid API Token');
    const { route, p } = m;
    let account = this.state.accounts[0]!;
    // What the request is about: its account, or its zone (and that zone's account).
    let scope: { account: string; zone?: string } | undefined;
    if (p.account !== undefined) {
      const a = this.state.accounts.find((x) => x.id === p.account);
      if (!a || !reaches(token, a.id)) return failure(403, 9109, 'Unauthorized to access requested resource');
      account = a;
      scope = { account: a.id };
    } else if (p.zone !== undefined) {
      const z = this.state.zones.find((x) => x.id === p.zone);
      if (z) scope = { account: z.account, zone: z.id };
    }
    // Every policy is enforced: a permission group admits a request only on the resources its policy names.
    if (!route.perms.includes('') && !admits(token, route.perms, scope?.account, scope?.zone)) {
      return failure(403, 10000, 'Authentication error');
    }
    try {
      return await route.handle({
        p,
        q: req.query,
        req,
        token,
        account,
        zones: this.state.zones,
        d1: this.d1,
        accounts: this.state.accounts,
        tokens: this.registry,
      });
    } catch (e) {
      if (e instanceof CfError) return failure(e.status, e.code, e.message);
      throw e;
    }
  }
}

export async function startCloudflareSandbox(port = 0): Promise<CloudflareSandbox> {
  return new CloudflareSandbox().start(port);
}
