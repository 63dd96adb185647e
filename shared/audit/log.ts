// Appends audit records to one JSONL file per instance, shared safely by every process serving
// that instance: appends happen under a proper-lockfile lock, each reads the file's current last
// record to continue the chain. Records queued while a write is under way go out together under
// one lock. A record that cannot be written rejects, and the caller refuses the upstream call.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { lockfile } from '../state/lockfile.js';
import { AuditUnavailable } from '../base/errors.js';
import { GENESIS, open, seal } from './chain.js';

interface Pending {
  record: Record<string, unknown>;
  resolve(): void;
  reject(err: Error): void;
}

const TAIL = 64 * 1024;
const LOCK_WAIT_MS = 15_000;
// The lock is a lease: kept while records keep coming (so a call's intent and outcome, or a burst,
// share one acquisition), released after a short idle spell or a longest hold, so other processes
// serving the instance get their turn. Taking the lock costs ~0.1 ms; writing a record ~3 µs.
const LEASE_IDLE_MS = 2;
const LEASE_MAX_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AuditLog {
  private fd: number | undefined;
  private queue: Pending[] = [];
  private busy = false;
  private lease: { release: () => void; since: number; idle?: NodeJS.Timeout } | undefined;
  /** what this process last knew of the file's end */
  private tail = { size: -1, hash: GENESIS, seq: 0 };

  constructor(readonly file: string) {}

  append(record: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  close(): void {
    this.unlock();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private unlock(): void {
    if (!this.lease) return;
    clearTimeout(this.lease.idle);
    try {
      this.lease.release();
    } catch {
      /* already released or taken over as stale: nothing of ours to undo */
    }
    this.lease = undefined;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0);
      try {
        if (this.lease && Date.now() - this.lease.since > LEASE_MAX_MS) {
          this.unlock();
          await sleep(1); // let a waiting process in
        }
        if (!this.lease) this.lease = { release: await this.lock(), since: Date.now() };
        clearTimeout(this.lease.idle);
        this.write(batch.map((p) => p.record));
        for (const p of batch) p.resolve();
      } catch (e) {
        this.unlock();
        const err = new AuditUnavailable(`audit trail ${this.file} cannot be written: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        for (const p of batch) p.reject(err);
      }
    }
    this.busy = false;
    if (this.lease) {
      this.lease.idle = setTimeout(() => this.unlock(), LEASE_IDLE_MS);
      this.lease.idle.unref();
    }
  }

  private async lock(): Promise<() => void> {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      this.fd = openSync(this.file, 'a+', 0o600);
    }
    const lf = await lockfile();
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 4)) {
      try {
        // Held for a short lease; a lock left by a killed process goes stale after 2 s.
        return lf.lockSync(this.file, { realpath: false, stale: 2000, onCompromised: () => {} });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() > deadline) throw e;
        await sleep(wait);
      }
    }
  }

  private write(records: Record<string, unknown>[]): void {
    const fd = this.fd!;
    const size = fstatSync(fd).size;
    let lead = '';
    if (size !== this.tail.size) lead = this.readTail(fd, size);
    let { hash, seq } = this.tail;
    let out = lead;
    for (const r of records) {
      const sealed = seal(r, ++seq, hash);
      out += sealed.line;
      hash = sealed.hash;
    }
    const bytes = Buffer.from(out);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    this.tail = { size: size + bytes.length, hash, seq };
  }

  /** Finds the last sealed record; returns "\n" when the file ends in a torn (interrupted) line. */
  private readTail(fd: number, size: number): string {
    if (size === 0) {
      this.tail = { size: 0, hash: GENESIS, seq: 0 };
      return '';
    }
    const start = Math.max(0, size - TAIL);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    const lines = text.split('\n');
    const torn = lines.pop() !== '';
    for (let i = lines.length - 1; i >= (start > 0 ? 1 : 0); i--) {
      const o = open(lines[i]!);
      if (o) {
        this.tail = { size, hash: o.hash, seq: o.record.seq };
        return torn ? '\n' : '';
      }
    }
    throw new Error(`no intact record in the last ${TAIL} bytes of ${this.file}; run fleet audit verify`);
  }
}
