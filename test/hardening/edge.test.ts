// The HTTP edge against unauthenticated and slow peers (`fleet serve --http`): generated floods of
// requests without a valid credential (garbage tokens of up to 6 KB, random headers, paths,
// Origins) cost the trail a bounded number of bounded records, counted rather than written one by
// one; unknown paths and health never name the served instances; a client trickling bodies gets
// 408 and never keeps another client from its share of capacity; a JSON-RPC batch is refused as on
// stdio.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../../shared/transport/http/auth/bearer.js';
import { MAX_KINDS } from '../../shared/transport/http/edge.js';
import { auditRecords } from '../helpers.js';
import { httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';

const mint = () => `fleet_${randomBytes(24).toString('hex')}`;
const tokens = { greedy: mint(), steady: mint() };
const clients = `clients:
${Object.entries(tokens)
  .map(
    ([n, t]) => `  ${n}:
    owner: content-platform <content@example.com>
    purpose: A bot of the edge suite, against the dev instance.
    instances: [slack.dev]
    rate: 1000/second
    token: sha256:${tokenHash(t)}
`,
  )
  .join('')}`;

const listTools = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
let s: HttpServed;
const post = (path: string, body: unknown, h: Record<string, string> = {}) =>
  fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { ...headers, ...h },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

beforeAll(async () => {
  const scopes = httpScopes(clients);
  s = await serveHttp([
    '--instance',
    'slack.dev',
    '--sandbox',
    '--scopes',
    scopes,
    '--max-in-flight',
    '4',
    '--body-timeout',
    '1s',
  ]);
}, 60_000);
afterAll(async () => {
  await s?.stop();
});

/** A request no credential backs: what an unauthenticated peer may send. */
const unauthenticated = fc.record({
  authorization: fc.oneof(
    fc.constant(undefined),
    fc.integer({ min: 1, max: 6000 }).map((n) => `Bearer ${'x'.repeat(n)}`),
    fc.string({ minLength: 1, maxLength: 200 }).map((t) => `Bearer fleet_${t.replace(/[^\x21-\x7e]/g, 'z')}`),
    fc.string({ maxLength: 300 }).map((t) => t.replace(/[^\x20-\x7e]/g, 'q')),
    fc
      .integer({ min: 1, max: 5000 })
      .map(
        (n) =>
          `Bearer eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify({ iss: 'https://evil.example/'.padEnd(n, 'e'), sub: 'x' })).toString('base64url')}.sig`,
      ),
  ),
  origin: fc.oneof(
    fc.constant(undefined),
    fc.webUrl().map((u) => u.slice(0, 2000)),
  ),
  body: fc.oneof(fc.constant(JSON.stringify(listTools)), fc.string({ maxLength: 2000 })),
});

describe('unauthenticated peers', () => {
  it('300 generated requests without a valid credential cost at most a bounded record per kind and one count record', async () => {
    const trail = join(s.auditDir, 'slack.dev.jsonl');
    const before = existsSync(trail) ? readFileSync(trail, 'utf8').length : 0;
    const reqs = fc.sample(unauthenticated, { numRuns: 300, seed: 24 });
    for (let i = 0; i < reqs.length; i += 10) {
      await Promise.all(
        reqs.slice(i, i + 10).map(async (r) => {
          const h: Record<string, string> = {};
          if (r.authorization !== undefined) h.authorization = r.authorization;
          if (r.origin !== undefined) h.origin = r.origin;
          const res = await post('/mcp/slack/dev', r.body, h).catch(() => undefined);
          if (res) {
            expect([400, 401, 403, 431]).toContain(res.status);
            await res.arrayBuffer();
          }
        }),
      );
    }
    // the counts are written when the interval ends, or when the server drains
    await s.stop();
    const restart = serveHttp(
      [
        '--instance',
        'slack.dev',
        '--sandbox',
        '--scopes',
        httpScopes(clients),
        '--max-in-flight',
        '4',
        '--body-timeout',
        '1s',
      ],
      { auditDir: s.auditDir },
    );
    const text = readFileSync(join(s.auditDir, 'slack.dev.jsonl'), 'utf8');
    const added = text.slice(before).split('\n').filter(Boolean);
    const recs = added.map((l) => JSON.parse(l));
    const refusals = recs.filter((r) => r.phase === 'decision' && r.http);
    const counts = recs.filter((r) => r.phase === 'edge');
    expect(refusals.length).toBeLessThanOrEqual(MAX_KINDS);
    expect(counts.length).toBe(1);
    expect(refusals.length + counts[0].count).toBe(300);
    for (const l of added) expect(l.length).toBeLessThan(12_000);
    s = await restart;
    expect(text.length - before).toBeLessThan(64 * 1024);
  }, 120_000);

  it.each([
    ['an unknown path', '/mcp/slack/nope'],
    ['a prefix of a served path', '/mcp/slack'],
    ['the root', '/'],
    ['metadata of nothing', '/.well-known/oauth-protected-resource/mcp/slack/nope'],
  ])('a 404 for %s names no served instance', async (_what, path) => {
    const r = await post(path, listTools);
    expect(r.status).toBe(404);
    expect(await r.text()).not.toMatch(/slack\.dev|\/mcp\/slack\/dev/);
  });

  it('health says how many instances, not which', async () => {
    const r = await fetch(`${s.url}/healthz`);
    expect(await r.text()).not.toMatch(/slack\.dev/);
  });
});

describe('slow and greedy clients', () => {
  /** A request whose headers arrive and whose body never ends. */
  const trickle = (token: string) =>
    new Promise<{ sock: Socket; status: Promise<number> }>((resolve) => {
      const { hostname, port } = new URL(s.url);
      const sock = netConnect({ host: hostname, port: Number(port) }, () => {
        sock.write(
          `POST /mcp/slack/dev HTTP/1.1\r\nhost: ${hostname}:${port}\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: 100000\r\n\r\n{"jsonrpc":`,
        );
        const status = new Promise<number>((done) => {
          let got = '';
          sock.on('data', (d) => {
            got += d.toString();
            const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
            if (m) done(Number(m[1]));
          });
          sock.on('close', () => done(0));
        });
        resolve({ sock, status });
      });
    });

  it('one client trickling bodies keeps no other from its share, and gets 408 for each', async () => {
    const slow = await Promise.all([1, 2, 3, 4].map(() => trickle(tokens.greedy)));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const r = await post('/mcp/slack/dev', listTools, { authorization: `Bearer ${tokens.steady}` });
    expect(r.status, await r.text()).toBe(200);
    expect(Date.now() - t0).toBeLessThan(5000);
    const statuses = await Promise.all(slow.map((x) => x.status));
    // within its share: cut off after the body timeout; beyond it: refused at once
    expect(statuses.sort()).toEqual([408, 408, 503, 503]);
    for (const x of slow) x.sock.destroy();
  }, 30_000);

  it('refuses a JSON-RPC batch as stdio does: one message per request', async () => {
    const r = await post('/mcp/slack/dev', [listTools, { ...listTools, id: 2 }], {
      authorization: `Bearer ${tokens.greedy}`,
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toMatch(/batch/);
    const one = await post('/mcp/slack/dev', listTools, { authorization: `Bearer ${tokens.greedy}` });
    expect(one.status).toBe(200);
    await one.text();
    const recs = auditRecords(join(s.auditDir, 'slack.dev.jsonl'));
    expect(recs.length).toBeGreaterThan(0);
  });
});
