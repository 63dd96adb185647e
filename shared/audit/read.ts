// Reads an audit file back as calls: the decision, intent and outcome records of one call joined.
import { open } from './chain.js';
import type { SealedRecord } from './verify.js';

export interface CallRow {
  call: string;
  time: string;
  instance: string;
  tool: string;
  actor?: string;
  thread?: string;
  /** the client's self-declared name@version (MCP initialize) */
  client?: string;
  /** the client principal (the routine calling), as the transport proved it */
  client_id?: string;
  /** how the actor was proven: asserted, slack-message, oidc, none (and failed: ...) */
  proof?: string;
  /** allow | deny | replay (an idempotency key that already ran) | pending (waiting for approval) */
  decision: string;
  rule?: string;
  /** the approver (a proven ID) and when they said yes */
  approver?: string;
  approved_at?: string;
  /** the instance's own upstream identity and its credential reference */
  executor?: string;
  credential?: string;
  /** sha256 of the manifest the call ran under */
  manifest?: string;
  /** ok | error | unknown (intent written, no outcome: the process died or is still running) | - (not run) */
  outcome: string;
  /** the last approval step: "approved by U0EDITOR1", "expired", ... */
  approval?: string;
  error?: string;
  duration_ms?: number;
  /** the MCP task the call ran as */
  task?: string;
  /** what else the row needs to say (a minted token's id and expiry) */
  note?: string;
  records: Record<string, any>[];
}

export function readCalls(text: string): CallRow[] {
  const calls = new Map<string, CallRow>();
  for (const line of text.split('\n')) {
    const o = line ? open(line) : undefined;
    // records of the trail itself (a recovered torn write, an incident, the export's losses) are not calls
    if (o && typeof o.record.call === 'string') addRecord(calls, o.record);
  }
  return [...calls.values()];
}

/**
 * Every decision a row of `fleet audit show` can carry: a call's (allow, deny, replay, pending,
 * failed, error), a credential's step (mint, renew, revoke, sweep; rotate) and an administrative
 * record's (suspend, resume). `--decision` takes each of them.
 */
export const DECISIONS = [
  'allow',
  'deny',
  'replay',
  'pending',
  'failed',
  'error',
  'mint',
  'renew',
  'revoke',
  'sweep',
  'rotate',
  'suspend',
  'resume',
] as const;

/** Each call of a trail's verified stream (./trail.ts), of any size: a call is handed on as soon
 * as it ends, so memory holds only the calls still open; those never ended (UNKNOWN) come last. */
export async function* streamCalls(records: AsyncIterable<SealedRecord>): AsyncIterable<CallRow> {
  const open_ = new Map<string, CallRow>();
  for await (const { record } of records) {
    if (typeof record.call !== 'string') continue;
    const row = addRecord(open_, record);
    // credential, admin and edge records are one record each: they end their row at once
    if (
      record.phase === 'outcome' ||
      record.phase === 'decision' ||
      record.phase === 'credential' ||
      record.phase === 'admin' ||
      record.phase === 'edge'
    ) {
      open_.delete(row.call);
      yield row;
    }
  }
  yield* open_.values();
}

/** What a record that names no tool is about: an HTTP request refused before any tool, or its kind. */
const subject = (r: Record<string, any>): string =>
  typeof r.tool === 'string'
    ? r.tool
    : r.http && typeof r.http === 'object'
      ? `HTTP ${String(r.http.method ?? '?')} ${String(r.http.path ?? '')}`.trim()
      : `(${typeof r.phase === 'string' ? r.phase : 'record'})`;

function addRecord(calls: Map<string, CallRow>, r: Record<string, any>): CallRow {
  let row = calls.get(r.call);
  if (!row) {
    row = {
      call: r.call,
      time: typeof r.time === 'string' ? r.time : '',
      instance: r.instance,
      tool: subject(r),
      actor: r.actor,
      thread: r.thread,
      client: r.client ? `${r.client.name}@${r.client.version}` : undefined,
      client_id: r.client_id,
      ...(r.task ? { task: r.task } : {}),
      manifest: r.manifest,
      decision: r.decision ?? 'allow',
      outcome: 'unknown',
      records: [],
    };
    calls.set(r.call, row);
  }
  row.records.push(r);
  // a promotion's evidence, cited by instance, seq and hash
  if (r.phase === 'intent' && Array.isArray(r.evidence_from)) {
    row.note = `evidence ${r.evidence_from.map((e: { instance: string; seq: number; hash: string; what: string }) => `${e.what} ${e.instance}#${e.seq} ${String(e.hash).slice(0, 12)}`).join(', ')}`;
  }
  if (r.phase === 'decision' || r.phase === 'intent') {
    row.decision = r.decision;
    row.rule = r.rule;
    // A decision record ends a call that never ran: denied, replayed or left pending.
    if (r.phase === 'decision') row.outcome = r.decision === 'replay' ? 'replayed' : '-';
  }
  // A minted credential's life (mint, renew, revoke, sweep), or a rotating one's (rotate, renew,
  // adopt: no token id, the refresh token's source instead): not a call, one record per step.
  if (r.phase === 'credential') {
    row.decision = r.action;
    row.outcome = r.outcome;
    row.error = r.error;
    const what = r.token_id
      ? `token ${r.token_id}`
      : `access token${r.source ? ` from the ${r.source}'s refresh token` : ''}`;
    row.note = `${what}${r.expires_on ? ` until ${r.expires_on}` : ''}${r.reason ? ` (${r.reason})` : ''}`;
  }
  // `fleet suspend` / `fleet resume`: an administrative record, not a call
  if (r.phase === 'admin') row.outcome = '-';
  // unauthenticated requests refused at the HTTP edge, counted over an interval (one record)
  if (r.phase === 'edge') {
    row.decision = 'deny';
    row.outcome = '-';
    row.rule = r.rule;
    row.note = `${r.count} unauthenticated request(s) refused at the HTTP edge in ${r.interval_s} s${Array.isArray(r.sources) ? `: ${r.sources.map((x: Record<string, unknown>) => `${x.count}× ${x.status} ${x.remote} (${x.why})`).join(', ')}` : ''}${r.other ? `; ${r.other} more from other sources` : ''}`;
  }
  if (r.phase === 'approval') row.approval = r.by ? `${r.status} by ${r.by}` : r.status;
  if (r.phase === 'approval' && r.status === 'approved') {
    row.approver = r.by;
    row.approved_at = r.at ?? r.time;
  }
  if (r.actor_proof)
    row.proof = `${r.actor_proof.kind}${r.actor_proof.verified || !r.actor_proof.failure ? '' : ` (failed: ${r.actor_proof.failure})`}`;
  if (r.actor && !row.actor) row.actor = r.actor;
  if (r.phase === 'intent' && r.executor) {
    row.executor = r.executor.id;
    row.credential = r.executor.credential;
  }
  if (r.phase === 'outcome') {
    row.outcome = r.outcome;
    row.error = r.error;
    row.duration_ms = r.duration_ms;
  }
  return row;
}
