// The PostgreSQL the suites use: FLEET_TEST_PG (a connection URL; .ci/run starts a throwaway cluster
// and sets it). Without it the PostgreSQL suites are skipped; test/global-setup.ts says so.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export const PG_URL = process.env.FLEET_TEST_PG ?? '';

/** A loopback TCP proxy to the test database that can be cut and restored on the same port. */
export class TcpProxy {
  private server?: Server;
  private conns = new Set<Socket>();
  port = 0;
  constructor(private readonly target: () => Socket) {}
  async start(): Promise<void> {
    this.server = createServer((c) => {
      const up = this.target();
      this.conns.add(c).add(up);
      const drop = () => {
        c.destroy();
        up.destroy();
        this.conns.delete(c);
        this.conns.delete(up);
      };
      c.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      c.pipe(up).pipe(c);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
}

/** Parts of a libpq URL: its user, and where it listens (Unix socket folder via ?host=, or host:port). */
export function pgParts(url: string): { user: string; database: string; connect: () => Socket } {
  const user = decodeURIComponent(/^postgres(?:ql)?:\/\/([^:@/]+)(?::[^@/]*)?@/.exec(url)?.[1] ?? 'postgres');
  const query = new URLSearchParams(url.split('?')[1] ?? '');
  const authority = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url)?.[1] ?? '';
  const [h, p] = authority.split(':');
  const host = query.get('host') ?? (h || '/var/run/postgresql');
  const port = Number(query.get('port') ?? (p || 5432));
  const database = decodeURIComponent(/^postgres(?:ql)?:\/\/[^/]*\/([^?]*)/.exec(url)?.[1] || user);
  return {
    user,
    database,
    connect: host.startsWith('/') ? () => connect(join(host, `.s.PGSQL.${port}`)) : () => connect(port, host),
  };
}

/** fleet.yaml's block that keeps every instance's state (and trail) in the PostgreSQL FLEET_STATE_PG names. */
export const PG_STORE = '\nstore:\n  engine: postgres\n  url: env:FLEET_STATE_PG\n';

/** The same server, another database: `url` with its database name replaced. */
export function onDatabase(url: string, database: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^/?]*)(\/[^?]*)?/, `$1/${database}`);
}

/**
 * A fresh database of this test file's own on the test server (dropped by the returned function),
 * so what other suites or branches do to FLEET_TEST_PG's database — another schema version, say —
 * cannot change what this one sees.
 */
export async function freshDatabase(prefix: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const pg = (await import('pg')).default;
  const name = `${prefix}_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: onDatabase(PG_URL, name),
    drop: async () => {
      const a = new pg.Client({ connectionString: PG_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}
