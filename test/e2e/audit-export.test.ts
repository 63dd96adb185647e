// The audit trail leaves the machine: every record and checkpoint as an OTLP/HTTP log record to a
// collector on loopback (a node:http receiver here), with the MCP and fleet attributes and the
// client's traceparent; a collector that is down or hangs never delays or fails a call, and what it
// lost is counted on stderr and recorded in the trail.
import { createServer, type Server } from 'node:http';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRecords, runCli, SCOPES, serve, tempDir, text } from '../helpers.js';

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
interface LogRecord {
  body?: OtlpValue;
  attributes?: { key: string; value: OtlpValue }[];
  traceId?: string;
  spanId?: string;
  eventName?: string;
  severityText?: string;
}

const until = async <T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const value = (v: OtlpValue | undefined) =>
  v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : (v?.boolValue ?? v?.doubleValue));
const attrs = (l: LogRecord) => Object.fromEntries((l.attributes ?? []).map((a) => [a.key, value(a.value)]));
const hex = (id: string | undefined) =>
  id && /^[0-9a-f]+$/.test(id) ? id : id ? Buffer.from(id, 'base64').toString('hex') : undefined;

let receiver: Server;
let url: string;
const received: { path: string; logs: LogRecord[]; resource: Record<string, unknown> }[] = [];
const logs = () => received.flatMap((r) => r.logs);

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const json = JSON.parse(body);
      for (const rl of json.resourceLogs ?? []) {
        const resource = Object.fromEntries(
          (rl.resource?.attributes ?? []).map((a: { key: string; value: OtlpValue }) => [a.key, value(a.value)]),
        );
        received.push({
          path: req.url ?? '',
          resource,
          logs: (rl.scopeLogs ?? []).flatMap((s: { logRecords?: LogRecord[] }) => s.logRecords ?? []),
        });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

async function checkpointScopes(): Promise<{ scopes: string; key: string }> {
  const scopes = join(tempDir('fleet-otlp-'), 'scopes');
  cpSync(SCOPES, scopes, { recursive: true });
  const key = join(tempDir('fleet-key-'), 'cp.pem');
  const kg = await runCli(['audit', 'keygen', key]);
  writeFileSync(
    join(scopes, 'fleet.yaml'),
    `${readFileSync(join(scopes, 'fleet.yaml'), 'utf8').replace(/\ncheckpoints:[\s\S]*$/, '\n')}\n${kg.stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n')
      .replace('every: 1000', 'every: 4')}\n`,
  );
  return { scopes, key };
}

describe('OTLP export of the audit trail', () => {
  it('delivers every record and checkpoint, with MCP and fleet attributes and the trace context', async () => {
    const { scopes, key } = await checkpointScopes();
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      scopes,
      vars: {
        OTEL_EXPORTER_OTLP_ENDPOINT: url,
        OTEL_BLRP_SCHEDULE_DELAY: '50',
        FLEET_CHECKPOINT_KEY: key,
        FLEET_ACTOR: 'U0DEVALICE',
      },
    });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(text(await s.call('get_user', { user: 'U0DEVALICE' }, { traceparent }))).toContain('U0DEVALICE');
    expect((await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'hi' })).isError).toBe(true);
    expect((await s.call('get_user', { user: 'U0DEVALICE' })).isError).toBeFalsy();
    await s.close();
    const trail = readFileSync(s.auditFile, 'utf8').split('\n').filter(Boolean);
    const records = await until('every record at the collector', () => {
      const got = logs().filter((l) => l.eventName === 'fleet.audit.record' || attrs(l)['fleet.audit.phase']);
      return got.length >= trail.length ? got : undefined;
    });
    expect(records.map((l) => l.body?.stringValue)).toEqual(trail);
    for (const [i, l] of records.entries()) {
      const a = attrs(l);
      const r = JSON.parse(trail[i]!);
      expect(a).toMatchObject({
        'mcp.method.name': 'tools/call',
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': r.tool,
        'fleet.audit.seq': r.seq,
        'fleet.audit.hash': r.hash,
        'fleet.instance': 'slack.dev',
        'fleet.client': 'fleet-test@1.0.0',
        'fleet.audit.phase': r.phase,
      });
      if (r.decision) expect(a['fleet.decision']).toBe(r.decision);
    }
    const deny = records.map(attrs).find((a) => a['fleet.decision'] === 'deny')!;
    expect(deny).toMatchObject({ 'gen_ai.tool.name': 'post_message', 'fleet.rule': 'tools.post_message.channels' });
    // the client's traceparent is in the record, and the log joins its trace
    const traced = records.filter((l) => hex(l.traceId) === '4bf92f3577b34da6a3ce929d0e0e4736');
    expect(traced.length).toBe(2);
    expect(hex(traced[0]!.spanId)).toBe('00f067aa0ba902b7');
    expect(JSON.parse(trail[0]!).traceparent).toBe(traceparent);
    expect(received[0]!.path).toBe('/v1/logs');
    expect(received[0]!.resource).toMatchObject({ 'service.name': 'fleet', 'fleet.instance': 'slack.dev' });
    const checkpoints = await until('the checkpoints at the collector', () => {
      const c = logs().filter((l) => l.eventName === 'fleet.audit.checkpoint');
      return c.some((x) => attrs(x)['fleet.audit.seq'] === trail.length) ? c : undefined;
    });
    expect(checkpoints.map((c) => attrs(c)['fleet.audit.seq'])).toEqual([4, trail.length]);
    expect(checkpoints[0]!.body?.stringValue).toMatch(/^fleet-audit\/slack\.dev\n4\n[0-9a-f]{64}\n/);
    // what the collector received verifies against the trail like the checkpoint file would
    const cpFile = join(tempDir(), 'from-collector.txt');
    writeFileSync(cpFile, checkpoints.map((c) => c.body!.stringValue).join('\n'));
    const v = await runCli(['audit', 'verify', s.auditFile, '--checkpoints', cpFile, '--scopes', scopes]);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toMatch(/2 checkpoint\(s\) matched/);
  }, 60_000);

  it.each([
    [
      'down (connection refused)',
      async () => {
        const dead = createServer();
        await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
        const port = (dead.address() as AddressInfo).port;
        await new Promise<void>((r) => dead.close(() => r()));
        return { endpoint: `http://127.0.0.1:${port}`, stop: async () => {} };
      },
    ],
    [
      'hanging (accepts, never answers)',
      async () => {
        const hang = createServer(() => {});
        await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
        return {
          endpoint: `http://127.0.0.1:${(hang.address() as AddressInfo).port}`,
          stop: () =>
            new Promise<void>((r) => {
              hang.closeAllConnections();
              hang.close(() => r());
            }),
        };
      },
    ],
  ])(
    'a collector %s never fails a call; the losses are counted and recorded',
    async (_what, collector) => {
      const c = await collector();
      try {
        const s = await serve({
          connector: 'slack',
          env: 'dev',
          sandbox: true,
          vars: {
            OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint,
            OTEL_BLRP_SCHEDULE_DELAY: '50',
            OTEL_EXPORTER_OTLP_TIMEOUT: '500',
          },
        });
        for (let i = 0; i < 5; i++)
          expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
        await s.close();
        const exportRecord = await until('the export record', () =>
          auditRecords(s.auditFile).find((r) => r.phase === 'export'),
        );
        expect(exportRecord.dropped).toBeGreaterThanOrEqual(10);
        expect(exportRecord.exported).toBe(0);
        expect(s.stderr()).toMatch(/audit export: \d+ record\(s\) (not delivered|never reached)/);
        const v = await runCli(['audit', 'verify', s.auditFile]);
        expect(v.code, v.stdout).toBe(0);
      } finally {
        await c.stop();
      }
    },
    60_000,
  );
});
