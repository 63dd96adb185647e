// The only module that loads @dopplerhq/node-sdk; imported on first need so `serve` starts fast.
// The SDK has no timeout, retries POST and DELETE on 500/503/504, logs network errors with
// console.log, and crashes the process (an exception thrown in a socket event) on a body that is
// not JSON. This module makes each of those safe for a stdio server: see the notes below.
import { DopplerSDK } from '@dopplerhq/node-sdk';
import { StartupError } from '../../shared/base/errors.js';
import type { OpenOptions, Upstream } from '../../shared/connector/tool.js';
import { DopplerFailure, type ConfigInfo, type Doppler, type LogEntry, type Project } from './common.js';

export const DEFAULT_API = 'https://api.doppler.com';

// Calls waiting for an answer, so a body the SDK cannot parse fails them instead of hanging them.
const pending = new Set<(e: DopplerFailure) => void>();
let guarded = false;

/**
 * Once per process: the SDK's console.log goes to stderr (stdout carries JSON-RPC only), and the
 * JSON.parse error it throws from a socket event on a non-JSON body fails the waiting calls
 * rather than ending the process. The error's text quotes the body, so it is never printed.
 */
function guard(): void {
  if (guarded) return;
  guarded = true;
  console.log = (...args: unknown[]) => {
    const first = args[0] as { code?: string; name?: string; message?: string } | undefined;
    const what = first && typeof first === 'object' ? `${first.code ?? first.name ?? 'error'}` : 'message suppressed';
    process.stderr.write(`doppler-sdk: request failed (${what})\n`);
  };
  process.on('uncaughtException', (err) => {
    const fromSdk = err instanceof SyntaxError && /JSON\.parse[\s\S]*IncomingMessage/.test(err.stack ?? '');
    if (fromSdk) {
      const failure = new DopplerFailure(
        'bad_response',
        'Doppler answered with a body that is not JSON (an outage or proxy page?); if this was a write, check config_activity before retrying',
      );
      process.stderr.write(`doppler: an answer was not JSON; ${pending.size} call(s) failed\n`);
      for (const reject of [...pending]) reject(failure);
      return;
    }
    // Anything else keeps Node's default: print and exit 1, unless someone else handles it too.
    if (process.listenerCount('uncaughtException') > 1) return;
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    process.exit(1);
  });
}

const HINTS: Record<number, [string, string]> = {
  400: ['bad_request', 'Doppler refused the request'],
  401: ['unauthorized', 'the Doppler token is invalid or revoked'],
  403: ['forbidden', 'the Doppler token has no access to this project, config or operation'],
  404: ['not_found', 'Doppler has no such project, config or secret'],
  429: ['ratelimited', 'Doppler is rate limiting this token'],
};

/** SDK error → DopplerFailure. `value`, when given, is cut out of anything the upstream said. */
function failure(err: unknown, value?: string): DopplerFailure {
  if (err instanceof DopplerFailure) return err;
  const e = err as {
    statusCode?: number;
    detail?: { messages?: unknown };
    code?: string;
    message?: string;
    retryAfter?: unknown;
  };
  if (typeof e?.statusCode === 'number') {
    const [code, hint] = HINTS[e.statusCode] ?? [
      e.statusCode >= 500 ? 'upstream_error' : `http_${e.statusCode}`,
      `Doppler answered HTTP ${e.statusCode}`,
    ];
    const said = Array.isArray(e.detail?.messages)
      ? e.detail.messages.filter((m) => typeof m === 'string').join('; ')
      : '';
    const safe = value && value.length > 0 ? said.split(value).join('[value]') : said;
    const retry = Number(e.retryAfter);
    return new DopplerFailure(
      code,
      safe ? `${hint}: ${safe.slice(0, 300)}` : hint,
      e.statusCode,
      e.statusCode === 429 && retry > 0 ? retry : undefined,
    );
  }
  if (typeof e?.code === 'string')
    return new DopplerFailure('request_failed', `the request to Doppler failed (${e.code})`);
  return new DopplerFailure('error', 'the Doppler SDK failed');
}

/** Every call: its own timeout (the SDK has none) and errors turned into DopplerFailure. */
function within<T>(ms: number, call: () => Promise<T>, value?: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (e: DopplerFailure) => {
      clearTimeout(timer);
      pending.delete(fail);
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new DopplerFailure('timeout', `Doppler did not answer within ${ms / 1000}s`)),
      ms,
    );
    pending.add(fail);
    call().then(
      (v) => {
        clearTimeout(timer);
        pending.delete(fail);
        resolve(v);
      },
      (e) => fail(failure(e, value)),
    );
  });
}

async function paged<T>(
  fetch: (page: number, perPage: number) => Promise<T[] | undefined>,
  perPage = 100,
  maxPages = 50,
): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; page <= maxPages; page++) {
    const items = (await fetch(page, perPage)) ?? [];
    out.push(...items);
    if (items.length < perPage) break;
  }
  return out;
}

function sdk(token: string, baseUrl: string): DopplerSDK {
  const s = new DopplerSDK({ accessToken: token });
  s.setBaseUrl(baseUrl.replace(/\/+$/, ''));
  keepRetryAfter(s);
  return s;
}

type Answered = { status: number; headers: Record<string, unknown>; data: unknown };
let retryAfterKept = false;

/**
 * The SDK reads a 429's wait from `headers["Retry-After"]`, but Node names every header in lower
 * case, so it always reads nothing. Once per process, its HTTP layer (one static method shared by
 * every client) hands the header on under the name the SDK looks for.
 */
function keepRetryAfter(s: DopplerSDK): void {
  if (retryAfterKept) return;
  const lib = (
    s.secrets as unknown as { httpClient: { constructor: { httpRequest?: (...a: unknown[]) => Promise<Answered> } } }
  ).httpClient.constructor;
  const send = lib.httpRequest;
  if (typeof send !== 'function') return;
  retryAfterKept = true;
  lib.httpRequest = async (...args: unknown[]) => {
    const r = await send.apply(lib, args);
    if (r?.headers && r.headers['retry-after'] !== undefined) r.headers['Retry-After'] ??= r.headers['retry-after'];
    return r;
  };
}

/** Requests each Doppler client has sent (every call goes through `within`). */
const sentBy = new WeakMap<Doppler, () => number>();

export function dopplerClient(token: string, baseUrl: string = DEFAULT_API, timeoutMs = 10_000): Doppler {
  guard();
  const reads = sdk(token, baseUrl);
  // Writes are sent once. The SDK would resend a POST or DELETE after a 500/503/504 or a dropped
  // connection, when the first attempt may already have been applied: a second change log entry,
  // or a 404 reported for a delete that worked. A failed write comes back at once instead.
  const writes = sdk(token, baseUrl);
  (writes.secrets.httpClient as { retryAttempts: number }).retryAttempts = 1;
  let sent = 0;
  const t = <T>(call: () => Promise<T>, value?: string) => {
    sent++;
    return within(timeoutMs, call, value);
  };

  const client: Doppler = {
    projects: () =>
      t(() => paged(async (page, perPage) => (await reads.projects.list({ page, perPage })).projects)).then((ps) =>
        ps.map(
          (p): Project => ({
            slug: p.slug ?? '',
            name: p.name ?? p.slug ?? '',
            description: p.description || undefined,
          }),
        ),
      ),
    configs: (project) =>
      t(() => paged(async (page, perPage) => (await reads.configs.list(project, { page, perPage })).configs)).then(
        (cs) =>
          cs.map(
            (c): ConfigInfo => ({
              name: c.name ?? '',
              environment: c.environment ?? '',
              root: !!c.root,
              locked: !!c.locked,
            }),
          ),
      ),
    names: (project, config) => t(async () => (await reads.secrets.names(project, config)).names ?? []),
    secret: (project, config, name) =>
      t(async () => {
        try {
          const r = await reads.secrets.get(project, config, name);
          const raw = r.value?.raw ?? r.value?.computed ?? '';
          return { name, raw, computed: r.value?.computed ?? raw };
        } catch (e) {
          if ((e as { statusCode?: number }).statusCode === 404) return undefined;
          throw e;
        }
      }),
    secrets: (project, config) =>
      t(async () => {
        const r = await reads.secrets.list(project, config);
        const out = new Map<string, string>();
        for (const [name, v] of Object.entries(r.secrets ?? {})) {
          const s = v as { raw?: string | null; computed?: string | null };
          out.set(name, s.raw ?? s.computed ?? '');
        }
        return out;
      }),
    set: (project, config, name, value) =>
      t(async () => {
        await writes.secrets.update({ project, config, secrets: { [name]: value } } as never);
      }, value),
    delete: (project, config, name) => t(async () => void (await writes.secrets.delete(project, config, name))),
    logs: (project, config, limit) =>
      t(async () => (await reads.configLogs.list(project, config, { page: 1, perPage: limit })).logs ?? []).then((ls) =>
        ls.map(
          (l): LogEntry => ({
            id: l.id ?? '',
            text: l.text ?? '',
            created_at: l.created_at ?? '',
            user: l.user?.email ?? l.user?.name,
            rollback: !!l.rollback,
          }),
        ),
      ),
    logNames: (project, config, id) =>
      t(async () =>
        ((await reads.configLogs.get(project, config, id)).log?.diff ?? []).map((d) => d.name ?? '').filter(Boolean),
      ),
  };
  sentBy.set(client, () => sent);
  return client;
}

/** Reads one secret for the credential resolver; undefined when the config has no such secret. */
export async function readSecret(
  token: string,
  baseUrl: string,
  timeoutMs: number,
  project: string,
  config: string,
  name: string,
): Promise<string | undefined> {
  return (await dopplerClient(token, baseUrl, timeoutMs).secret(project, config, name))?.computed;
}

/** An SDK instance for the minter (service tokens are made and listed through the SDK). */
export function dopplerSdk(token: string, baseUrl: string = DEFAULT_API): DopplerSDK {
  guard();
  return sdk(token, baseUrl);
}

export { within as withinTimeout, failure as dopplerFailure };

/**
 * A minted Doppler credential is one service token per config (`{"prd": "dp.st…", …}`): each
 * call goes through the token of its config; a config without one is refused here, before any
 * request. Renewal swaps the whole set.
 */
export function parseMinted(credential: string): Record<string, string> | undefined {
  if (!credential.startsWith('{')) return undefined;
  return JSON.parse(credential) as Record<string, string>;
}

function routedClient(
  tokens: Record<string, string>,
  baseUrl: string,
  timeoutMs: number,
): { client: Doppler; rebind(tokens: Record<string, string>): void } {
  let clients = new Map<string, Doppler>();
  const build = (t: Record<string, string>) =>
    (clients = new Map(Object.entries(t).map(([config, token]) => [config, dopplerClient(token, baseUrl, timeoutMs)])));
  build(tokens);
  const of = (config: string): Doppler => {
    const c = clients.get(config);
    if (!c) throw new DopplerFailure('forbidden', `this instance holds no minted token for config ${config}`);
    return c;
  };
  const first = () => clients.values().next().value as Doppler;
  const client: Doppler = {
    projects: () => first().projects(),
    // each token sees its own config: the union is what the instance may see
    configs: async (project) => {
      const all = (await Promise.all([...clients.values()].map((c) => c.configs(project)))).flat();
      return [...new Map(all.map((c) => [c.name, c])).values()];
    },
    names: async (p, c) => of(c).names(p, c),
    secret: async (p, c, n) => of(c).secret(p, c, n),
    secrets: async (p, c) => of(c).secrets(p, c),
    set: async (p, c, n, v) => of(c).set(p, c, n, v),
    delete: async (p, c, n) => of(c).delete(p, c, n),
    logs: async (p, c, l) => of(c).logs(p, c, l),
    logNames: async (p, c, id) => of(c).logNames(p, c, id),
  };
  return { client, rebind: build };
}

export async function openDoppler(opts: OpenOptions): Promise<Upstream<Doppler>> {
  const minted = parseMinted(opts.credential);
  const token = minted ? Object.values(minted)[0]! : opts.credential;
  const baseUrl = opts.baseUrl ?? DEFAULT_API;
  const routed = minted ? routedClient(minted, baseUrl, opts.timeoutMs) : undefined;
  const client = routed ? routed.client : dopplerClient(token, baseUrl, opts.timeoutMs);
  const s = sdk(token, baseUrl);
  const pinned = opts.manifest.upstream.project as string;
  const me = await within(opts.timeoutMs, () => s.auth.me()).catch((e: DopplerFailure) => {
    throw new StartupError(`Doppler identity check (/v3/me) failed: ${e.code}: ${e.message}`);
  });
  const projects = await client.projects().catch((e: DopplerFailure) => {
    throw new StartupError(`cannot list Doppler projects: ${e.code}: ${e.message}`);
  });
  if (!projects.some((p) => p.slug === pinned)) {
    throw new StartupError(
      `the Doppler token cannot see project ${pinned}, which the manifest pins (${opts.manifest.file}:${opts.manifest.line('upstream.project')})`,
    );
  }
  return {
    client,
    identity: {
      home: pinned,
      user: me.name,
      workplace: me.workplace?.slug,
      token_type: me.type_ ?? (me as { type?: string }).type,
      ...(minted ? { minted: Object.keys(minted) } : {}),
      ...(typeof me.created_at === 'string' && !minted ? { issued: me.created_at } : {}),
    },
    ...(routed ? { rebind: (credential: string) => routed.rebind(parseMinted(credential)!) } : {}),
    sent: sentBy.get(client),
  };
}
