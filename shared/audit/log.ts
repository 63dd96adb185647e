// Appends audit records to one JSONL file per instance, shared safely by every process serving
// that instance: appends happen under an OS-level lock (shared/base/oslock.ts: released by the
// kernel when its holder dies, so a killed writer's lock passes to exactly one waiter), each reads
// the file's current last record to continue the chain. Records queued while a write (and its fdatasync) is under way go
// out together under one lock and one fdatasync (group commit): when append() resolves, the record
// is on stable storage. A record that cannot be written rejects, and the caller refuses the call.
//
// The trail must be itself: a regular file owned by this process's user, opened without following
// a link, and it only grows. A trail that shrank, was replaced (another file now at its path), or
// no longer holds the record this process last wrote where it wrote it, breaks the log for good:
// every later append rejects, the reason goes to stderr (onBroken) and into a fresh incident file
// beside the trail.
import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { lockPath, OsLock } from '../base/oslock.js';
import { AuditUnavailable } from '../base/errors.js';
import { emptyHead, open, seal, sealAll, sha256, type Head } from './chain.js';

interface Pending {
  record: Record<string, unknown>;
  durable: boolean;
  resolve(): void;
  reject(err: Error): void;
}

export interface AuditLogOptions {
  /** told once, when the trail is found not to be itself */
  onBroken?: (why: string) => void;
  /** fdatasync each batch before append() resolves (default true; off only to measure its cost) */
  sync?: boolean;
  /** told of every record written, with its position and hash (exports, checkpoints) */
  onRecord?: (record: Record<string, unknown>, head: Head, line: string) => void;
}

const TAIL = 64 * 1024;
const LOCK_WAIT_MS = 15_000;
// The lock is a lease: kept while records keep coming (so a call's intent and outcome, or a burst,
// share one acquisition), released after a short idle spell or a longest hold, so other processes
// serving the instance get their turn. Taking the lock costs ~0.1 ms; writing a record ~3 µs.
const LEASE_IDLE_MS = 2;
const LEASE_MAX_MS = 20;
const SYNC_LATER_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const datasync = promisify(fdatasync);
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** A trail that is not itself: the log stops for good. */
class TrailBroken extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly found: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class AuditLog {
  private fd: number | undefined;
  private identity: { dev: number; ino: number } | undefined;
  private queue: Pending[] = [];
  private busy = false;
  private lease: { since: number; idle?: NodeJS.Timeout } | undefined;
  private osLock: OsLock | undefined;
  /** what this process last knew of the file's end: its size, and the last record's start and head */
  /** where the trail ends, and its last record: where it starts, its head, and its bytes (with the newline) */
  private tail: { size: number; lineStart: number; head: Head; line?: Buffer };
  private brokenWhy: string | undefined;
  private later: NodeJS.Timeout | undefined;
  /** records written and synced by this process */
  written = 0;
  /** fdatasync calls made: fewer than records when concurrent appends share one (group commit) */
  syncs = 0;
  /** the last record of this process known to be on stable storage */
  durable: Head | undefined;

  constructor(
    readonly file: string,
    readonly instance: string,
    private readonly opts: AuditLogOptions = {},
  ) {
    this.tail = { size: -1, lineStart: 0, head: emptyHead(instance) };
  }

  /** Why the trail stopped taking records, if it did (it never starts again in this process). */
  get broken(): string | undefined {
    return this.brokenWhy;
  }

  /**
   * Appends a record. `durable` (the default): resolves once it is on stable storage (fdatasync,
   * one for every record queued meanwhile). Otherwise it resolves once written, and is synced with
   * the next durable record or by a sync at most SYNC_LATER_MS later.
   */
  append(record: Record<string, unknown>, durable = true): Promise<void> {
    if (this.brokenWhy) return Promise.reject(new AuditUnavailable(this.brokenWhy));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, durable, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async sync(): Promise<void> {
    clearTimeout(this.later);
    this.later = undefined;
    await datasync(this.fd!);
    this.syncs++;
  }

  /** Records that need not wait are still synced soon: a power loss loses at most SYNC_LATER_MS of them. */
  private syncLater(head: Head | undefined): void {
    if (this.later) return;
    this.later = setTimeout(() => {
      this.later = undefined;
      if (this.fd === undefined) return;
      datasync(this.fd).then(
        () => {
          this.syncs++;
          if (head && (!this.durable || head.seq > this.durable.seq)) this.durable = head;
        },
        () => {},
      );
    }, SYNC_LATER_MS);
    this.later.unref();
  }

  close(): void {
    clearTimeout(this.later);
    if (this.fd !== undefined && this.later !== undefined) {
      try {
        fdatasyncSync(this.fd);
      } catch {
        /* closing anyway */
      }
    }
    this.later = undefined;
    this.unlock();
    this.osLock?.close();
    this.osLock = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private unlock(): void {
    if (!this.lease) return;
    clearTimeout(this.lease.idle);
    this.osLock?.release();
    this.lease = undefined;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0);
      try {
        if (this.brokenWhy) throw new AuditUnavailable(this.brokenWhy);
        if (this.lease && Date.now() - this.lease.since > LEASE_MAX_MS) {
          this.unlock();
          await sleep(1); // let a waiting process in
        }
        if (!this.lease) {
          await this.lock();
          this.lease = { since: Date.now() };
        }
        clearTimeout(this.lease.idle);
        const written = this.write(batch.map((p) => p.record));
        const last = written[written.length - 1]?.[1];
        if (this.opts.sync !== false && batch.some((p) => p.durable)) {
          // the lease is kept through the sync, so the call's outcome that follows within the idle
          // spell appends without taking the lock again (taking it costs more than the sync on a
          // quiet disk); a lease held LEASE_MAX_MS is given up for the sync instead, so other
          // processes append while it runs (an fdatasync by anyone flushes every write made before it)
          if (Date.now() - this.lease.since > LEASE_MAX_MS) this.unlock();
          await this.sync();
          if (last) this.durable = last;
        } else if (this.opts.sync !== false) this.syncLater(last);
        else if (last) this.durable = last;
        this.written += batch.length;
        for (const p of batch) p.resolve();
        if (this.opts.onRecord) for (const [r, h, l] of written) this.opts.onRecord(r, h, l);
      } catch (e) {
        this.unlock();
        if (e instanceof TrailBroken) this.breakTrail(e);
        const err =
          e instanceof AuditUnavailable
            ? e
            : this.brokenWhy
              ? new AuditUnavailable(this.brokenWhy)
              : new AuditUnavailable(
                  `audit trail ${this.file} cannot be written: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
                );
        for (const p of batch) p.reject(err);
      }
    }
    this.busy = false;
    if (this.lease) {
      this.lease.idle = setTimeout(() => this.unlock(), LEASE_IDLE_MS);
      this.lease.idle.unref();
    }
  }

  /** Takes the trail's lock (waits for another process's lease; a dead holder's is free at once). */
  private async lock(): Promise<void> {
    if (this.fd === undefined) this.openTrail();
    this.osLock ??= new OsLock(lockPath(this.file));
    await this.osLock.take(LOCK_WAIT_MS);
  }

  /** Opens the trail without following a link; it must be a regular file owned by this user. */
  private openTrail(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    let fd: number;
    try {
      fd = openSync(this.file, OPEN_FLAGS, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP')
        throw new AuditUnavailable(
          `audit trail ${this.file} cannot be written: ELOOP (it is a symbolic link; the trail must be a regular file)`,
        );
      throw e;
    }
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    const wrong = !st.isFile()
      ? 'it is not a regular file'
      : uid !== undefined && st.uid !== uid
        ? `it is owned by uid ${st.uid}, not by this process's user (uid ${uid})`
        : undefined;
    if (wrong) {
      closeSync(fd);
      throw new AuditUnavailable(
        `audit trail ${this.file} cannot be written: ${wrong}; the trail must be a regular file owned by the instance's user`,
      );
    }
    this.fd = fd;
    this.identity = { dev: st.dev, ino: st.ino };
  }

  /** Writes the records after the file's current last record; returns each with its head. */
  private write(records: Record<string, unknown>[]): [Record<string, unknown>, Head, string][] {
    const fd = this.fd!;
    const size = this.checkIdentity(fd);
    const lead: Record<string, unknown>[] = [];
    if (size !== this.tail.size) {
      const fragment = this.readTail(fd, size);
      if (fragment) lead.push(this.recovery(fd, fragment));
    }
    const all = [...lead, ...records];
    const out: [Record<string, unknown>, Head, string][] = [];
    let head = this.tail.head;
    let text = '';
    let lineStart = this.tail.size;
    for (const r of all) {
      const s = seal(r, head.seq + 1, head.hash);
      head = { seq: head.seq + 1, hash: s.hash };
      lineStart = this.tail.size + Buffer.byteLength(text);
      text += s.line;
      out.push([r, head, s.line]);
    }
    const bytes = Buffer.from(text);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    this.tail = {
      size: this.tail.size + bytes.length,
      lineStart,
      head,
      line: bytes.subarray(lineStart - this.tail.size),
    };
    return out.slice(lead.length);
  }

  /** The file at the path is still the one open, and still holds what this process last knew. */
  private checkIdentity(fd: number): number {
    let at;
    try {
      at = lstatSync(this.file);
    } catch (e) {
      throw new TrailBroken(
        'removed',
        `audit trail ${this.file} was removed or renamed under the running server (${(e as NodeJS.ErrnoException).code})`,
      );
    }
    if (at.dev !== this.identity!.dev || at.ino !== this.identity!.ino || !at.isFile()) {
      throw new TrailBroken(
        'replaced',
        `audit trail ${this.file} was replaced under the running server (another ${at.isSymbolicLink() ? 'link' : 'file'} is at its path)`,
        { dev: at.dev, ino: at.ino },
      );
    }
    // the same inode as the open descriptor (dev and ino checked above), so its size is the descriptor's
    const known = this.tail;
    if (known.size < 0) return at.size;
    if (at.size < known.size) {
      throw new TrailBroken(
        'shrank',
        `audit trail ${this.file} shrank under the running server from ${known.size} to ${at.size} bytes (record ${known.head.seq} of this process is gone)`,
        { size: at.size },
      );
    }
    if (known.head.seq > 0) {
      // the record this process last wrote (or found last) must still be where it was
      const len = known.size - known.lineStart;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, known.lineStart);
      // its bytes as this process wrote them, or read them and verified (none kept: it did not verify)
      if (!known.line?.equals(buf)) {
        throw new TrailBroken(
          'changed',
          `audit trail ${this.file} changed under the running server: record ${known.head.seq} is no longer at byte ${known.lineStart}`,
          { size: at.size },
        );
      }
    }
    return at.size;
  }

  /** Finds the file's last sealed record; returns the torn fragment after it, if any. */
  private readTail(fd: number, size: number): string | undefined {
    if (size === 0) {
      this.tail = { size: 0, lineStart: 0, head: emptyHead(this.instance) };
      return undefined;
    }
    const start = Math.max(0, size - TAIL);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lastNl = buf.lastIndexOf(0x0a);
    const fragment = lastNl + 1 < buf.length ? buf.subarray(lastNl + 1).toString('utf8') : undefined;
    if (lastNl < 0 && start === 0) {
      // nothing but a torn first line
      this.tail = { size: 0, lineStart: 0, head: emptyHead(this.instance) };
      return fragment;
    }
    const complete = lastNl < 0 ? '' : buf.toString('utf8', 0, lastNl);
    const lines = complete.split('\n');
    let offset = start + (lastNl < 0 ? 0 : lastNl + 1);
    // only the last complete line is judged: it is the chain's head, or the trail is broken
    const i = lines.length - 1;
    if (i >= (start > 0 ? 1 : 0)) {
      offset -= Buffer.byteLength(lines[i]!) + 1;
      const o = open(lines[i]!);
      if (!o)
        throw new TrailBroken(
          'changed',
          `audit trail ${this.file} ends in a line that is not a sealed record (line ending at byte ${offset + Buffer.byteLength(lines[i]!) + 1}); run fleet audit verify`,
        );
      const inst = o.record.instance;
      if (inst !== undefined && inst !== this.instance)
        throw new TrailBroken(
          'foreign',
          `audit trail ${this.file} holds records of instance ${JSON.stringify(inst)}, not ${this.instance}`,
        );
      this.tail = {
        size: size - (fragment ? Buffer.byteLength(fragment) : 0),
        lineStart: offset,
        head: { seq: o.record.seq, hash: o.hash },
        // kept only once it checks out: one that does not is caught, as before, by the next write
        ...(sha256(o.body) === o.hash ? { line: Buffer.from(`${lines[i]}\n`) } : {}),
      };
      return fragment;
    }
    throw new TrailBroken(
      'changed',
      `no intact record in the last ${TAIL} bytes of ${this.file}; run fleet audit verify`,
    );
  }

  /**
   * A write cut off by a crash left a fragment after the last record: it is cut off the file (only
   * a final line may be torn, and this one is no longer final) and a sealed record of it, with its
   * length, hash and text, takes its place. Its writer never saw its append resolve, so no call
   * went on to the upstream on the strength of it.
   */
  private recovery(fd: number, fragment: string): Record<string, unknown> {
    ftruncateSync(fd, this.tail.size);
    return {
      v: 1,
      time: new Date().toISOString(),
      instance: this.instance,
      phase: 'recovery',
      torn: { bytes: Buffer.byteLength(fragment), sha256: sha256(fragment), text: fragment.slice(0, 4096) },
    };
  }

  private breakTrail(e: TrailBroken): void {
    if (this.brokenWhy) return;
    const incident = join(
      dirname(this.file),
      `${basename(this.file, '.jsonl')}.incident-${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}.jsonl`,
    );
    let where = `recorded in ${incident}`;
    try {
      const record = {
        v: 1,
        time: new Date().toISOString(),
        instance: this.instance,
        phase: 'incident',
        kind: e.kind,
        why: e.message,
        trail: this.file,
        known: {
          size: this.tail.size,
          seq: this.tail.head.seq,
          hash: this.tail.head.hash,
          dev: this.identity?.dev,
          ino: this.identity?.ino,
        },
        found: e.found,
        pid: process.pid,
      };
      const fd = openSync(
        incident,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        writeSync(fd, sealAll([record], emptyHead(this.instance)).text);
        fsyncQuiet(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      where = `and the incident file ${incident} could not be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
    this.brokenWhy = `${e.message}; every call is refused until the trail is examined (fleet audit verify) and the server restarted; ${where}`;
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    this.opts.onBroken?.(this.brokenWhy);
  }
}

function fsyncQuiet(fd: number): void {
  try {
    fdatasyncSync(fd);
  } catch {
    /* the incident record is best effort beyond this point */
  }
}
