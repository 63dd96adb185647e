// Every audit record and every checkpoint leaves the machine as an OpenTelemetry log record over
// OTLP/HTTP, to the collector the standard OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT / _HEADERS variables
// name. Off the call path: a record is handed over after it is on disk, into a bounded queue that a
// background batch drains; when the queue is full, or the collector fails a batch, records are
// dropped and counted (stderr, and an `export` record in the trail at shutdown). The local trail
// stays the source of truth: the export can lose records, never hold a call. A dropped record is
// owed (./owed.ts: its seq, persisted, bounded): once the collector accepts a batch again — or on a
// retry every 30 export intervals, or at the next start — the owed records are read from the trail
// and sent again, marked fleet.audit.resent.
//
// Attributes follow the MCP semantic conventions where they fit (mcp.method.name, mcp.protocol.version,
// jsonrpc.request.id, error.type, gen_ai.tool.name, gen_ai.operation.name; service.version and
// service.instance.id on the resource) plus the fleet's own (fleet.audit.seq, fleet.audit.hash, decision, rule,
// actor, client); the body is the sealed line itself, so a collector can check its hash. A
// `traceparent` the client sent in `_meta` (or, over HTTP, as the W3C header) is kept in the record and
// becomes the log's trace context.
import { randomUUID } from 'node:crypto';
import type { Head } from './chain.js';
import type { Checkpoint, CheckpointSink } from './checkpoint.js';
import { countOf, inRanges, type OwedFile } from './owed.js';

export interface AuditExport extends CheckpointSink {
  /** told of each record after it is on disk, with its line */
  record(record: Record<string, unknown>, head: Head, line: string): void;
  /** records lost: queue full or batch refused by the collector */
  readonly dropped: number;
  /** records the collector accepted */
  readonly exported: number;
  /** records owed to the collector now, to be re-sent from the trail (0 without a resend store) */
  owed(): number;
  /** flushes what it can within the time given, then stops */
  shutdown(timeoutMs?: number): Promise<void>;
}

export const MAX_QUEUE = 2048;
const BATCH = 512;

/** Whether the environment names an OTLP collector for logs. */
export function otlpConfigured(env: NodeJS.ProcessEnv): boolean {
  return (
    !!(env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT) &&
    env.OTEL_LOGS_EXPORTER !== 'none' &&
    env.OTEL_SDK_DISABLED !== 'true'
  );
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C traceparent, when well-formed (not all zeros); undefined otherwise. */
export function parseTraceparent(v: unknown): { traceId: string; spanId: string; traceFlags: number } | undefined {
  const m = typeof v === 'string' ? TRACEPARENT.exec(v) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) };
}

type Attr = string | number | boolean;

/** The log attributes of one audit record. */
export function recordAttributes(r: Record<string, any>, head: Head): Record<string, Attr> {
  const failed = r.outcome === 'error' || ['deny', 'error', 'failed'].includes(r.decision);
  const out: Record<string, Attr | undefined> = {
    'mcp.method.name': r.tool ? 'tools/call' : undefined,
    'mcp.protocol.version': r.protocol_version,
    'jsonrpc.request.id': r.request_id === undefined ? undefined : String(r.request_id),
    // the upstream's error code, or tool_error for a call the fleet refused (the MCP conventions' value for isError)
    'error.type': failed ? (typeof r.error === 'string' ? r.error : 'tool_error') : undefined,
    'gen_ai.tool.name': r.tool,
    'gen_ai.operation.name': r.tool ? 'execute_tool' : undefined,
    'fleet.instance': r.instance,
    'fleet.audit.seq': head.seq,
    'fleet.audit.hash': head.hash,
    'fleet.audit.phase': r.phase,
    'fleet.call': r.call,
    'fleet.decision': r.decision,
    'fleet.rule': r.rule,
    'fleet.outcome': r.outcome,
    'fleet.error': r.error,
    'fleet.actor': r.actor,
    'fleet.actor_via': r.actor_via,
    'fleet.thread': r.thread,
    'fleet.client':
      r.client && typeof r.client === 'object'
        ? `${r.client.name}@${r.client.version}`
        : typeof r.client === 'string'
          ? r.client
          : undefined,
    'fleet.client_id': r.client_id,
  };
  return Object.fromEntries(
    Object.entries(out).filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object'),
  ) as Record<string, Attr>;
}

/** Where owed records are kept, and the trail they are re-sent from. */
export interface Resend {
  owed: OwedFile;
  lines: () => AsyncIterable<string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens the OTLP log export (the OpenTelemetry packages load only here, when a collector is named).
 * `warn` is told of losses, at most once per power of two.
 */
export async function openOtlpExport(
  instance: string,
  env: NodeJS.ProcessEnv,
  warn: (m: string) => void,
  service: { version?: string } = {},
  resend?: Resend,
): Promise<AuditExport> {
  const { LoggerProvider, BatchLogRecordProcessor, OTLPLogExporter, resourceFromAttributes, SeverityNumber, ...api } =
    await import('./otlp-sdk.js');
  let dropped = 0;
  let exported = 0;
  let queued = 0;
  let warnedAt = 0;
  const lose = (n: number, why: string) => {
    dropped += n;
    if (dropped >= Math.max(1, warnedAt * 2)) {
      warnedAt = dropped;
      warn(
        `audit export: ${dropped} record(s) not delivered to the OTLP collector so far (${why}); the local trail has them all`,
      );
    }
  };
  const delay = Number(env.OTEL_BLRP_SCHEDULE_DELAY ?? 1000);
  /** the seqs of records queued and not yet answered for */
  const pending = new Set<number>();
  const seqOf = (l: { eventName?: string; attributes: Record<string, unknown> }) =>
    l.eventName === 'fleet.audit.record' ? Number(l.attributes['fleet.audit.seq']) : undefined;
  let maybeOwed = !!resend?.owed.read().length;
  const owe = (seqs: Iterable<number>) => {
    if (!resend) return;
    maybeOwed = true;
    resend.owed.add(seqs).then(
      (gaveUp) =>
        gaveUp &&
        warn(
          `audit export: ${gaveUp} owed record(s) given up on (more than the bound are owed); the local trail has them`,
        ),
      (e: Error) =>
        warn(`audit export: could not keep what is owed to the collector in ${resend.owed.file}: ${e.message}`),
    );
  };
  const inner = new OTLPLogExporter({
    timeoutMillis: Number(env.OTEL_EXPORTER_OTLP_LOGS_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? 5000),
  });
  // counts what the collector accepted and what it refused, around the official exporter
  const exporter: typeof inner = Object.assign(Object.create(inner) as typeof inner, {
    export(logs: Parameters<typeof inner.export>[0], done: Parameters<typeof inner.export>[1]) {
      inner.export(logs, (result) => {
        queued -= logs.length;
        const seqs = logs.map(seqOf).filter((n): n is number => n !== undefined);
        for (const n of seqs) pending.delete(n);
        if (result.code === 0) {
          exported += logs.length;
          // the collector answers again: what it missed is sent now
          if (maybeOwed) void resendOwed();
        } else {
          lose(logs.length, result.error?.message ?? 'the collector refused the batch');
          owe(seqs);
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush(),
  });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME || 'fleet',
      ...(service.version ? { 'service.version': service.version } : {}),
      // this process: one replica among several of the instance
      'service.instance.id': randomUUID(),
      'fleet.instance': instance,
    }),
    processors: [
      new BatchLogRecordProcessor({
        exporter,
        maxQueueSize: MAX_QUEUE,
        maxExportBatchSize: BATCH,
        scheduledDelayMillis: delay,
        exportTimeoutMillis: Number(env.OTEL_BLRP_EXPORT_TIMEOUT ?? 10_000),
      }),
    ],
  });
  const logger = provider.getLogger('fleet.audit');
  const emit = (rec: Parameters<typeof logger.emit>[0], seq?: number) => {
    if (queued >= MAX_QUEUE) {
      lose(1, 'the export queue is full');
      if (seq !== undefined) owe([seq]);
      return;
    }
    queued++;
    if (seq !== undefined) pending.add(seq);
    logger.emit(rec);
  };
  const send = (r: Record<string, any>, head: Head, line: string, resent = false) => {
    const tp = parseTraceparent(r.traceparent);
    const context = tp ? api.trace.setSpanContext(api.ROOT_CONTEXT, { ...tp, isRemote: true }) : undefined;
    const deny = r.decision === 'deny' || r.outcome === 'error';
    emit(
      {
        eventName: 'fleet.audit.record',
        severityNumber: deny ? SeverityNumber.WARN : SeverityNumber.INFO,
        severityText: deny ? 'WARN' : 'INFO',
        body: line.replace(/\n$/, ''),
        attributes: { ...recordAttributes(r, head), ...(resent ? { 'fleet.audit.resent': true } : {}) },
        ...(typeof r.time === 'string' ? { timestamp: new Date(r.time) } : {}),
        ...(context ? { context } : {}),
      },
      head.seq,
    );
  };
  let stopped = false;
  let resending = false;
  /** Takes what is owed and sends it again from the trail; what is not found or not queued stays owed. */
  const resendOwed = async () => {
    if (!resend || resending || stopped) return;
    resending = true;
    const left = new Set<number>();
    try {
      const taken = await resend.owed.take();
      if (!taken.length) {
        maybeOwed = false;
        return;
      }
      for (const [a, b] of taken) for (let n = a; n <= b; n++) left.add(n);
      for await (const line of resend.lines()) {
        if (stopped || !left.size) break;
        // a sealed line ends with its seq, prev and hash (./chain.ts): found without parsing every line
        const seq = Number(/"seq":(\d+),"prev":"[0-9a-f]{64}","hash":"[0-9a-f]{64}"}\n?$/.exec(line)?.[1]);
        if (!inRanges(taken, seq)) continue;
        const r = JSON.parse(line) as Record<string, any>;
        if (r.seq !== seq) continue;
        // room in the queue first: a re-send must not crowd out the records of calls being made now
        while (queued > MAX_QUEUE - 2 * BATCH && !stopped) await sleep(delay);
        if (stopped) break;
        left.delete(seq);
        send(r, { seq, hash: String(r.hash) }, line, true);
      }
    } catch (e) {
      warn(`audit export: could not re-send what the collector missed from the trail: ${(e as Error).message}`);
    } finally {
      owe(left);
      resending = false;
    }
  };
  // a start that finds records owed, and a collector that stays down, retry on their own
  const retry = resend
    ? setInterval(() => maybeOwed && !pending.size && void resendOwed(), Math.min(60_000, Math.max(1000, 30 * delay)))
    : undefined;
  retry?.unref();
  if (maybeOwed) setTimeout(() => void resendOwed(), delay).unref();
  return {
    name: 'the OTLP export',
    get dropped() {
      return dropped;
    },
    get exported() {
      return exported;
    },
    owed: () => (resend ? countOf(resend.owed.read()) : 0),
    record(r, head, line) {
      if (stopped) return;
      send(r, head, line);
    },
    write(note: string, c: Checkpoint) {
      if (stopped) return;
      emit({
        eventName: 'fleet.audit.checkpoint',
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
        body: note,
        attributes: {
          'fleet.instance': c.instance,
          'fleet.audit.seq': c.seq,
          'fleet.audit.hash': c.hash,
          'fleet.checkpoint.time': c.time,
        },
      });
    },
    async shutdown(timeoutMs = 3000) {
      if (stopped) return;
      stopped = true;
      clearInterval(retry);
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
      const end = await Promise.race([
        provider.shutdown().then(
          () => 'done' as const,
          () => 'done' as const,
        ),
        gaveUp,
      ]);
      clearTimeout(timer);
      if (end === 'late' && queued > 0) lose(queued, `still queued when the server stopped after ${timeoutMs} ms`);
      if (resend && pending.size) {
        // unanswered: owed, for the next start to send
        await resend.owed
          .add(pending)
          .catch((e: Error) => warn(`audit export: could not keep what is owed to the collector: ${e.message}`));
      }
    },
  };
}
