// `fleet audit verify FILE` and `fleet audit show FILE`.
import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { generateCheckpointKey, parseCheckpoints, readCheckpointsConfig } from '../../../shared/audit/checkpoint.js';
import { readCalls, type CallRow } from '../../../shared/audit/read.js';
import { fileLines, verifyLines, type VerifyResult } from '../../../shared/audit/verify.js';
import { parseDuration } from '../../../shared/base/duration.js';
import { BadIdentifier, canonical } from '../../../shared/call/identity.js';

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Reads signed checkpoints for `instance` from a file of notes, verified with the public key in
 * fleet.yaml: record position → hash. Any note that is not validly signed, or two that disagree,
 * is a problem (exit 1): a checkpoint source someone tampered with proves nothing either way.
 */
export function readAnchors(src: string, instance: string, fleetFile: string): { anchors?: Map<number, string>; problem?: string; count: number; others: number } {
  const config = readCheckpointsConfig(fleetFile);
  if (!config) return { problem: `${fleetFile} names no checkpoints key (checkpoints: key: {name, public}), so no checkpoint can be verified`, count: 0, others: 0 };
  const notes = parseCheckpoints(read(src), [config.key]);
  const anchors = new Map<number, string>();
  let others = 0;
  for (const n of notes) {
    if (n.problem) return { problem: `${src}:${n.line}: checkpoint ${n.problem}`, count: anchors.size, others };
    if (n.instance !== instance) {
      others++;
      continue;
    }
    const seen = anchors.get(n.seq);
    if (seen !== undefined && seen !== n.hash) return { problem: `${src}:${n.line}: two signed checkpoints of ${instance} disagree on record ${n.seq}: the trail was forked or rewritten after the first was signed`, count: anchors.size, others };
    anchors.set(n.seq, n.hash);
  }
  return { anchors, count: anchors.size, others };
}

/** The instance a trail file is named for: <connector>.<env>.jsonl (or an incident file beside it). */
export function instanceOfFile(file: string): string | undefined {
  return /^(.+?)(?:\.incident-[^.]*)?\.jsonl$/.exec(basename(file))?.[1];
}

export interface VerifyOpts {
  /** the instance the trail is presented as (default: from the file name) */
  instance?: string;
  /** a file of signed checkpoints the trail must reach and agree with */
  checkpoints?: string;
  /** the scopes folder whose fleet.yaml names the checkpoint key */
  scopes?: string;
}

/**
 * Prints the verdict; returns the exit code: 0 intact, 1 tampered (or not this instance's, or
 * contradicted by a checkpoint), 2 cannot be checked (unreadable, no instance).
 */
export async function auditVerify(file: string, o: VerifyOpts = {}, out: (s: string) => void = console.log): Promise<number> {
  const instance = o.instance ?? instanceOfFile(file);
  if (!instance) {
    out(`${file}: cannot tell which instance this trail belongs to; name it with --instance <connector>.<env>`);
    return 2;
  }
  try {
    if (!statSync(file).isFile()) throw Object.assign(new Error(), { code: 'not a regular file' });
  } catch (e) {
    out(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 2;
  }
  let anchors: Map<number, string> | undefined;
  if (o.checkpoints) {
    const fleetFile = join(o.scopes ?? 'scopes', 'fleet.yaml');
    let a;
    try {
      a = readAnchors(o.checkpoints, instance, fleetFile);
    } catch (e) {
      out(`${o.checkpoints}: cannot read checkpoints: ${(e as Error).message}`);
      return 2;
    }
    if (a.problem) {
      out(`${file}: TAMPERED (checkpoints): ${a.problem}`);
      return 1;
    }
    if (!a.count) {
      out(`${file}: ${o.checkpoints} holds no checkpoint of ${instance}${a.others ? ` (${a.others} of other instances)` : ''}; nothing to compare the trail with`);
      return 2;
    }
    anchors = a.anchors;
  }
  let r: VerifyResult;
  try {
    r = await verifyLines(fileLines(file), { instance, anchors });
  } catch (e) {
    out(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 2;
  }
  const cps = r.checkpoints ? `; ${r.checkpoints.checked} checkpoint(s) matched, the newest at record ${r.checkpoints.newest}` : '';
  if (!r.ok) {
    out(`${file}:${r.problem!.line}: TAMPERED (${r.problem!.kind}): ${r.problem!.message} (${r.records} records of ${instance} verified before it, ${r.lines} lines read)`);
    return 1;
  }
  if (r.torn) out(`${file}:${r.torn}: interrupted write (the last line was cut off mid-write; the next append seals a record of it)`);
  out(`${file}: chain intact, ${r.records} records of ${instance}; last record ${r.last!.seq}, hash ${r.last!.hash}${cps}${r.checkpoints ? '' : '; without checkpoints a cut tail or a re-chained trail cannot be told apart (--checkpoints)'}`);
  return 0;
}

export interface ShowFilter {
  tool?: string;
  actor?: string;
  decision?: string;
  since?: string;
  json?: boolean;
  /** one chain-of-custody row per call instead of the decision table */
  custody?: boolean;
}

/**
 * The chain of custody of one call: who called (client), for whom (actor) and how that was
 * proven, where it was asked (thread), who approved and when, who executed it with which
 * credential reference, under which manifest, and what came of it. Field names are stable
 * (docs/security.md).
 */
export interface CustodyRow {
  time: string;
  call: string;
  instance: string;
  tool: string;
  client: string;
  actor: string;
  proof: string;
  thread: string;
  approver: string;
  approved_at: string;
  executor: string;
  credential: string;
  manifest: string;
  result: string;
}

export function custodyOf(r: CallRow): CustodyRow {
  const result =
    r.decision === 'deny' || r.decision === 'pending' ? `${r.decision === 'deny' ? 'denied' : 'pending'} (${r.rule ?? '?'})`
    : r.decision === 'replay' ? 'replayed'
    : r.outcome === 'unknown' ? 'UNKNOWN (no outcome recorded)'
    : r.outcome === 'error' ? `error ${r.error ?? ''}`.trim()
    : r.outcome;
  return {
    time: r.time,
    call: r.call,
    instance: r.instance,
    tool: r.tool,
    client: r.client_id ?? '-',
    actor: r.actor ?? '-',
    proof: r.proof ?? '-',
    thread: r.thread ?? '-',
    approver: r.approver ?? '-',
    approved_at: r.approved_at ?? '-',
    executor: r.executor ?? '-',
    credential: r.credential ?? '-',
    manifest: r.manifest ?? '-',
    result,
  };
}

export function renderCustody(rows: CustodyRow[]): string {
  const cols: [string, (r: CustodyRow) => string][] = [
    ['time', (r) => r.time.replace('T', ' ').slice(0, 19)],
    ['client', (r) => r.client],
    ['actor', (r) => r.actor],
    ['proof', (r) => r.proof],
    ['thread', (r) => r.thread],
    ['approver', (r) => (r.approver === '-' ? '-' : `${r.approver} at ${r.approved_at.replace('T', ' ').slice(11, 19)}`)],
    ['executor', (r) => (r.executor === '-' ? '-' : `${r.executor} (${r.credential})`)],
    ['manifest', (r) => r.manifest.slice(0, 12)],
    ['result', (r) => r.result],
    ['tool', (r) => `${r.instance}.${r.tool}`],
  ];
  const cells = rows.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map(([h]) => h)), ...cells.map(line)].join('\n');
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
    ['detail', (r: CallRow) => [r.note, r.approval, r.decision === 'allow' || r.rule === undefined ? '' : `rule ${r.rule}`, r.error ? `error ${r.error}` : '', r.duration_ms !== undefined ? `${r.duration_ms} ms` : ''].filter(Boolean).join('; ')],
  ] as const;
  const cells = rows.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.min(40, Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const line = (vals: string[]) => vals.map((v, i) => (v.length > 40 ? `${v.slice(0, 39)}…` : v).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map(([h]) => h)), ...cells.map(line)].join('\n');
}

export function auditShow(file: string, f: ShowFilter, out: (s: string) => void = console.log): number {
  const rows = filterCalls(readCalls(read(file)), f);
  if (f.custody) {
    const custody = rows.map(custodyOf);
    if (f.json) for (const r of custody) out(JSON.stringify(r));
    else out(custody.length ? renderCustody(custody) : '(no matching calls)');
    return 0;
  }
  if (f.json) for (const r of rows) out(JSON.stringify(r));
  else out(rows.length ? renderTable(rows) : '(no matching calls)');
  return 0;
}

/** Writes a new checkpoint signing key (never over an existing file) and prints its fleet.yaml block. */
export function auditKeygen(outFile: string, name: string, out: (s: string) => void = console.log): number {
  const key = generateCheckpointKey();
  let fd: number;
  try {
    fd = openSync(outFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    out(`cannot create ${outFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (keygen never overwrites a key)`);
    return 2;
  }
  try {
    writeSync(fd, key.privatePem);
  } finally {
    closeSync(fd);
  }
  out(`# the private key is in ${outFile}: give it to the instances as FLEET_CHECKPOINT_KEY, never beside the audit trail`);
  out('# scopes/fleet.yaml:');
  out('checkpoints:');
  out(`  key: { name: ${name}, public: ${key.public} }`);
  out('  every: 1000');
  out('  interval: 10m');
  return 0;
}
