// Signed checkpoints of an audit trail: a signed-note-like text (after Go's golang.org/x/mod/sumdb/note)
// naming the instance, how many records the trail held and the hash of the last one, signed with
// Ed25519 (node:crypto). Written every N records, every T minutes and at shutdown to places the
// instance cannot rewrite (a file outside the trail's folder, owned by someone else or append-only;
// the approvals channel in Slack, posted by the approvals identity; the OpenTelemetry export), they let `fleet audit verify --checkpoints` tell a cut tail, an emptied
// file or a re-chained trail from an intact one: the trail must reach every checkpoint and agree.
//
//   fleet-audit/slack.prod          origin: the instance
//   1234                            records in the trail (the last one's seq)
//   9f86d0…                         that record's hash (hex)
//   2026-12-01T13:50:00.000Z        when
//                                   (blank line)
//   — fleet-audit <base64(key id (4 bytes) ‖ signature (64 bytes))>
//
// The signature covers the four body lines, each ending in "\n". The key id is the first 4 bytes
// of sha256(name "\n" 0x01 public-key), as in a note's verifier key.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { closeSync, constants, existsSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { durationSchema } from '../base/duration.js';
import { fromDoc, readYaml } from '../base/yaml.js';
import { oncePer } from '../base/memo.js';
import type { Head } from './chain.js';

export const ORIGIN_PREFIX = 'fleet-audit/';
const DASH = '\u2014';

export interface Checkpoint {
  instance: string;
  seq: number;
  hash: string;
  time: string;
}

export interface PublicKeyRef {
  name: string;
  /** the raw 32-byte Ed25519 public key, base64 */
  public: string;
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyObject(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new Error('an Ed25519 public key is 32 bytes (base64)');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): string {
  const der = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_PREFIX.length).toString('base64');
}

export function keyId(name: string, rawPublic: string): Buffer {
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([1]), Buffer.from(rawPublic, 'base64')]))
    .digest()
    .subarray(0, 4);
}

/** A new key pair: the private key as PKCS#8 PEM (keep it away from the trail), the public raw base64. */
export function generateCheckpointKey(): { privatePem: string; public: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    public: rawPublicKey(publicKey),
  };
}

export function loadPrivateKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`the checkpoint key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

const body = (c: Checkpoint) => `${ORIGIN_PREFIX}${c.instance}\n${c.seq}\n${c.hash}\n${c.time}\n`;

/** The signed text of a checkpoint, ending in "\n". */
export function formatCheckpoint(c: Checkpoint, key: { name: string; privateKey: KeyObject }): string {
  const text = body(c);
  const sig = sign(null, Buffer.from(text), key.privateKey);
  const id = keyId(key.name, rawPublicKey(key.privateKey));
  return `${text}\n${DASH} ${key.name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
}

export interface ParsedCheckpoint extends Checkpoint {
  /** 1-based line where the note starts in its source */
  line: number;
  /** whether a signature by one of the given keys verifies */
  signed: boolean;
  /** why not, when it is not */
  problem?: string;
}

/**
 * Reads every note in a text (notes follow one another; blank lines between them are allowed) and
 * checks each one's signatures against the given keys. A note that cannot be read is returned
 * with a problem, never skipped silently.
 */
export function parseCheckpoints(text: string, keys: PublicKeyRef[]): ParsedCheckpoint[] {
  const lines = text.split('\n');
  const out: ParsedCheckpoint[] = [];
  const verifiers = keys.map((k) => ({ ...k, id: keyId(k.name, k.public), key: publicKeyObject(k.public) }));
  let i = 0;
  while (i < lines.length) {
    if (lines[i] === '') {
      i++;
      continue;
    }
    const start = i + 1;
    const [origin, seqText, hash, time] = lines.slice(i, i + 4);
    i += 4;
    const c: ParsedCheckpoint = {
      instance: '',
      seq: 0,
      hash: hash ?? '',
      time: time ?? '',
      line: start,
      signed: false,
    };
    out.push(c);
    if (
      !origin?.startsWith(ORIGIN_PREFIX) ||
      !/^[1-9]\d{0,15}$/.test(seqText ?? '') ||
      !/^[0-9a-f]{64}$/.test(hash ?? '') ||
      lines[i] !== ''
    ) {
      c.problem = 'not a fleet audit checkpoint (origin, record count, hash, time, blank line, signatures)';
      while (i < lines.length && lines[i] !== '') i++;
      continue;
    }
    c.instance = origin.slice(ORIGIN_PREFIX.length);
    c.seq = Number(seqText);
    i++;
    const text = `${origin}\n${seqText}\n${hash}\n${time}\n`;
    let sigs = 0;
    while (i < lines.length && lines[i]!.startsWith(`${DASH} `)) {
      sigs++;
      const [, name, b64] = lines[i]!.split(' ');
      i++;
      const v = verifiers.find((k) => k.name === name);
      const raw = Buffer.from(b64 ?? '', 'base64');
      if (!v || raw.length !== 68 || !raw.subarray(0, 4).equals(v.id)) continue;
      if (verify(null, Buffer.from(text), v.key, raw.subarray(4))) c.signed = true;
    }
    if (!c.signed)
      c.problem = sigs
        ? `no signature verifies with the checkpoint key${keys.length === 1 ? ` ${keys[0]!.name}` : 's'} named in fleet.yaml: forged or altered`
        : 'unsigned';
  }
  return out;
}

export interface CheckpointSink {
  name: string;
  write(note: string, c: Checkpoint): void;
}

/** Appends notes to a file (created if missing, never through a link), each synced. */
export function fileSink(file: string): CheckpointSink {
  return {
    name: file,
    write(note) {
      const fd = openSync(
        file,
        constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
        0o644,
      );
      try {
        const bytes = Buffer.from(`${note}\n`);
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}

export interface CheckpointerOptions {
  instance: string;
  key: { name: string; privateKey: KeyObject };
  sinks: CheckpointSink[];
  /** a checkpoint after this many records */
  every: number;
  /** and at least this often while records come (ms) */
  intervalMs: number;
  onError(message: string): void;
  now?: () => Date;
}

/** Signs the trail's head every N records, every T ms (when it moved) and at close. */
export class Checkpointer {
  private head: Head | undefined;
  private signed = 0;
  private since = 0;
  private timer: NodeJS.Timeout | undefined;
  /** checkpoints written, for tests and the bench */
  written = 0;

  constructor(private readonly o: CheckpointerOptions) {
    this.timer = setInterval(() => this.checkpoint(), o.intervalMs);
    this.timer.unref();
  }

  /**
   * Told of every record this process wrote (in order), with its position and hash. `now`: the
   * record is evidence another instance will rely on (a promotion's), signed at once.
   */
  record(head: Head, now = false): void {
    if (!this.head || head.seq > this.head.seq) this.head = head;
    if (++this.since >= this.o.every || now) this.checkpoint();
  }

  checkpoint(): void {
    const head = this.head;
    if (!head || head.seq === this.signed) return;
    this.since = 0;
    this.signed = head.seq;
    const c: Checkpoint = {
      instance: this.o.instance,
      seq: head.seq,
      hash: head.hash,
      time: (this.o.now?.() ?? new Date()).toISOString(),
    };
    const note = formatCheckpoint(c, this.o.key);
    for (const sink of this.o.sinks) {
      try {
        sink.write(note, c);
      } catch (e) {
        this.o.onError(
          `audit checkpoint ${c.seq} could not be written to ${sink.name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    }
    this.written++;
  }

  close(): void {
    clearInterval(this.timer);
    this.checkpoint();
  }
}

// ---- fleet.yaml `checkpoints:` ------------------------------------------------------------------

/** `checkpoints:` in scopes/fleet.yaml: the public key checkpoints are verified with, and how often. */
const checkpointsBase = {
  key: z
    .strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9._+-]{1,64}$/, 'a key name is letters, digits and . _ + -')
        .describe("the signing key's name, written in each checkpoint"),
      public: z
        .string()
        .refine(
          (s) => Buffer.from(s, 'base64').length === 32,
          'the Ed25519 public key, 32 bytes in base64 (fleet audit keygen prints it)',
        )
        .describe('the Ed25519 public key in base64 (fleet audit keygen prints it)'),
    })
    .describe('the key checkpoints are verified with'),
  every: z.number().int().min(1).default(1000).describe('sign a checkpoint every this many records (default 1000)'),
  interval: durationSchema('and at least this often while records arrive (default 10m)').default('10m'),
};

/** A place checkpoints may also be posted to, as its block under `checkpoints:` (a connector's CheckpointSinkKind). */
export interface SinkBlock {
  name: string;
  /** the block's schema (optional: a sink is on when its block is there) */
  schema: z.ZodType;
}

/** `checkpoints:` with the blocks of the sinks the fleet's connectors contribute. */
export function checkpointsSchema(sinks: readonly SinkBlock[] = []) {
  return z.strictObject({ ...checkpointsBase, ...Object.fromEntries(sinks.map((s) => [s.name, s.schema])) });
}
export type CheckpointsConfig = z.infer<ReturnType<typeof checkpointsSchema>> & { [sink: string]: unknown };

/** checkpointsSchema, built once per list of sinks (the connectors' list is one array, memoised) */
const checkpointsSchemaOf = oncePer((sinks: readonly SinkBlock[]) => checkpointsSchema(sinks));

/** Reads the checkpoints block of a fleet.yaml (undefined when it has none); errors name file:line. */
export function readCheckpointsConfig(
  fleetFile: string,
  sinks: readonly SinkBlock[] = [],
): CheckpointsConfig | undefined {
  if (!existsSync(fleetFile)) return undefined;
  const doc = readYaml(readFileSync(fleetFile, 'utf8'), fleetFile);
  const raw = (doc.data as Record<string, unknown> | null)?.checkpoints;
  if (raw === undefined) return undefined;
  const schema = checkpointsSchemaOf(sinks);
  const parsed = fromDoc(doc, schema, () => schema.safeParse(raw));
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const path = ['checkpoints', ...i.path.map(String)].join('.');
    throw new Error(`${fleetFile}:${doc.line(path)}: ${path}: ${i.message}`);
  }
  return parsed.data;
}
