// Bounds on what one request and one client may take: body size, calls in flight, request rate.
import type { IncomingMessage } from 'node:http';

export class TooLarge extends Error {}

/** The body, refused once it passes `max` bytes (announced or actually sent). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const announced = Number(req.headers['content-length']);
    if (announced > max) return reject(new TooLarge(`the body is ${announced} bytes; the limit is ${max}`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new TooLarge(`the body passed ${max} bytes, the limit`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const WINDOW_MS = { second: 1000, minute: 60_000, hour: 3_600_000 } as const;

export function parseRate(rate: string): { n: number; ms: number } {
  const [n, per] = rate.split('/') as [string, keyof typeof WINDOW_MS];
  return { n: Number(n), ms: WINDOW_MS[per] };
}

/** A token bucket per client: `n` requests per window, refilled continuously. */
export class ClientRates {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** 0 when admitted, else the milliseconds until the next request would be */
  take(client: string, rate: string): number {
    const { n, ms } = parseRate(rate);
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
