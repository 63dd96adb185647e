// Harness for the HTTP transport: spawn the real `fleet serve --http`, wait for its listening line,
// and connect the SDK's own Streamable HTTP client with a client credential.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { tokenHash } from '../shared/transport/http/auth/bearer.js';
import { fleetCommand, ROOT, SCOPES, tempDir } from './helpers.js';

/** A clients.yaml with one client, `staging`, that may call slack.dev with `token`. */
export const stagingClient = (token: string): string => `clients:
  staging:
    owner: content-platform <content@example.com>
    purpose: The staging bot, against the dev instance.
    instances: [slack.dev]
    token: sha256:${tokenHash(token)}
`;

/** A scopes folder with the shipped manifests and the given clients.yaml. */
export function httpScopes(clients: string, edit: (name: string, text: string) => string = (_n, t) => t): string {
  const dir = tempDir('fleet-http-scopes-');
  for (const f of [
    'slack.dev.yaml',
    'slack.prod.yaml',
    'cloudflare.dev.yaml',
    'cloudflare.prod.yaml',
    'doppler.dev.yaml',
    'doppler.prod.yaml',
    'fleet.yaml',
  ]) {
    writeFileSync(join(dir, f), edit(f, readFileSync(join(SCOPES, f), 'utf8')));
  }
  writeFileSync(join(dir, 'clients.yaml'), clients);
  return dir;
}

export interface HttpServed {
  url: string;
  pid: number;
  child: ChildProcess;
  auditDir: string;
  stderr(): string;
  /** resolves with the exit code */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `fleet serve --http 127.0.0.1:0 ...args` and waits until it listens. */
export async function serveHttp(
  args: string[],
  opts: { vars?: Record<string, string>; auditDir?: string; stateDir?: string } = {},
): Promise<HttpServed> {
  const auditDir = opts.auditDir ?? tempDir('fleet-audit-');
  const cmd = fleetCommand(['serve', '--http', '127.0.0.1:0', ...args]);
  const child = spawn(cmd.command, cmd.args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      FLEET_AUDIT_DIR: auditDir,
      FLEET_STATE_DIR: opts.stateDir ?? tempDir('fleet-state-'),
      ...opts.vars,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`fleet serve --http exited (${code}) before listening: ${err}`)));
  });
  return {
    url,
    pid: child.pid!,
    child,
    auditDir,
    stderr: () => (out ? `${err}\n[stdout!] ${out}` : err),
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The SDK's Streamable HTTP client, as a client with this bearer token (or none). */
export async function connect(url: string, token?: string, headers: Record<string, string> = {}): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } },
  });
  const client = new Client({ name: 'fleet-http-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

export const mintedToken = async (scopes: string, name: string): Promise<string> => {
  const { runCli } = await import('./helpers.js');
  const r = await runCli(['clients', 'mint', name, '--scopes', scopes]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
};
