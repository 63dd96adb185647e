// The HTTP host every sandbox upstream runs on: loopback only, a record of every request it
// received (tests assert on what reached the "upstream"), and injectable faults.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Fault {
  /** route key to match (e.g. "chat.postMessage"); all routes when absent */
  route?: string;
  status?: number;
  retryAfter?: number;
  /** a raw body to send instead of the emulator's answer (e.g. malformed JSON) */
  body?: string;
  /** never answer */
  hang?: boolean;
  /** destroy the connection without answering */
  reset?: boolean;
  /** answer after this delay */
  delayMs?: number;
  /** how many requests it applies to (default 1) */
  times?: number;
}

export interface EmulatorRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  raw?: string | Buffer;
}

export interface Recorded {
  route: string;
  method: string;
  path: string;
  at: number;
  params: Record<string, unknown>;
}

export interface EmulatorOptions {
  /** names the route a request belongs to, for faults and the request record */
  route(req: EmulatorRequest): string;
  /** the parameters a request carried, for the request record */
  params?(req: EmulatorRequest): Record<string, unknown>;
  handle(req: EmulatorRequest): Reply | Promise<Reply>;
  /** the error body an injected status carries */
  faultBody(status: number): unknown;
}

export class Emulator {
  readonly requests: Recorded[] = [];
  private faults: Fault[] = [];
  private server: Server | undefined;
  private sockets = new Set<Socket>();

  constructor(private opts: EmulatorOptions) {}

  inject(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private takeFault(route: string): Fault | undefined {
    const i = this.faults.findIndex((f) => !f.route || f.route === route);
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    if (--f.times! <= 0) this.faults.splice(i, 1);
    return f;
  }

  async listen(port = 0): Promise<string> {
    // the response each socket still owes, so stray bytes after a request cannot cut it off
    const answering = new WeakMap<Socket, ServerResponse>();
    const server = createServer((req, res) => {
      answering.set(req.socket, res);
      res.on('finish', () => answering.delete(req.socket));
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const er: EmulatorRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        void this.serve(er, res);
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // A malformed request (or stray body bytes after one) must not take the emulator down. Bytes
    // after a request still being answered (the Doppler SDK sends DELETE bodies with no length)
    // end the connection once that answer is out, not before.
    server.on('clientError', (_err, socket) => {
      const owed = answering.get(socket as Socket);
      if (owed) owed.on('finish', () => socket.end());
      else socket.destroy();
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async serve(req: EmulatorRequest, res: ServerResponse): Promise<void> {
    const route = this.opts.route(req);
    let params: Record<string, unknown> = {};
    try {
      params = this.opts.params?.(req) ?? {};
    } catch {
      /* unparsable parameters are the handler's to refuse */
    }
    this.requests.push({ route, method: req.method, path: req.path, at: Date.now(), params });
    const fault = this.takeFault(route);
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.hang) return;
    if (fault?.reset) {
      res.socket?.destroy();
      return;
    }
    let reply: Reply;
    if (fault?.status || fault?.body !== undefined) {
      const status = fault.status ?? 200;
      reply = fault.body !== undefined ? { status, raw: fault.body } : { status, json: this.opts.faultBody(status) };
      if (fault.retryAfter !== undefined) reply.headers = { 'retry-after': String(fault.retryAfter) };
    } else {
      try {
        reply = await this.opts.handle(req);
      } catch (e) {
        reply = { status: 500, json: this.opts.faultBody(500) };
        process.stderr.write(`sandbox: handler failed on ${route}: ${(e as Error).message}\n`);
      }
    }
    const body = reply.raw ?? JSON.stringify(reply.json ?? null);
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(body);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
