// Replay-safe retries: a write carrying `_meta["fleet/idempotency-key"]` runs at most once per
// instance. Keys live in a locked state file, so they hold across processes and restarts. A key
// whose first call died mid-flight stays "unknown" and is never run again: the upstream may or
// may not have acted, and only a person can tell.
import { readFileSync } from 'node:fs';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { updateState } from '../state/files.js';

export const KEY_META = 'fleet/idempotency-key';
const KEEP_MS = 7 * 86_400_000;

interface Entry {
  args: string;
  state: 'running' | 'done';
  pid: number;
  /** the process's start time, so a recycled pid is not mistaken for the one that claimed the key */
  start: string | null;
  at: number;
  awaitingApproval?: boolean;
  result?: CallToolResult;
}
type Keys = Record<string, Entry>;

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; result: CallToolResult }
  | { kind: 'conflict' }
  | { kind: 'running'; awaitingApproval: boolean }
  | { kind: 'unknown' };

function started(pid: number): string | null {
  try {
    // field 22 of /proc/<pid>/stat, after the parenthesised command name
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
let me: { pid: number; start: string | null } | undefined;
const self = () => (me ??= { pid: process.pid, start: started(process.pid) });

function alive(pid: number, start: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return start === null || started(pid) === start;
}

export class KeyStore {
  constructor(readonly file: string) {}

  claim(key: string, args: string, now = Date.now()): Promise<Claim> {
    return updateState<Keys, Claim>(this.file, () => ({}), (keys) => {
      for (const [k, e] of Object.entries(keys)) if (e.at < now - KEEP_MS) delete keys[k];
      const e = keys[key];
      if (!e) {
        keys[key] = { args, state: 'running', ...self(), at: now };
        return { kind: 'claimed' };
      }
      if (e.args !== args) return { kind: 'conflict' };
      if (e.state === 'done') return { kind: 'replay', result: e.result! };
      return alive(e.pid, e.start) ? { kind: 'running', awaitingApproval: !!e.awaitingApproval } : { kind: 'unknown' };
    });
  }

  private update(key: string, fn: (e: Entry, keys: Keys) => void): Promise<void> {
    return updateState<Keys, void>(this.file, () => ({}), (keys) => {
      const e = keys[key];
      if (e) fn(e, keys);
    });
  }

  awaiting(key: string, waiting: boolean): Promise<void> {
    return this.update(key, (e) => (e.awaitingApproval = waiting));
  }

  done(key: string, result: CallToolResult): Promise<void> {
    return this.update(key, (e) => Object.assign(e, { state: 'done', result, awaitingApproval: false }));
  }

  /** Forgets a key whose call certainly did nothing upstream, so a retry may run it. */
  release(key: string): Promise<void> {
    return this.update(key, (_e, keys) => delete keys[key]);
  }
}
