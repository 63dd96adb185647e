// `fleet audit verify FILE` and `fleet audit show FILE`.
import { readFileSync } from 'node:fs';
import { readCalls, type CallRow } from '../../../shared/audit/read.js';
import { verifyChain } from '../../../shared/audit/verify.js';
import { parseDuration } from '../../../shared/base/duration.js';
import { BadIdentifier, canonical } from '../../../shared/call/identity.js';

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Prints the verdict; returns the exit code. */
export function auditVerify(file: string, out: (s: string) => void = console.log): number {
  const r = verifyChain(read(file));
  for (const n of r.interrupted) out(`${file}:${n}: interrupted write (a record cut off mid-write; the chain continues past it)`);
  if (!r.ok) {
    out(`${file}:${r.problem!.line}: TAMPERED: ${r.problem!.message} (${r.records} records verified before it)`);
    return 1;
  }
  out(`${file}: chain intact, ${r.records} records${r.last ? `; last record ${r.last.seq}, hash ${r.last.hash}` : ''}`);
  return 0;
}

export interface ShowFilter {
  tool?: string;
  actor?: string;
  decision?: string;
  since?: string;
  json?: boolean;
}

export function sinceTime(since: string, now = Date.now()): number {
  const d = parseDuration(since);
  if (d !== undefined) return now - d;
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw new Error(`--since takes a duration (30m, 2h, 7d) or a date, not "${since}"`);
  return t;
}

/** An --actor filter in canonical form (a look-alike is refused, not matched). */
export function actorFilter(raw: string): string {
  try {
    return canonical(raw);
  } catch (e) {
    if (e instanceof BadIdentifier) throw new Error(`--actor ${e.why}`);
    throw e;
  }
}

export function filterCalls(rows: CallRow[], f: ShowFilter): CallRow[] {
  const since = f.since ? sinceTime(f.since) : undefined;
  const actor = f.actor ? actorFilter(f.actor) : undefined;
  return rows.filter(
    (r) =>
      (!f.tool || r.tool === f.tool) &&
      (!actor || r.actor === actor) &&
      (!f.decision || r.decision === f.decision) &&
      (since === undefined || Date.parse(r.time) >= since),
  );
}

export function renderTable(rows: CallRow[]): string {
  const cols = [
    ['time', (r: CallRow) => r.time.replace('T', ' ').slice(0, 19)],
    ['actor', (r: CallRow) => r.actor ?? '-'],
    ['thread', (r: CallRow) => r.thread ?? '-'],
    ['tool', (r: CallRow) => r.tool],
    ['decision', (r: CallRow) => r.decision],
    ['outcome', (r: CallRow) => (r.outcome === 'unknown' ? 'UNKNOWN (no outcome recorded)' : r.outcome)],
    ['detail', (r: CallRow) => [r.approval, r.decision === 'allow' ? '' : `rule ${r.rule}`, r.error ? `error ${r.error}` : '', r.duration_ms !== undefined ? `${r.duration_ms} ms` : ''].filter(Boolean).join('; ')],
  ] as const;
  const cells = rows.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.min(40, Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const line = (vals: string[]) => vals.map((v, i) => (v.length > 40 ? `${v.slice(0, 39)}…` : v).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map(([h]) => h)), ...cells.map(line)].join('\n');
}

export function auditShow(file: string, f: ShowFilter, out: (s: string) => void = console.log): number {
  const rows = filterCalls(readCalls(read(file)), f);
  if (f.json) for (const r of rows) out(JSON.stringify(r));
  else out(rows.length ? renderTable(rows) : '(no matching calls)');
  return 0;
}
