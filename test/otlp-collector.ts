// An OTLP/HTTP (JSON) log collector on a fixed loopback port that can be taken down and brought back.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
export interface LogRecord {
  attributes?: { key: string; value: OtlpValue }[];
  eventName?: string;
}
const value = (v: OtlpValue | undefined) =>
  v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.boolValue);
export const attrs = (l: LogRecord) => Object.fromEntries((l.attributes ?? []).map((a) => [a.key, value(a.value)]));

/** A collector on a fixed loopback port that can be taken down and brought back. */
export class Collector {
  logs: LogRecord[] = [];
  private server: Server | undefined;
  port = 0;
  async up(): Promise<void> {
    const s = createServer((req, res) => {
      let body = '';
      req
        .on('data', (d) => (body += d))
        .on('end', () => {
          for (const rl of JSON.parse(body).resourceLogs ?? [])
            for (const sl of rl.scopeLogs ?? []) this.logs.push(...(sl.logRecords ?? []));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
    });
    await new Promise<void>((r) => s.listen(this.port, '127.0.0.1', r));
    this.port = (s.address() as AddressInfo).port;
    this.server = s;
  }
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** the seqs received of the instance's records, and which came as re-sent */
  seqs(): { all: Set<number>; resent: Set<number> } {
    const rs = this.logs.filter((l) => l.eventName === 'fleet.audit.record').map(attrs);
    return {
      all: new Set(rs.map((a) => Number(a['fleet.audit.seq']))),
      resent: new Set(rs.filter((a) => a['fleet.audit.resent'] === true).map((a) => Number(a['fleet.audit.seq']))),
    };
  }
}
