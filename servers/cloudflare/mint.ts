// Mints the instance's Cloudflare token with a broker token ("Account API Tokens Write" on the
// pinned account): an account-owned token whose policies are exactly the manifest's declared
// permission groups, account groups on the pinned account only, zone groups on the zones the
// grants name (all zones of the account when no grant names one), with a short expires_on.
// Plain HTTP requests to the v4 API, not the `cloudflare` SDK (nor fetch): minting and renewal run for the
// process's whole life, and the SDK (tens of MB resident, for good) then loads only on the first
// call, as it does for an instance whose token is not minted.
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StartupError } from '../../shared/base/errors.js';
import type { MintOptions, Minter, MintedToken } from '../../shared/connector/tool.js';

const ACCOUNT_KEY = (a: string) => `com.cloudflare.api.account.${a}`;
const ZONE_KEY = (z: string) => `com.cloudflare.api.account.zone.${z}`;

const why = (e: unknown) => {
  const first = (e as { errors?: { code?: number; message?: string }[] }).errors?.[0];
  const status = (e as { status?: number }).status;
  return first ? `${status ?? ''} ${first.code}: ${first.message}`.trim() : (e as Error).message;
};

/** Zones any grant names (the `zones` constraint), in order, once each. */
export function namedZones(tools: Record<string, Record<string, unknown>>): string[] {
  const out = new Set<string>();
  for (const g of Object.values(tools)) for (const z of (g?.zones as string[] | undefined) ?? []) out.add(z);
  return [...out];
}

interface Policy {
  effect: 'allow';
  permission_groups: { id: string }[];
  resources: Record<string, string | Record<string, string>>;
}

/** One HTTPS (or, for a sandbox on loopback, HTTP) request through node:http — not fetch, whose undici is large too. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'http:' ? httpRequest : httpsRequest)(
      url,
      { method, headers, signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A v4 API error as the SDK reported it: the HTTP status and the envelope's errors. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: { code?: number; message?: string }[],
  ) {
    super(`HTTP ${status}`);
  }
}

interface Envelope<T> {
  success?: boolean;
  errors?: { code?: number; message?: string }[];
  result?: T;
  result_info?: { page?: number; total_pages?: number };
}

/** The few v4 calls minting needs, with the broker token; no retries (a write is never sent twice on its own). */
function brokerApi(token: string, baseUrl: string | undefined, timeoutMs: number) {
  const base = (baseUrl ?? 'https://api.cloudflare.com/client/v4').replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<Envelope<T>> => {
    const res = await send(
      new URL(`${base}${path}`),
      method,
      { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body ? JSON.stringify(body) : undefined,
      timeoutMs,
    );
    let env: Envelope<T> = {};
    try {
      env = JSON.parse(res.text) as Envelope<T>;
    } catch {
      /* not JSON: the status says it */
    }
    if (res.status < 200 || res.status > 299 || env.success === false) throw new ApiError(res.status, env.errors ?? []);
    return env;
  };
  /** every page of a listing (page-number pagination) */
  const all = async function* <T>(path: string): AsyncIterable<T> {
    for (let page = 1; ; page++) {
      const env = await call<T[]>('GET', `${path}${path.includes('?') ? '&' : '?'}page=${page}`);
      yield* env.result ?? [];
      if (!env.result?.length || !env.result_info?.total_pages || page >= env.result_info.total_pages) return;
    }
  };
  return { call, all };
}

export async function cloudflareMinter(o: MintOptions): Promise<Minter> {
  const m = o.manifest;
  const account = m.upstream.account as string;
  const declared = m.upstream.token_permissions as string[];
  const api = brokerApi(o.broker, o.baseUrl, o.timeoutMs);
  const tokens = `/accounts/${encodeURIComponent(account)}/tokens`;
  const where = `${m.file}:${m.line('upstream.token_permissions')}`;

  // The policy is fixed for the life of the process: built once from the permission groups.
  const groups = new Map<string, { id: string; scopes: string[] }>();
  try {
    for await (const g of api.all<{ id?: string; name?: string; scopes?: string[] }>(`${tokens}/permission_groups`)) {
      if (g.name && g.id) groups.set(g.name, { id: g.id, scopes: g.scopes ?? [] });
    }
  } catch (e) {
    throw new StartupError(
      `the broker credential cannot list permission groups of account ${account} (${why(e)}); it needs "Account API Tokens Write" there`,
    );
  }
  const unknown = declared.filter((n) => !groups.has(n));
  if (unknown.length)
    throw new StartupError(
      `Cloudflare has no permission group ${unknown.map((n) => JSON.stringify(n)).join(', ')} (${where})`,
    );
  const zoneScoped = (n: string) => groups.get(n)!.scopes.includes('com.cloudflare.api.account.zone');
  const accountGroups = declared.filter((n) => !zoneScoped(n));
  const zoneGroups = declared.filter(zoneScoped);
  const zones = namedZones(m.tools as Record<string, Record<string, unknown>>);
  const policies: Policy[] = [];
  const resources: string[] = [];
  if (accountGroups.length) {
    policies.push({
      effect: 'allow',
      permission_groups: accountGroups.map((n) => ({ id: groups.get(n)!.id })),
      resources: { [ACCOUNT_KEY(account)]: '*' },
    });
    resources.push(ACCOUNT_KEY(account));
  }
  if (zoneGroups.length) {
    const zoneResources: Policy['resources'] = zones.length
      ? Object.fromEntries(zones.map((z) => [ZONE_KEY(z), '*']))
      : { [ACCOUNT_KEY(account)]: { [ZONE_KEY('*')]: '*' } };
    policies.push({
      effect: 'allow',
      permission_groups: zoneGroups.map((n) => ({ id: groups.get(n)!.id })),
      resources: zoneResources,
    });
    resources.push(...(zones.length ? zones.map(ZONE_KEY) : [`${ACCOUNT_KEY(account)}/${ZONE_KEY('*')}`]));
  }
  const canonical = JSON.stringify({
    account,
    accountGroups: [...accountGroups].sort(),
    zoneGroups: [...zoneGroups].sort(),
    zones: [...zones].sort(),
  });
  const policyDigest = createHash('sha256').update(canonical).digest('hex');

  return {
    async list() {
      const out: { id: string; name: string }[] = [];
      for await (const t of api.all<{ id?: string; name?: string }>(`${tokens}?per_page=50`)) {
        if (t.id && t.name?.startsWith(o.prefix)) out.push({ id: t.id, name: t.name });
      }
      return out;
    },
    async mint(name, expiresAt): Promise<MintedToken> {
      // Cloudflare takes whole seconds.
      const expires_on = new Date(Math.floor(expiresAt / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
      let made;
      try {
        made =
          (
            await api.call<{ id?: string; value?: string; expires_on?: string }>('POST', tokens, {
              name,
              policies,
              expires_on,
            })
          ).result ?? {};
      } catch (e) {
        throw new StartupError(
          `minting a token for account ${account} failed (${why(e)}); the broker credential needs "Account API Tokens Write" there`,
        );
      }
      if (!made.id || !made.value) throw new StartupError('Cloudflare created a token but returned no id or value');
      return {
        value: made.value,
        id: made.id,
        name,
        expiresAt: Date.parse(made.expires_on ?? expires_on),
        permissions: [...declared],
        resources,
        policyDigest,
      };
    },
    async revoke(id) {
      try {
        await api.call('DELETE', `${tokens}/${encodeURIComponent(id)}`);
      } catch (e) {
        // Already gone (expired and collected, or swept by a sibling) is what we wanted.
        if ((e as { status?: number }).status === 404) return;
        throw new Error(`deleting token ${id} failed (${why(e)})`);
      }
    },
  };
}
