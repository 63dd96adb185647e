// One HTTP request as it passes the steps of ./steps.ts, and what every request shares: the
// served instances, the clients, the limits, the calls in flight.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Instance } from '../../instance/instance.js';
import type { InboundEndpoint } from '../../connector/extensions.js';
import type { ClientPrincipal } from '../../call/attribution.js';
import type { ClientRegistry } from './auth/clients.js';
import type { EdgeLedger } from './edge.js';
import type { ClientRates } from './limits.js';
import type { OriginPolicy } from './origin.js';

export interface Route {
  /** "slack.prod" */
  id: string;
  /** "/mcp/slack/prod" */
  path: string;
  /** the instance's URL: the audience its JWTs must name */
  resource: string;
  inst: Instance;
}

export interface Limits {
  /** bytes of one request body */
  maxBody: number;
  /** requests in flight, over all clients; each client of clients.yaml is sure of an equal share */
  maxInFlight: number;
  /** how long a request's body may take to arrive (ms) */
  bodyMs?: number;
  /** how often counted refusals are written as one record (ms) */
  edgeIntervalMs?: number;
  /** a client's requests per window, unless clients.yaml sets its own */
  rate: string;
}

export interface Shared {
  routes: Map<string, Route>;
  clients: ClientRegistry;
  rates: ClientRates;
  /** refusals at the edge: bounded, counted records */
  edge: EdgeLedger;
  /** requests in flight per client (past the capacity step) */
  held: Map<string, number>;
  origin: OriginPolicy;
  limits: Limits;
  version: string;
  /** public base URL (from --public-url, else the bound address) */
  base: string;
  draining: boolean;
  /** requests past the capacity step, until their response closes */
  active: Set<Exchange>;
  /** tool calls still running (they may outlive their response: an audit record, a settled key) */
  calls: Set<Promise<unknown>>;
  /** ends a client's request in flight, by client, instance and JSON-RPC id */
  cancel: Map<string, (why?: string) => void>;
  /** upstreams' callbacks by path, each on the route of the instance whose trail records its refusals */
  inbound: Map<string, Route & { endpoint: InboundEndpoint }>;
}

export class Exchange {
  readonly url: URL;
  route?: Route;
  principal?: ClientPrincipal;
  rate?: string;
  body?: unknown;
  /** ends this request's MCP exchange early (cancellation, the end of a drain) */
  abort?: (why?: string) => void;

  constructor(
    readonly shared: Shared,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.url = new URL(req.url ?? '/', 'http://fleet.invalid');
  }

  /** A JSON answer; errors carry a JSON-RPC error body, which MCP clients show. */
  json(status: number, body: unknown, headers: Record<string, string> = {}): true {
    if (this.res.headersSent) {
      this.res.end();
      return true;
    }
    const text = JSON.stringify(body);
    this.res
      .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
      .end(text);
    return true;
  }

  error(status: number, message: string, headers: Record<string, string> = {}, code = -32000): true {
    return this.json(status, { jsonrpc: '2.0', id: null, error: { code, message } }, headers);
  }

  /**
   * A refusal before any tool call, on the instance's audit trail through the edge ledger (./edge.ts):
   * who tried (when known), which rule, which HTTP status, every field bounded; the first of its
   * kind in an interval is its own record, the rest are counted into one. The credential itself is
   * never recorded.
   */
  async refuse(
    status: number,
    rule: string,
    message: string,
    headers: Record<string, string> = {},
    client?: { id?: string; via?: string },
  ): Promise<true> {
    const inst = this.route?.inst;
    if (inst) {
      const who = client ?? this.principal;
      await this.shared.edge.note(inst, {
        status,
        rule,
        message,
        method: this.req.method,
        path: this.url.pathname,
        remote: this.req.socket.remoteAddress,
        client: who?.id,
        via: who?.via,
      });
    }
    return this.error(status, message, headers);
  }
}
