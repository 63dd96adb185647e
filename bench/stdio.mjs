// A bare JSON-RPC client over a child's stdio, with timestamps. The bench speaks the protocol
// itself (newline-delimited JSON, as the MCP stdio transport does) so that no client library's
// own start-up or validation is counted in what it measures.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const PROTOCOL = '2025-06-18';
const CLIENT = { name: 'fleet-bench', version: '1.0.0' };

/** Resident memory of a process in MB, from /proc (Linux), or NaN where it cannot be read. */
export function rssMB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export class StdioSession {
  /** @param {{ command: string, args: string[], env?: Record<string,string>, cwd?: string, timeoutMs?: number }} t */
  constructor(t) {
    this.spawnedAt = performance.now();
    this.child = spawn(t.command, t.args, { env: t.env, cwd: t.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.timeoutMs = t.timeoutMs ?? 20_000;
    this.nextId = 1;
    this.waiting = new Map();
    this.stderr = '';
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child.on('error', (e) => this.failAll(e));
    this.child.stderr.on('data', (d) => {
      if (this.stderr.length < 16_384) this.stderr += d.toString();
    });
    let buf = '';
    this.child.stdout.on('data', (d) => {
      const at = performance.now();
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.receive(line, at);
      }
    });
    void this.exited.then(({ code, signal }) =>
      this.failAll(
        new Error(
          `exited (${signal ?? code}) before answering: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        ),
      ),
    );
  }

  receive(line, at) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      this.failAll(new Error(`non-JSON on stdout: ${line.slice(0, 120)}`));
      return;
    }
    const w = msg.id !== undefined ? this.waiting.get(msg.id) : undefined;
    if (!w) return; // notifications and server-to-client requests are not needed here
    this.waiting.delete(msg.id);
    clearTimeout(w.timer);
    if (msg.error) w.reject(new Error(`${w.method}: ${msg.error.message}`));
    else w.resolve({ result: msg.result, at, bytes: Buffer.byteLength(line) });
  }

  failAll(err) {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiting.clear();
  }

  /** Sends a request; resolves with its result, the time its answer arrived and the answer's size. */
  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${method}: no answer in ${this.timeoutMs} ms; stderr: ${this.stderr.trim().slice(-300)}`));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer, method });
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  /** Resolves once the server has written `line` on stderr (a trace line), or rejects after `ms`. @param {string} line @param {number} ms */
  said(line, ms) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const poll = () => {
        if (this.stderr.includes(line)) return resolve(performance.now() - t0);
        if (performance.now() - t0 > ms)
          return reject(new Error(`did not say "${line}" within ${ms} ms: ${this.stderr.trim().slice(-300)}`));
        setTimeout(poll, 5);
      };
      poll();
    });
  }

  notify(method, params) {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}) })}\n`);
  }

  initialize() {
    return this.request('initialize', { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: CLIENT });
  }

  /** Closes stdin (the polite stop every stdio server honours), then kills what is left. */
  async close() {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    const t2 = setTimeout(() => this.child.kill('SIGTERM'), 500);
    await this.exited;
    clearTimeout(timer);
    clearTimeout(t2);
  }
}

/** The longest a fleet instance is given to say its upstream is open before the start counts as failed. */
export const OPEN_TIMEOUT_MS = 20_000;

/**
 * One cold start: spawn → initialize answered → tools/list answered, then RSS of the server
 * process at that instant and again once it has settled, and the tools it listed. Settled: a fleet
 * instance (`target.opens`) opens its upstream after tools/list (the sandbox, and the identity
 * check in a child process) and says so on stderr (FLEET_TRACE_START): its RSS is read once it
 * has; a server that opens nothing before a call is settled at tools/list. Times are in ms from
 * just before spawn().
 */
export async function coldStart(target) {
  const s = new StdioSession(target);
  try {
    const init = await s.initialize();
    s.notify('notifications/initialized');
    const list = await s.request('tools/list', {});
    const rss = rssMB(s.child.pid);
    if (target.opens) await s.said(target.opens, OPEN_TIMEOUT_MS);
    const settled = rssMB(s.child.pid);
    // a fleet instance's own milestones (FLEET_TRACE_START), in ms since its process began
    const at = (what) => Number(new RegExp(`fleet: ${what} at ([\\d.]+) ms`).exec(s.stderr)?.[1] ?? NaN);
    // 'bundle', or the snapshot file it started from, and when
    const first = /fleet: started from the (?:snapshot \(([^)]+)\)|(\w+)) at ([\d.]+) ms/.exec(s.stderr);
    return {
      trace: {
        from: first?.[1] ?? first?.[2],
        main: Number(first?.[3] ?? NaN),
        listed: at('tools/list answered'),
        open: at('upstream open'),
      },
      initMs: init.at - s.spawnedAt,
      listMs: list.at - s.spawnedAt,
      rssMB: rss,
      settledMB: settled,
      tools: list.result.tools,
      listBytes: list.bytes,
    };
  } finally {
    await s.close();
  }
}

/**
 * Spawn → tools/list answered through the SDK's own Client and stdio transport, as a user's client
 * sees it: the Client also compiles every tool's outputSchema on tools/list.
 */
export async function clientStart(target) {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const t0 = performance.now();
  const transport = new StdioClientTransport({
    command: target.command,
    args: target.args,
    env: target.env,
    cwd: target.cwd,
    stderr: 'ignore',
  });
  const client = new Client(CLIENT);
  try {
    await client.connect(transport);
    await client.listTools();
    return performance.now() - t0;
  } finally {
    await client.close().catch(() => {});
  }
}

/** Spawn → exit of a command that speaks no protocol (the bare `node -e 0` floor). */
export async function spawnToExit(target) {
  const t0 = performance.now();
  const child = spawn(target.command, target.args, { env: target.env, stdio: 'ignore' });
  await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  return performance.now() - t0;
}
