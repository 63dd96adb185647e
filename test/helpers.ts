// Test harness: start the real CLI as a child process and talk MCP to it over stdio with the
// SDK's Client, exactly as Claude Code does. The CLI is started the way users start it: the package's
// bin, dist/fleet (from the V8 start-up snapshot); the bundle (node dist/cli.js) only where a test is
// about the bundle, or for every test with FLEET_DOOR=bundle.
import { cpSync, mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  ElicitRequestSchema,
  LATEST_PROTOCOL_VERSION,
  type CallToolResult,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { SlackSandbox } from '../servers/slack/sandbox/index.js';

export const ROOT = resolve(import.meta.dirname, '..');
/** The bundle, dist/cli.js (FLEET_CLI names another build's). */
export const CLI = process.env.FLEET_CLI ? resolve(process.env.FLEET_CLI) : join(ROOT, 'dist', 'cli.js');
/** The package's bin beside it, what `npm i -g` puts on PATH: the launcher of the start-up snapshot. */
export const FLEET = join(dirname(CLI), 'fleet');

/** The command running `fleet ...args` as users do: the bin, or `node dist/cli.js` with FLEET_DOOR=bundle. */
export function fleetCommand(
  args: string[],
  door: 'bin' | 'bundle' = process.env.FLEET_DOOR === 'bundle' ? 'bundle' : 'bin',
): { command: string; args: string[] } {
  return door === 'bin' ? { command: FLEET, args } : { command: process.execPath, args: [CLI, ...args] };
}
export const SCOPES = join(ROOT, 'scopes');

/** Polls `fn` until it gives a value, or fails after `ms`: a wait for a condition, never for a time. */
export async function waitFor<T>(fn: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The approvals identity's token scopes (scopes/fleet.yaml approvals.slack). */
export const APPROVALS_SCOPES = ['chat:write', 'channels:history', 'users:read'];

/** The environment pointing an instance's approvals identity at a Slack sandbox. */
export function approvalsIdentity(sb: SlackSandbox, scopes = APPROVALS_SCOPES): Record<string, string> {
  return {
    SLACK_APPROVALS_TOKEN: sb.issue('T0BLOGPROD', scopes, undefined, 'U0APPROVALS'),
    FLEET_APPROVALS_SLACK_URL: sb.url,
  };
}

/**
 * A production instance's proven actor (attribution proof: slack-message, read through the approvals
 * identity): `user` asks in the request channel of the Slack sandbox, and the server's environment
 * names that message as its thread (FLEET_ACTOR, FLEET_THREAD) and points the approvals identity at
 * the sandbox.
 */
export function askedInSlack(sb: SlackSandbox, user = 'U0EDITOR1', what = 'please check it'): Record<string, string> {
  return { FLEET_ACTOR: user, FLEET_THREAD: sb.say('T0BLOGPROD', 'C0EDITORIAL', user, what), ...approvalsIdentity(sb) };
}

export function tempDir(prefix = 'fleet-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A copy of the shipped scopes (a `scopes` folder in a temporary one) with some manifests edited:
 * file name → new text from old. An edit that changes nothing fails, so a test never runs on the
 * shipped manifest while believing it changed it.
 */
export function scopesCopy(edits: Record<string, (yaml: string) => string>): string {
  const dir = join(tempDir('fleet-scopes-'), 'scopes');
  cpSync(SCOPES, dir, { recursive: true });
  for (const [file, edit] of Object.entries(edits)) {
    const text = readFileSync(join(dir, file), 'utf8');
    const edited = edit(text);
    if (edited === text) throw new Error(`scopesCopy: the edit of ${file} changed nothing`);
    writeFileSync(join(dir, file), edited);
  }
  return dir;
}

/**
 * The shipped scopes with production Cloudflare and Doppler holding a standing token
 * (env:CLOUDFLARE_API_TOKEN_PROD, env:DOPPLER_TOKEN_PROD) instead of minting one: what the start-up
 * checks of a standing token (over-scoped, unreadable, another account) need to see.
 */
export function standingScopes(): string {
  const standing = (ref: string) => (yaml: string) =>
    yaml.replace(/^credential:\n( {2}.*\n)+/m, `credential: ${ref}\n`);
  // serve enforces the fleet's rules: a standing production token needs its documented exception
  const exempt = (yaml: string) =>
    yaml.replace(
      '    max_ttl: 1h\n',
      '    max_ttl: 1h\n    exempt:\n      cloudflare.prod: the start-up checks of a token handed in by a person are tested with a standing token\n      doppler.prod: the start-up checks of a token handed in by a person are tested with a standing token\n',
    );
  return scopesCopy({
    'cloudflare.prod.yaml': standing('env:CLOUDFLARE_API_TOKEN_PROD'),
    'doppler.prod.yaml': standing('env:DOPPLER_TOKEN_PROD'),
    'fleet.yaml': exempt,
  });
}

export interface Served {
  client: Client;
  /** everything the server wrote to stderr so far */
  stderr(): string;
  auditDir: string;
  auditFile: string;
  /** the server process, e.g. to kill it mid-call */
  pid: number;
  call(name: string, args?: Record<string, unknown>, meta?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

export interface ServeArgs {
  connector: string;
  env: string;
  sandbox?: boolean;
  upstream?: string;
  scopes?: string;
  /** extra environment for the server (credentials, FLEET_ACTOR, ...) */
  vars?: Record<string, string>;
  auditDir?: string;
  /** rate windows and idempotency keys (default: a fresh folder) */
  stateDir?: string;
  /** client capabilities, e.g. { elicitation: {} } */
  capabilities?: Record<string, unknown>;
  /** answers elicitation requests (declares the elicitation capability) */
  onElicit?: (params: { message: string }) => Promise<ElicitResult> | ElicitResult;
  /** the bundle instead of the bin, for a test about the bundle */
  door?: 'bin' | 'bundle';
}

/** Spawns `fleet serve ...` (the bin) and connects an SDK Client to it over stdio. */
export async function serve(a: ServeArgs): Promise<Served> {
  const auditDir = a.auditDir ?? tempDir('fleet-audit-');
  const args = ['serve', a.connector, '--env', a.env, '--scopes', a.scopes ?? SCOPES];
  if (a.sandbox) args.push('--sandbox');
  if (a.upstream) args.push('--upstream', a.upstream);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    FLEET_AUDIT_DIR: auditDir,
    FLEET_STATE_DIR: a.stateDir ?? tempDir('fleet-state-'),
    ...a.vars,
  };
  const transport = new StdioClientTransport({ ...fleetCommand(args, a.door), env, stderr: 'pipe', cwd: ROOT });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const capabilities = { ...(a.onElicit ? { elicitation: {} } : {}), ...a.capabilities };
  const client = new Client({ name: 'fleet-test', version: '1.0.0' }, { capabilities });
  if (a.onElicit)
    client.setRequestHandler(ElicitRequestSchema, (req) => a.onElicit!(req.params as { message: string }));
  await client.connect(transport);
  return {
    client,
    stderr: () => err,
    auditDir,
    auditFile: join(auditDir, `${a.connector}.${a.env}.jsonl`),
    pid: transport.pid!,
    call: async (name, args = {}, meta) =>
      (await client.callTool({ name, arguments: args, ...(meta ? { _meta: meta } : {}) }, undefined, {
        timeout: 60_000,
      })) as CallToolResult,
    close: () => client.close(),
  };
}

export const text = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

export function auditRecords(file: string): Record<string, any>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `fleet ...args` (the bin) to completion. */
export function runCli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number; keepStdin?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const cmd = fleetCommand(args);
    const child = spawn(cmd.command, cmd.args, {
      cwd: opts.cwd ?? ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        FLEET_STATE_DIR: tempDir('fleet-state-'),
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else if (!opts.keepStdin) child.stdin.end();
  });
}

export interface RawSession {
  /** every stdout line, parsed (a line that is not JSON fails the session) */
  messages: Record<string, any>[];
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Talks JSON-RPC to `fleet ...args` (the bin) line by line, without the SDK client, so tests can
 * see exactly what reaches stdout. Sends initialize, then each request once the previous answered.
 */
export function rawRpc(
  args: string[],
  requests: Record<string, unknown>[],
  env: Record<string, string> = {},
): Promise<RawSession> {
  return new Promise((resolvePromise, reject) => {
    const cmd = fleetCommand(args);
    const child = spawn(cmd.command, cmd.args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        FLEET_STATE_DIR: tempDir('fleet-state-'),
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const queue = [
      {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'raw-test', version: '1' },
        },
      },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      ...requests.map((r, i) => ({ jsonrpc: '2.0', id: i + 1, ...r })),
    ];
    const send = () => {
      while (queue.length) {
        const next = queue.shift()!;
        child.stdin.write(`${JSON.stringify(next)}\n`);
        if ('id' in next) return;
      }
      child.stdin.end();
    };
    let answered = 0;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const count = stdout.split('\n').filter((l) => l.trim()).length;
      while (answered < count) {
        answered++;
        send();
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const messages = stdout
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l));
      resolvePromise({ messages, stdout, stderr, code });
    });
    send();
  });
}
