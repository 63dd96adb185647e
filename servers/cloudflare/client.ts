// The only module that loads the `cloudflare` SDK; imported on first need so `serve` starts fast.
import Cloudflare from 'cloudflare';
import { StartupError } from '../../shared/base/errors.js';
import type { OpenOptions, Upstream } from '../../shared/connector/tool.js';
import type { CF } from './common.js';
import { countingFetch } from '../../shared/connector/sent.js';

const write =
  (lvl: string) =>
  (msg: string, ...rest: unknown[]) =>
    process.stderr.write(`cloudflare-sdk ${lvl}: ${[msg, ...rest].map(String).join(' ')}\n`);
// The SDK's default logger is console, whose info/debug go to stdout, which belongs to JSON-RPC.
const stderrLogger = { error: write('error'), warn: write('warning'), info: () => {}, debug: () => {} };

/** What the fleet itself uses to read the token's policies; not compared with the manifest. */
const SELF_READ = new Set(['Account API Tokens Read', 'API Tokens Read']);

interface Policy {
  effect?: string;
  permission_groups?: { name?: string }[];
  resources?: Record<string, unknown>;
}

const status = (e: unknown) => (e instanceof Cloudflare.APIError ? e.status : undefined);
const why = (e: unknown) => {
  const first = (e as { errors?: { code?: number; message?: string }[] }).errors?.[0];
  return first ? `${first.code}: ${first.message}` : (e as Error).message;
};

/** True when a policy's resources name the account (directly, by `*`, or as a parent of zones). */
function coversAccount(resources: Record<string, unknown> | undefined, account: string): boolean {
  return Object.keys(resources ?? {}).some(
    (k) => k === `com.cloudflare.api.account.${account}` || k === 'com.cloudflare.api.account.*',
  );
}

/** An SDK client for one token: explicit settings only, no retries, logs to stderr. */
export function cloudflareApi(
  token: string,
  baseUrl: string | undefined,
  timeoutMs: number,
  fetchFn?: typeof fetch,
): Cloudflare {
  return new Cloudflare({
    ...(fetchFn ? { fetch: fetchFn } : {}),
    apiToken: token,
    // Explicit, so CLOUDFLARE_* variables in the environment cannot add credentials or move the endpoint.
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: baseUrl ?? 'https://api.cloudflare.com/client/v4',
    timeout: timeoutMs,
    // Writes must never be sent twice on their own: a 429 comes back at once with its Retry-After.
    maxRetries: 0,
    logger: stderrLogger,
    logLevel: 'warn',
  });
}

export async function openCloudflare(opts: OpenOptions): Promise<Upstream<CF>> {
  const account = opts.manifest.upstream.account as string;
  const counted = countingFetch();
  const api = cloudflareApi(opts.credential, opts.baseUrl, opts.timeoutMs, counted.fetch);

  // An account-owned token verifies at its account; a user token at /user/tokens.
  let kind: 'account' | 'user' = 'account';
  let verified: { id: string; status: string };
  try {
    verified = await api.accounts.tokens.verify({ account_id: account });
  } catch (e) {
    const s = status(e);
    if (!s || s >= 500 || s === 429) throw new StartupError(`token verification failed: ${why(e)}`);
    kind = 'user';
    verified = await api.user.tokens.verify().catch((e2: unknown) => {
      throw new StartupError(`the token does not verify for account ${account} nor as a user token (${why(e2)})`);
    });
  }
  if (verified.status !== 'active') throw new StartupError(`the token is ${verified.status}, not active`);

  let held: string[] | undefined;
  let unchecked: string | undefined;
  let issued: string | undefined;
  let reachesBeyond: string[] | undefined;
  // A token minted for this run holds what it was minted with: nothing to read back.
  if (opts.minted) held = opts.minted.permissions;
  else
    try {
      const token =
        kind === 'account'
          ? await api.accounts.tokens.get(verified.id, { account_id: account })
          : await api.user.tokens.get(verified.id);
      issued = typeof token.issued_on === 'string' ? token.issued_on : undefined;
      const allow = ((token.policies ?? []) as Policy[]).filter((p) => p.effect === 'allow');
      if (kind === 'user' && !allow.some((p) => coversAccount(p.resources, account))) {
        throw new StartupError(`the token's policies do not cover account ${account}, which the manifest pins`);
      }
      held = [
        ...new Set(
          allow
            .flatMap((p) => (p.permission_groups ?? []).map((g) => g.name ?? ''))
            .filter((n) => n && !SELF_READ.has(n)),
        ),
      ];
      const others = allow
        .flatMap((p) => Object.keys(p.resources ?? {}))
        .filter(
          (k) =>
            k.startsWith('com.cloudflare.api.account.') &&
            !k.startsWith('com.cloudflare.api.account.zone.') &&
            k !== `com.cloudflare.api.account.${account}`,
        );
      if (others.length) reachesBeyond = others.map((k) => k.replace('com.cloudflare.api.account.', 'account '));
    } catch (e) {
      if (e instanceof StartupError) throw e;
      const s = status(e);
      if (!s || s >= 500) throw new StartupError(`reading the token's policies failed: ${why(e)}`);
      unchecked = `the token cannot read its own policies (${why(e)}), so its permissions were not compared with the manifest; "${kind === 'account' ? 'Account API Tokens Read' : 'API Tokens Read'}" allows that check`;
      if (kind === 'user') {
        const accounts = [];
        for await (const a of api.accounts.list({ per_page: 50 })) accounts.push(a.id);
        if (!accounts.includes(account))
          throw new StartupError(`the token cannot reach account ${account}, which the manifest pins`);
      }
    }
  const sub = opts.manifest.upstream.workers_subdomain as string | undefined;
  const routeOf = opts.baseUrl
    ? (script: string) => `${new URL(opts.baseUrl!).origin}/__workers/${script}` // a sandbox serves deployments under its own origin
    : sub
      ? (script: string) => `https://${script}.${sub}.workers.dev`
      : undefined;
  const client: CF = { api, account, zoneAccounts: new Map(), schemas: new Map(), ...(routeOf ? { routeOf } : {}) };
  return {
    client,
    identity: {
      home: account,
      token: verified.id,
      kind,
      ...(opts.minted ? { minted: true } : {}),
      ...(issued ? { issued } : {}),
    },
    held,
    sent: counted.sent,
    unchecked,
    ...(reachesBeyond ? { reachesBeyond } : {}),
    rebind: (token) => {
      client.api = cloudflareApi(token, opts.baseUrl, opts.timeoutMs, counted.fetch);
    },
  };
}
