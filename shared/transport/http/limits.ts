// Bounds on what one request and one client may take: body size, calls in flight, request rate.
import type { IncomingMessage } from 'node:http';
import { parseRate } from '../../base/rate.js';

export class TooLarge extends Error {}
export class TooSlow extends Error {}

/** The body, refused once it passes `max` bytes (announced or actually sent), or takes more than `ms` to arrive. */
export function readBody(req: IncomingMessage, max: number, ms = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const announced = Number(req.headers['content-length']);
    if (announced > max) return reject(new TooLarge(`the body is ${announced} bytes; the limit is ${max}`));
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.removeAllListeners('data');
      reject(new TooSlow(`the body took more than ${ms} ms to arrive (${size} bytes so far)`));
    }, ms);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        clearTimeout(timer);
        req.removeAllListeners('data');
        req.resume();
        reject(new TooLarge(`the body passed ${max} bytes, the limit`));
      } else chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * Whether a client may have one more request in flight: always while it holds less than its share
 * (the capacity split equally over every client of clients.yaml), and beyond it only while what is
 * free exceeds what the other clients have yet to use of their own shares. So no client, however
 * many requests it sends or however slowly it sends them, can keep another from its share.
 */
export function admits(
  held: ReadonlyMap<string, number>,
  clients: readonly string[],
  client: string,
  max: number,
): boolean {
  const share = Math.max(1, Math.floor(max / Math.max(1, clients.length)));
  let total = 0;
  for (const n of held.values()) total += n;
  if (total >= max) return false;
  const mine = held.get(client) ?? 0;
  if (mine < share) return true;
  let reserved = 0;
  for (const c of clients) if (c !== client) reserved += Math.max(0, share - (held.get(c) ?? 0));
  return max - total > reserved;
}

/** A token bucket per client: `n` requests per window, refilled continuously. */
export class ClientRates {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** 0 when admitted, else the milliseconds until the next request would be */
  take(client: string, rate: string): number {
    const { limit: n, windowMs: ms } = parseRate(rate)!; // clients.yaml and --client-rate took only rates
    const now = Date.now();
    const b = this.buckets.get(client) ?? { tokens: n, at: now };
    b.tokens = Math.min(n, b.tokens + ((now - b.at) * n) / ms);
    b.at = now;
    this.buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * ms) / n);
  }
}
