// `fleet serve --http`: one node:http server for one or several instances, each at
// /mcp/<connector>/<env>. Requests pass the steps of ./steps.ts; SIGTERM drains (see `drain`).
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Instance } from '../../instance/instance.js';
import type { InboundEndpoint } from '../../connector/extensions.js';
import type { ClientRegistry } from './auth/clients.js';
import { Exchange, type Limits, type Route, type Shared } from './exchange.js';
import { EdgeLedger } from './edge.js';
import { ClientRates } from './limits.js';
import { hostsFor } from './origin.js';
import { HTTP_STEPS } from './steps.js';

export interface HttpOptions {
  host: string;
  port: number;
  instances: Instance[];
  clients: ClientRegistry;
  version: string;
  limits: Limits;
  /** the URL clients use (behind a tunnel or proxy); the instances' resource URLs derive from it */
  publicUrl?: string;
  /** browser origins allowed to call */
  allowOrigins?: string[];
  /** upstreams' callbacks served beside the instances (./steps.ts `inbound`) */
  inbound?: Inbound[];
  onError(message: string): void;
}

export interface HttpFleet {
  /** the base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  routes: Route[];
  /**
   * Stops taking requests, lets the ones in flight finish for up to `graceMs`, then ends what is
   * left (a pending approval is withdrawn, an upstream call is cut and its outcome recorded) and
   * waits for their records.
   */
  drain(graceMs: number): Promise<{ finished: number; cut: number }>;
}

/** An extension's endpoint, with the instance whose trail records its refusals. */
export type Inbound = InboundEndpoint & { inst: Instance };

export const pathOf = (inst: Instance): string => `/mcp/${inst.manifest.connector}/${inst.manifest.instance}`;

export async function serveHttp(o: HttpOptions): Promise<HttpFleet> {
  const shared: Shared = {
    routes: new Map(),
    clients: o.clients,
    rates: new ClientRates(),
    edge: new EdgeLedger(o.limits.edgeIntervalMs),
    held: new Map(),
    origin: { origins: new Set(o.allowOrigins ?? []), hosts: new Set() },
    limits: o.limits,
    version: o.version,
    base: '',
    draining: false,
    active: new Set(),
    calls: new Set(),
    cancel: new Map(),
    inbound: new Map(),
  };
  const server: HttpServer = createServer(
    { requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 5000 },
    (req, res) => {
      const x = new Exchange(shared, req, res);
      void (async () => {
        for (const step of HTTP_STEPS) if (await step(x)) return;
      })().catch((e: Error) => {
        o.onError(`HTTP ${req.method} ${x.url.pathname}: ${e.message}`);
        if (!res.headersSent) x.error(500, 'internal error');
        else res.end();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const local = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  shared.base = (o.publicUrl ?? local).replace(/\/$/, '');
  shared.origin.hosts = hostsFor({ host: bound.address, port: bound.port }, o.publicUrl);
  for (const e of o.inbound ?? [])
    shared.inbound.set(e.path, {
      id: e.inst.manifest.id,
      path: e.path,
      resource: `${shared.base}${e.path}`,
      inst: e.inst,
      endpoint: e,
    });
  for (const inst of o.instances) {
    const path = pathOf(inst);
    shared.routes.set(path, { id: inst.manifest.id, path, resource: `${shared.base}${path}`, inst });
  }

  return {
    url: local,
    routes: [...shared.routes.values()],
    async drain(graceMs) {
      shared.draining = true;
      server.close();
      server.closeIdleConnections();
      const settled = () => shared.active.size === 0 && shared.calls.size === 0;
      const until = async (ms: number) => {
        const end = Date.now() + ms;
        while (!settled() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      };
      const before = shared.active.size;
      await until(graceMs);
      const cut = shared.active.size;
      for (const x of shared.active) x.abort ? x.abort('the server is shutting down') : x.res.destroy();
      // what was cut still writes its records (approval withdrawn, outcome of the upstream call)
      await until(10_000);
      for (const x of shared.active) x.res.destroy();
      server.closeAllConnections();
      // what the edge counted is written before the process goes
      await shared.edge.close();
      return { finished: before - cut, cut };
    },
  };
}
