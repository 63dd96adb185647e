// A raw stdio session with `fleet serve`: bytes in, every stdout line kept, answers awaited by id.
// No SDK client in between, so the suites can send what no well-behaved client would.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { fleetCommand, ROOT, tempDir } from '../helpers.js';

export interface Raw {
  child: ChildProcessWithoutNullStreams;
  /** every stdout line, as received */
  lines: string[];
  stderr(): string;
  auditDir: string;
  write(data: string | Buffer): void;
  send(msg: Record<string, unknown>): void;
  /** the answer with this id (waits for it) */
  answer(id: string | number, timeoutMs?: number): Promise<Record<string, any>>;
  /** initialize + initialized */
  init(): Promise<void>;
  exited: Promise<number | null>;
  close(): Promise<number | null>;
}

export function rawServe(args: string[], env: Record<string, string> = {}): Raw {
  const auditDir = env.FLEET_AUDIT_DIR ?? tempDir('fleet-raw-audit-');
  const cmd = fleetCommand(['serve', ...args]);
  const child = spawn(cmd.command, cmd.args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      FLEET_STATE_DIR: tempDir('fleet-state-'),
      FLEET_AUDIT_DIR: auditDir,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiting = new Map<string, (m: Record<string, any>) => void>();
  const seen = new Map<string, Record<string, any>>();
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      try {
        const parsed = JSON.parse(l);
        // a batch's answer is an array: each member is the answer to its own id
        for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
          if (m && 'id' in m && ('result' in m || 'error' in m)) {
            const k = JSON.stringify(m.id);
            seen.set(k, m);
            waiting.get(k)?.(m);
          }
        }
      } catch {
        /* the suites check every line separately */
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.on('error', () => {});
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const raw: Raw = {
    child,
    lines,
    stderr: () => err,
    auditDir,
    write: (data) => void child.stdin.write(data),
    send: (msg) => void child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`),
    answer: (id, timeoutMs = 15_000) => {
      const k = JSON.stringify(id);
      const got = seen.get(k);
      if (got) return Promise.resolve(got);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no answer to id ${k} within ${timeoutMs} ms; stderr: ${err.slice(-500)}`)),
          timeoutMs,
        );
        waiting.set(k, (m) => {
          clearTimeout(t);
          resolve(m);
        });
      });
    },
    init: async () => {
      raw.send({
        id: 'init',
        method: 'initialize',
        params: {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'hardening-raw', version: '1' },
        },
      });
      await raw.answer('init');
      raw.send({ method: 'notifications/initialized' });
    },
    exited,
    close: async () => {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  return raw;
}

/** True when every stdout line is one JSON-RPC 2.0 message. */
export function onlyJsonRpc(lines: string[]): string[] {
  return lines.filter((l) => {
    try {
      const m = JSON.parse(l);
      return !(m && m.jsonrpc === '2.0');
    } catch {
      return true;
    }
  });
}
