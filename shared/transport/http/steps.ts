// How the HTTP transport handles a request: the steps, in order, in this one list. Each step
// either lets the request go on (returns nothing) or answers it (returns true). Nothing here
// decides about a tool: the last step hands the request to the instance's MCP server, whose every
// call goes through the one call path (shared/call/call.ts).
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildServer } from '../server.js';
import { challenge, METADATA_PREFIX, resourceMetadata } from './auth/challenge.js';
import type { Exchange } from './exchange.js';
import { admits, readBody, TooLarge, TooSlow } from './limits.js';
import { wireProblem } from '../stdio-guard.js';
import { checkOrigin } from './origin.js';

export type HttpStep = (x: Exchange) => Promise<true | undefined> | true | undefined;

/** GET /healthz: the process is up and taking requests; no upstream is touched. */
export const health: HttpStep = (x) => {
  if (x.url.pathname !== '/healthz') return;
  const { shared } = x;
  // how many instances, never which: health answers anyone
  return x.json(shared.draining ? 503 : 200, {
    ok: !shared.draining,
    draining: shared.draining,
    instances: shared.routes.size,
    in_flight: shared.active.size,
  });
};

/** RFC 9728 Protected Resource Metadata of an instance (no credential needed). */
export const metadata: HttpStep = (x) => {
  const { pathname } = x.url;
  if (!pathname.startsWith(METADATA_PREFIX)) return;
  const route = x.shared.routes.get(pathname.slice(METADATA_PREFIX.length));
  if (!route) return x.error(404, 'no instance is served at this path');
  return x.json(200, resourceMetadata(route.resource, x.shared.clients.issuersFor(route.id)), {
    'cache-control': 'max-age=300',
  });
};

/**
 * An upstream's callback (Slack delivering an approval's answer): no client credential, the
 * endpoint checks the upstream's own signature; a refusal goes on the record through the edge
 * ledger, like any other at the edge.
 */
export const inbound: HttpStep = async (x) => {
  const at = x.shared.inbound.get(x.url.pathname);
  if (!at) return;
  x.route = at;
  if (x.shared.draining)
    return x.error(503, 'the server is shutting down; retry on another replica', {
      'retry-after': '1',
      connection: 'close',
    });
  if (x.req.method !== 'POST')
    return x.error(405, `${x.req.method} is not served here: callbacks are POSTs`, { allow: 'POST' });
  let raw: Buffer;
  try {
    raw = await readBody(x.req, x.shared.limits.maxBody, x.shared.limits.bodyMs);
  } catch (e) {
    if (e instanceof TooLarge || e instanceof TooSlow)
      return x.refuse(e instanceof TooLarge ? 413 : 408, 'body', `refused: ${e.message}`, { connection: 'close' });
    throw e;
  }
  const a = await at.endpoint.handle({ headers: x.req.headers, body: raw });
  if (a.refused)
    await x.shared.edge.note(at.inst, {
      status: a.status,
      rule: a.refused.rule,
      message: a.refused.message,
      method: x.req.method,
      path: x.url.pathname,
      remote: x.req.socket.remoteAddress,
    });
  x.res
    .writeHead(a.status, {
      'content-type': a.type ?? 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(a.body),
    })
    .end(a.body);
  return true;
};

/** /mcp/<connector>/<env> names a served instance. */
export const route: HttpStep = (x) => {
  x.route = x.shared.routes.get(x.url.pathname.replace(/\/$/, ''));
  // which instances are served is not told to whoever asks: a client knows its own URL
  if (!x.route) return x.error(404, 'nothing is served at this path; an instance is served at /mcp/<connector>/<env>');
};

/** A draining server finishes what it has and takes nothing new. */
export const draining: HttpStep = (x) => {
  if (x.shared.draining)
    return x.error(503, 'the server is shutting down; retry on another replica', {
      'retry-after': '1',
      connection: 'close',
    });
};

/** Origin and Host are ones this server answers to (DNS rebinding). */
export const origin: HttpStep = (x) => {
  const why = checkOrigin(x.shared.origin, x.req.headers.origin, x.req.headers.host);
  if (why) return x.refuse(403, 'origin', `refused: ${why}`);
};

/** Stateless: a call is one POST; there is no stream to GET and no session to DELETE. */
export const method: HttpStep = (x) => {
  if (x.req.method !== 'POST')
    return x.error(
      405,
      `${x.req.method} is not served: this server is stateless, send each JSON-RPC message as a POST`,
      { allow: 'POST' },
    );
};

/** The credential proves a client of clients.yaml; else 401 with the challenge. */
export const authenticate: HttpStep = async (x) => {
  const route = x.route!;
  const a = await x.shared.clients.authenticate(x.req.headers.authorization, route.resource);
  if (a.ok) {
    x.principal = a.principal;
    x.rate = a.rate;
    return;
  }
  const header = challenge(
    x.shared.base,
    route.path,
    x.req.headers.authorization ? { code: 'invalid_token', description: a.why } : undefined,
  );
  return x.refuse(
    401,
    'client',
    `unauthorized: ${a.why}`,
    { 'www-authenticate': header },
    { id: a.client, via: a.via },
  );
};

/** That client is listed for this instance; else 403. */
export const authorize: HttpStep = (x) => {
  const route = x.route!;
  const { principal } = x;
  const a = x.shared.clients;
  if (a.allows(principal!.id, route.id)) return;
  return x.refuse(
    403,
    'client',
    `forbidden: client ${principal!.id} is not listed for ${route.id} in ${a.file}; its instances: ${a.instancesOf(principal!.id).join(', ')}`,
    {
      'www-authenticate': challenge(x.shared.base, route.path, {
        code: 'insufficient_scope',
        description: `client ${principal!.id} may not call ${route.id}`,
      }),
    },
  );
};

/** The client's request rate. */
export const clientRate: HttpStep = (x) => {
  const rate = x.rate ?? x.shared.limits.rate;
  const wait = x.shared.rates.take(x.principal!.id, rate);
  if (wait)
    return x.refuse(
      429,
      'client.rate',
      `too many requests: client ${x.principal!.id} is over its rate of ${rate}; retry in ${wait} ms`,
      { 'retry-after': String(Math.ceil(wait / 1000)) },
    );
};

/**
 * Requests in flight: over all clients, and each client's share of them (./limits.ts `admits`);
 * past the capacity step a request is counted until its response closes.
 */
export const capacity: HttpStep = (x) => {
  const { shared } = x;
  const client = x.principal!.id;
  if (shared.active.size >= shared.limits.maxInFlight)
    return x.error(503, `busy: ${shared.active.size} requests in flight, the limit; retry shortly`, {
      'retry-after': '1',
    });
  if (!admits(shared.held, shared.clients.names(), client, shared.limits.maxInFlight)) {
    return x.refuse(
      503,
      'client.share',
      `busy: client ${client} holds ${shared.held.get(client)} requests in flight, its share of ${shared.limits.maxInFlight}; retry shortly`,
      { 'retry-after': '1' },
    );
  }
  shared.active.add(x);
  shared.held.set(client, (shared.held.get(client) ?? 0) + 1);
  x.res.once('close', () => {
    shared.active.delete(x);
    const n = (shared.held.get(client) ?? 1) - 1;
    if (n > 0) shared.held.set(client, n);
    else shared.held.delete(client);
  });
};

/** A bounded JSON body. */
export const body: HttpStep = async (x) => {
  let raw: Buffer;
  try {
    raw = await readBody(x.req, x.shared.limits.maxBody, x.shared.limits.bodyMs);
  } catch (e) {
    if (e instanceof TooLarge) return x.refuse(413, 'body', `refused: ${e.message}`, { connection: 'close' });
    if (e instanceof TooSlow) {
      // the connection goes with the answer: a peer trickling bytes holds nothing after it
      x.res.once('finish', () => x.req.socket.destroy());
      return x.refuse(408, 'body', `refused: ${e.message}`, { connection: 'close' });
    }
    throw e;
  }
  try {
    x.body = JSON.parse(raw.toString('utf8'));
  } catch {
    return x.error(400, 'parse error: the body is not JSON', {}, -32700);
  }
  // one message per request, as on stdio: a batch would run many calls for one request of the client's rate
  if (Array.isArray(x.body)) return x.error(400, `invalid request: ${wireProblem(x.body)}`, {}, -32600);
};

const ids = (body: unknown): unknown[] =>
  (Array.isArray(body) ? body : [body])
    .filter((m) => m && typeof m === 'object' && 'id' in m && 'method' in m)
    .map((m) => (m as { id: unknown }).id);
const cancelKey = (x: Exchange, id: unknown) => `${x.principal!.id}\0${x.route!.id}\0${JSON.stringify(id)}`;

/** notifications/cancelled ends the same client's request in flight (its response stream closes). */
export const cancel: HttpStep = (x) => {
  const m = x.body as { method?: string; params?: { requestId?: unknown } };
  if (m?.method !== 'notifications/cancelled' || m.params?.requestId === undefined) return;
  x.shared.cancel.get(cancelKey(x, m.params.requestId))?.();
  x.res.writeHead(202).end();
  return true;
};

/** This request, through a server built for it: stateless Streamable HTTP, one server per request. */
export const mcp: HttpStep = async (x) => {
  const { shared, res } = x;
  const ended = new AbortController();
  const server = buildServer(x.route!.inst, shared.version, {
    principal: x.principal,
    signal: ended.signal,
    stateless: true,
    track: (p) => {
      shared.calls.add(p);
      void p.finally(() => shared.calls.delete(p));
    },
  });
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  const keys = ids(x.body).map((id) => cancelKey(x, id));
  // the call ends with its refusal on the record and a result on the stream
  x.abort = (why = 'the client cancelled the call') => ended.abort(new DOMException(why, 'AbortError'));
  for (const k of keys) shared.cancel.set(k, x.abort);
  res.once('close', () => {
    for (const k of keys) if (shared.cancel.get(k) === x.abort) shared.cancel.delete(k);
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(x.req, res, x.body);
  return true as const;
};

export const HTTP_STEPS: readonly HttpStep[] = [
  health, // GET /healthz: up and taking requests; no upstream is touched
  metadata, // RFC 9728 metadata of each instance
  inbound, // an upstream's callback, verified by its own signature (Slack's answers to approvals)
  route, // /mcp/<connector>/<env> names a served instance
  draining, // a draining server takes nothing new
  origin, // Origin and Host (DNS rebinding)
  method, // POST only: stateless
  authenticate, // the credential proves a listed client (401 + challenge)
  authorize, // that client is listed for this instance (403)
  clientRate, // the client's request rate (429)
  capacity, // requests in flight, and each client's share of them (503)
  body, // bounded JSON, in bounded time, one message (413, 408, 400)
  cancel, // notifications/cancelled ends that request
  mcp, // the instance's MCP server, for this request
];
