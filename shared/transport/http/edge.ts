// What a refused HTTP request may cost: at most one bounded record. Every refusal at the edge
// (Origin, 401, 403, 429, 413, a body too slow) goes through this ledger: per instance and
// interval, the first refusal of each kind (status, rule, source, reason) is written at once as
// its own record, up to MAX_KINDS kinds; every other refusal is only counted, and the counts are
// written as one `edge` record when the interval ends (sources beyond MAX_SOURCES summed into
// `other`). Every field a peer can influence is cut to a bounded length of printable text, so no
// request, however many and however crafted, costs the trail more than MAX_KINDS + 1 records of
// bounded size per instance per interval.
import { randomUUID } from 'node:crypto';
import type { Instance } from '../../instance/instance.js';

export const MAX_KINDS = 16;
export const MAX_SOURCES = 32;
const MAX_TEXT = 240;

/** Printable text of at most `max` characters: what a peer sent, cut, never all of it. */
export function peerText(v: unknown, max = MAX_TEXT): string {
  const s = String(v ?? '').replace(/[^\x20-\x7e]/g, '?');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export interface Refusal {
  status: number;
  rule: string;
  message: string;
  method?: string;
  path: string;
  remote?: string;
  client?: string;
  via?: string;
}

interface Tally {
  count: number;
  since: number;
  kinds: Set<string>;
  sources: Map<string, { status: number; rule: string; remote: string; why: string; client?: string; count: number }>;
  other: number;
}

export class EdgeLedger {
  private readonly tallies = new Map<Instance, Tally>();
  private readonly timer: NodeJS.Timeout;
  private readonly writes = new Set<Promise<void>>();

  constructor(intervalMs = 60_000) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Records the refusal at once when it is the first of its kind this interval (resolved once written); else counts it. */
  note(inst: Instance, r: Refusal): Promise<void> {
    const t = this.tallies.get(inst) ?? { count: 0, since: Date.now(), kinds: new Set(), sources: new Map(), other: 0 };
    this.tallies.set(inst, t);
    const remote = peerText(r.remote ?? '?', 64);
    const why = peerText(r.message, 120);
    const kind = `${r.status}\0${r.rule}\0${remote}\0${why}`;
    if (!t.kinds.has(kind) && t.kinds.size < MAX_KINDS) {
      t.kinds.add(kind);
      return this.write(inst, {
        phase: 'decision',
        decision: 'deny',
        rule: r.rule,
        ...(r.client ? { client_id: peerText(r.client, 64) } : {}),
        ...(r.via ? { client_via: peerText(r.via, 32) } : {}),
        message: peerText(r.message),
        http: { status: r.status, method: peerText(r.method ?? '?', 16), path: peerText(r.path, 120), remote },
      });
    }
    t.count++;
    const s = t.sources.get(kind);
    if (s) s.count++;
    else if (t.sources.size < MAX_SOURCES)
      t.sources.set(kind, {
        status: r.status,
        rule: r.rule,
        remote,
        why,
        ...(r.client ? { client: peerText(r.client, 64) } : {}),
        count: 1,
      });
    else t.other++;
    return Promise.resolve();
  }

  /** Writes what was counted this interval, one `edge` record per instance, and starts the next. */
  async flush(): Promise<void> {
    const now = Date.now();
    for (const [inst, t] of this.tallies) {
      this.tallies.delete(inst);
      if (!t.count) continue;
      this.write(inst, {
        phase: 'edge',
        rule: 'edge',
        count: t.count,
        interval_s: Math.max(1, Math.round((now - t.since) / 1000)),
        sources: [...t.sources.values()].sort((a, b) => b.count - a.count),
        ...(t.other ? { other: t.other } : {}),
      });
    }
    await Promise.all(this.writes);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private write(inst: Instance, fields: Record<string, unknown>): Promise<void> {
    const record = {
      v: 1,
      call: randomUUID(),
      time: new Date().toISOString(),
      instance: inst.manifest.id,
      owner: inst.manifest.owner,
      manifest: inst.manifest.hash,
      ...fields,
    };
    const p = inst.audit
      .append(inst.redactor.deep(record) as Record<string, unknown>)
      .catch((e: Error) => inst.log.error(`refusal of an HTTP request not recorded: ${e.message}`))
      .finally(() => this.writes.delete(p));
    this.writes.add(p);
    return p;
  }
}
