// `fleet serve --http [HOST:]PORT`: one process serving one or several instances over Streamable
// HTTP (stateless), each at /mcp/<connector>/<env>, to the clients of scopes/clients.yaml. Binds
// to loopback unless told otherwise; TLS is the tunnel's or proxy's job. SIGTERM drains.
import { StartupError } from '../../../shared/base/errors.js';
import { parseDuration } from '../../../shared/base/duration.js';
import { parseRate } from '../../../shared/base/rate.js';
import { isProduction } from '../../../shared/connector/scopes.js';
import { loadClients } from '../../../shared/manifest/clients.js';
import { instanceOf, manifestFiles } from '../../../shared/review/verify.js';
import { ClientRegistry } from '../../../shared/transport/http/auth/clients.js';
import { serveHttp, type Inbound } from '../../../shared/transport/http/server.js';
import { CONNECTORS } from '../connectors.js';
import { VERSION } from '../version.js';
import { credentialResolver } from '../compose/credentials.js';
import { composeInstance, type Running } from '../compose/instance.js';

export interface HttpServeOptions {
  listen: string;
  scopes: string;
  /** instance ids (slack.prod); default: every manifest in the scopes folder */
  instances: string[];
  sandbox?: boolean;
  upstream?: string;
  publicUrl?: string;
  allowOrigin?: string[];
  maxBody?: string;
  maxInFlight?: string;
  bodyTimeout?: string;
  clientRate?: string;
  drain?: string;
}

const r0 = (inst: { manifest: { id: string } }) => inst.manifest.id;

export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[\w.-]+):)?(\d{1,5})$/.exec(spec);
  const port = Number(m?.[2]);
  if (!m || port > 65535)
    throw new StartupError(`--http ${JSON.stringify(spec)}: expected [HOST:]PORT, e.g. 8080 or 127.0.0.1:8080`);
  return { host: m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port };
}

const positive = (v: string | undefined, name: string, dflt: number) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new StartupError(`${name} ${JSON.stringify(v)}: expected a positive whole number`);
  return n;
};

export async function serveHttpCmd(o: HttpServeOptions): Promise<void> {
  const { host, port } = parseListen(o.listen);
  const ids = o.instances.length
    ? o.instances
    : manifestFiles(o.scopes)
        .map(instanceOf)
        .filter((id) => CONNECTORS[id.split('.')[0]!]);
  if (!ids.length) throw new StartupError(`no instance to serve: no manifest in ${o.scopes}`);
  if (o.upstream && new Set(ids.map((id) => id.split('.')[0])).size > 1)
    throw new StartupError('--upstream names one upstream: serve instances of one connector with it');
  if (o.clientRate && !parseRate(o.clientRate))
    throw new StartupError(
      `--client-rate ${JSON.stringify(o.clientRate)}: expected N/second, N/minute, N/hour or N/day`,
    );
  const bodyMs = parseDuration(o.bodyTimeout ?? '10s');
  if (!bodyMs)
    throw new StartupError(`--body-timeout ${JSON.stringify(o.bodyTimeout)}: expected a duration such as 10s`);
  const graceMs = parseDuration(o.drain ?? '30s');
  if (graceMs === undefined)
    throw new StartupError(`--drain ${JSON.stringify(o.drain)}: expected a duration such as 30s or 2m`);

  const clients = loadClients(o.scopes);
  const running: Running[] = [];
  for (const id of ids) {
    const [connector, env] = id.split('.') as [string, string];
    if (!env) throw new StartupError(`--instance ${JSON.stringify(id)}: expected <connector>.<env>, e.g. slack.prod`);
    running.push(
      await composeInstance({ connector, env, scopes: o.scopes, sandbox: o.sandbox, upstream: o.upstream, http: true }),
    );
  }
  const first = running[0]!.inst;
  const registry = await ClientRegistry.load(
    clients,
    credentialResolver(o.scopes, () => first.manifest),
  );
  const log = (m: string) => process.stderr.write(`fleet http: ${first.redactor.scrub(m)}\n`);
  const exit = async (code: number, why = code ? 'start failed' : 'SIGTERM') => {
    await Promise.all(running.map((r) => r.close(why)));
    process.exit(code);
  };
  // Slack's callbacks (answers to approval requests): each path once, refusals on the first instance's trail that serves it
  const inbound = new Map<string, Inbound>();
  for (const r of running)
    for (const e of r.inbound) if (!inbound.has(e.path)) inbound.set(e.path, { ...e, inst: r.inst });
  for (const e of inbound.values()) {
    await e.ready?.().catch((err: Error) => {
      throw new StartupError(`${r0(e.inst)} cannot serve ${e.path}: ${err.message}`);
    });
  }
  const fleet = await serveHttp({
    inbound: [...inbound.values()],
    host,
    port,
    instances: running.map((r) => r.inst),
    clients: registry,
    version: VERSION,
    publicUrl: o.publicUrl,
    allowOrigins: o.allowOrigin,
    limits: {
      maxBody: positive(o.maxBody, '--max-body', 1024 * 1024),
      maxInFlight: positive(o.maxInFlight, '--max-in-flight', 256),
      bodyMs,
      rate: o.clientRate ?? '20/second',
    },
    onError: log,
  }).catch((e: Error) => {
    throw new StartupError(`cannot listen on ${host}:${port}: ${e.message}`);
  });
  for (const r of running) {
    r.openNow((e) => {
      r.inst.log.error(`cannot start: ${e.message}`);
      void exit(1);
    });
  }
  const prod = running.filter((r) => isProduction(r.inst.manifest)).length;
  log(
    `serving ${fleet.routes.map((r) => r.resource).join(', ')} (${prod} production) to ${Object.keys(clients.clients).length} clients of ${clients.file}`,
  );
  // the one line a supervisor or a test waits for, on stderr: stdout stays free
  process.stderr.write(`fleet http: listening on ${fleet.url}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log(`draining (up to ${o.drain ?? '30s'})`);
    const d = await fleet.drain(graceMs);
    log(`drained: ${d.finished} finished, ${d.cut} cut`);
    await exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
