// What Slack sends an app that subscribed to events and turned interactivity on: an Events API
// envelope (event_callback) for a message or a reaction in a channel, and a block_actions payload
// when someone presses a button, each POSTed to the app's request URL and signed with its signing
// secret as Slack signs: X-Slack-Request-Timestamp, and X-Slack-Signature = v0=HMAC-SHA256 of
// `v0:<timestamp>:<body>`. Every delivery is kept, with the status the app answered.
// With Socket Mode on (./socket.ts) the same envelopes go over the app's WebSocket instead.
import { createHmac, randomBytes } from 'node:crypto';
import type { SocketHub } from './socket.js';

export interface CallbackTarget {
  /** the Event Subscriptions request URL */
  events: string;
  /** the Interactivity request URL */
  actions: string;
  /** the app's signing secret */
  secret: string;
  /** whose workspace's events the app receives */
  team: string;
}

export interface Delivery {
  kind: 'event' | 'action';
  what: string;
  /** the app's HTTP status, 0 when it could not be reached */
  status: number;
}

export class Callbacks {
  target?: CallbackTarget;
  /** the app's Socket Mode connections, when it uses them */
  socket?: SocketHub;
  readonly deliveries: Delivery[] = [];
  private pending = new Set<Promise<unknown>>();

  /** An event as the Events API wraps it, delivered in the background (Slack does not wait on the app). */
  event(team: string, event: Record<string, unknown>): void {
    const t = this.target;
    const socket = this.socket?.team === team ? this.socket : undefined;
    if (!socket && (!t || t.team !== team)) return;
    const envelope = {
      token: 'deprecated-verification-token',
      team_id: team,
      api_app_id: 'A0APPROVALS',
      event,
      type: 'event_callback',
      event_id: `Ev${randomBytes(6).toString('hex').toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
    };
    const sent = socket
      ? socket.send('events_api', envelope).then((ok) => (ok ? 200 : 0))
      : this.post(t!.events, 'application/json', JSON.stringify(envelope), t!.secret);
    const p = sent.then((status) => void this.deliveries.push({ kind: 'event', what: String(event.type), status }));
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** A block_actions payload, form-encoded as Slack sends it; resolves to the app's status. */
  async action(payload: Record<string, unknown>): Promise<number> {
    const t = this.target;
    if (this.socket) {
      const status = (await this.socket.send('interactive', payload)) ? 200 : 0;
      this.deliveries.push({ kind: 'action', what: 'block_actions', status });
      return status;
    }
    if (!t) throw new Error('the sandbox has no interactivity URL (deliverTo) and no Socket Mode app (socketMode)');
    const status = await this.post(
      t.actions,
      'application/x-www-form-urlencoded',
      new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
      t.secret,
    );
    this.deliveries.push({ kind: 'action', what: 'block_actions', status });
    return status;
  }

  /** POSTs a body signed with `secret` at `timestamp` (seconds; default now): a test forges one with another secret or an old time. */
  async post(
    url: string,
    type: string,
    body: string,
    secret: string,
    timestamp = Math.floor(Date.now() / 1000),
  ): Promise<number> {
    const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    try {
      const r = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': type,
          'x-slack-request-timestamp': String(timestamp),
          'x-slack-signature': signature,
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await r.arrayBuffer();
      return r.status;
    } catch {
      return 0;
    }
  }

  /** Waits for the deliveries under way. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
