// Socket Mode as Slack speaks it, for an app that has no request URL: apps.connections.open (an
// app-level xapp- token) hands out a one-use WebSocket URL; on connecting the app gets `hello`,
// then each event as an `events_api` envelope and each button press as an `interactive` one, each
// with an envelope_id the app acks by sending `{ envelope_id }` back. The server pings every 10 s
// (the official client closes a connection that stays silent for 30 s); `disconnect` asks the app
// to reconnect, as Slack does when it recycles a connection.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

const PING_MS = 10_000;
const ACK_MS = 10_000;

export class SocketHub {
  private wss?: WebSocketServer;
  private tickets = new Set<string>();
  private open: WebSocket[] = [];
  private next = 0;
  private waiting = new Map<string, (ok: boolean) => void>();
  private pinger?: NodeJS.Timeout;
  /** how many connections were opened, and envelopes acked */
  connections = 0;
  acks = 0;

  constructor(
    /** the app's app-level token */
    readonly appToken: string,
    /** whose workspace's events it receives */
    readonly team: string,
  ) {}

  /** apps.connections.open: a fresh URL to connect to once. */
  async url(): Promise<string> {
    if (!this.wss) {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await new Promise<void>((resolve, reject) => wss.once('listening', resolve).once('error', reject));
      wss.on('connection', (ws, req) =>
        this.accept(ws, new URL(req.url ?? '/', 'ws://x').searchParams.get('ticket') ?? ''),
      );
      this.pinger = setInterval(() => {
        for (const ws of this.open) ws.ping();
      }, PING_MS);
      this.pinger.unref();
      this.wss = wss;
    }
    const ticket = randomBytes(12).toString('hex');
    this.tickets.add(ticket);
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/link/?ticket=${ticket}`;
  }

  private accept(ws: WebSocket, ticket: string): void {
    if (!this.tickets.delete(ticket)) return void ws.close(4001, 'invalid ticket');
    this.connections++;
    this.open.push(ws);
    ws.on('close', () => (this.open = this.open.filter((x) => x !== ws)));
    ws.on('message', (data) => {
      let m: { envelope_id?: string };
      try {
        m = JSON.parse(String(data)) as { envelope_id?: string };
      } catch {
        return;
      }
      const done = m.envelope_id ? this.waiting.get(m.envelope_id) : undefined;
      if (done) {
        this.acks++;
        done(true);
      }
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.open.length,
        debug_info: { host: 'sandbox', approximate_connection_time: 3600 },
        connection_info: { app_id: 'A0APPROVALS' },
      }),
    );
  }

  /** Sends an envelope over one open connection (in turn); whether the app acked it in time. */
  send(type: 'events_api' | 'interactive', payload: Record<string, unknown>): Promise<boolean> {
    const live = this.open.filter((ws) => ws.readyState === ws.OPEN);
    if (!live.length) return Promise.resolve(false);
    const ws = live[this.next++ % live.length]!;
    const envelope_id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), ACK_MS);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(envelope_id);
        resolve(ok);
      };
      this.waiting.set(envelope_id, finish);
      ws.send(
        JSON.stringify({
          envelope_id,
          type,
          payload,
          accepts_response_payload: false,
          ...(type === 'events_api' ? { retry_attempt: 0, retry_reason: '' } : {}),
        }),
      );
    });
  }

  /** Asks every connected app to reconnect, as Slack does before recycling a connection. */
  recycle(): void {
    for (const ws of this.open)
      ws.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested', debug_info: { host: 'sandbox' } }));
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const ws of this.open) ws.terminate();
    const wss = this.wss;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}
