// The OTLP export as a collector's users query it: the semantic-convention attributes (error.type,
// mcp.protocol.version, jsonrpc.request.id; service.version and service.instance.id on the
// resource), and the W3C `traceparent` HTTP header of a call over `serve --http` in the trail and
// in the exported log's trace context. A real OTLP/HTTP receiver on loopback decodes what arrives.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../shared/transport/http/auth/bearer.js';
import { auditRecords, ROOT, serve, text, waitFor } from '../helpers.js';
import { connect, httpScopes, serveHttp, stagingClient } from '../http-helpers.js';

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
interface Log {
  body?: OtlpValue;
  attributes?: { key: string; value: OtlpValue }[];
  traceId?: string;
  spanId?: string;
  eventName?: string;
}
const value = (v: OtlpValue | undefined) =>
  v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.boolValue);
const attrs = (a: { key: string; value: OtlpValue }[] | undefined) =>
  Object.fromEntries((a ?? []).map((x) => [x.key, value(x.value)]));
const hex = (id: string | undefined) =>
  id && /^[0-9a-f]+$/.test(id) ? id : id ? Buffer.from(id, 'base64').toString('hex') : undefined;
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

let receiver: Server;
let endpoint: string;
const batches: { resource: Record<string, unknown>; logs: Log[] }[] = [];
const records = () =>
  batches
    .flatMap((b) => b.logs.map((l) => ({ ...l, a: attrs(l.attributes), resource: b.resource })))
    .filter((l) => l.eventName === 'fleet.audit.record');

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req
      .on('data', (d) => (body += d))
      .on('end', () => {
        for (const rl of JSON.parse(body).resourceLogs ?? []) {
          batches.push({
            resource: attrs(rl.resource?.attributes),
            logs: (rl.scopeLogs ?? []).flatMap((s: { logRecords?: Log[] }) => s.logRecords ?? []),
          });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

describe('OTLP export: semantic-convention attributes', () => {
  it('names the protocol version, the JSON-RPC id, the error type and the service', async () => {
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      vars: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BLRP_SCHEDULE_DELAY: '50', FLEET_ACTOR: 'U0DEVALICE' },
    });
    try {
      expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      expect((await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'not here' })).isError).toBe(true);
    } finally {
      await s.close();
    }
    const trail = auditRecords(s.auditFile);
    const got = await waitFor(() => {
      const mine = records().filter((l) => trail.some((r) => r.call === l.a['fleet.call']));
      return mine.length >= trail.length ? mine : undefined;
    }, 20_000);
    for (const l of got) {
      expect(l.a['mcp.protocol.version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(l.a['jsonrpc.request.id']).toMatch(/^\d+$/);
      expect(l.resource).toMatchObject({ 'service.name': 'fleet', 'service.version': VERSION });
      expect(l.resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const ok = got.filter((l) => l.a['gen_ai.tool.name'] === 'get_user');
    expect(ok.map((l) => l.a['error.type'])).toEqual([undefined, undefined]);
    const deny = got.find((l) => l.a['fleet.decision'] === 'deny')!;
    expect(deny.a['error.type']).toBe('tool_error');
    // the two calls were two JSON-RPC requests
    expect(new Set(got.map((l) => l.a['jsonrpc.request.id'])).size).toBe(2);
  }, 60_000);
});

describe('OTLP export: the W3C traceparent header over serve --http', () => {
  it('reaches the trail record and the exported log', async () => {
    const token = mintToken();
    const served = await serveHttp(
      ['--instance', 'slack.dev', '--sandbox', '--scopes', httpScopes(stagingClient(token))],
      {
        vars: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BLRP_SCHEDULE_DELAY: '50', FLEET_ACTOR: 'U0DEVALICE' },
      },
    );
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    try {
      const client = await connect(`${served.url}/mcp/slack/dev`, token, { traceparent });
      expect(text((await client.callTool({ name: 'get_user', arguments: { user: 'U0DEVALICE' } })) as never)).toContain(
        'U0DEVALICE',
      );
      await client.close();
    } finally {
      await served.stop();
    }
    const trail = auditRecords(join(served.auditDir, 'slack.dev.jsonl'));
    expect(trail.map((r) => r.traceparent)).toEqual([traceparent, traceparent]);
    expect(trail[0]!.protocol_version).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const logs = await waitFor(() => {
      const mine = records().filter((l) => trail.some((r) => r.call === l.a['fleet.call']));
      return mine.length >= 2 ? mine : undefined;
    }, 20_000);
    expect(logs.map((l) => hex(l.traceId))).toEqual([
      '0af7651916cd43dd8448eb211c80319c',
      '0af7651916cd43dd8448eb211c80319c',
    ]);
    expect(hex(logs[0]!.spanId)).toBe('b7ad6b7169203331');
  }, 60_000);
});
