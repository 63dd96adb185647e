// What a reviewer's report shows of a trail besides the grants: activity per day, approval
// latency, the custody of production actions and denials by rule. Fed one call at a time as the
// trail streams past; memory is bounded whatever the trail's length (days in the window, distinct
// rules, and the newest CUSTODY_KEPT production actions; the rest are counted).
import type { CallRow } from '../../audit/read.js';

/** production actions shown in the custody timeline (the newest); the rest are counted */
export const CUSTODY_KEPT = 500;
/** minted tokens whose expiry is remembered for the custody rows */
const TOKENS_KEPT = 1000;
/** distinct denial groups kept; further ones are counted under "other" */
const RULES_KEPT = 200;

/** Approval latency buckets (upper bounds, ms) and their labels. */
export const LATENCY_BUCKETS: readonly [number, string][] = [
  [60_000, '< 1 min'],
  [5 * 60_000, '1–5 min'],
  [15 * 60_000, '5–15 min'],
  [60 * 60_000, '15–60 min'],
  [4 * 3_600_000, '1–4 h'],
  [Number.POSITIVE_INFINITY, '> 4 h'],
];

export interface CustodyStep {
  /** asked: who, which thread, how proven */
  actor: string;
  thread: string;
  proof: string;
  /** approved or declined, by whom, after how long; answers that did not count */
  approval: string;
  approvalMs?: number;
  /** answers seen that did not count (late, self-approval, not an approver) */
  ignored: string[];
  /** executed: the client principal, the executor and its credential */
  client: string;
  executor: string;
  credential: string;
  outcome: string;
  /** ok | denied | error | unknown | pending | declined */
  kind: string;
}

export interface CustodyEntry extends CustodyStep {
  time: string;
  call: string;
  instance: string;
  tool: string;
  task?: string;
}

export interface DenialGroup {
  instance: string;
  tool: string;
  rule: string;
  count: number;
  last: string;
}

export interface ActivityDay {
  day: string;
  calls: number;
  denials: number;
}

export interface Suspension {
  target: string;
  by: string;
  at: string;
  reason: string;
}

export interface Activity {
  /** per instance: day (YYYY-MM-DD) → counts */
  days: Map<string, Map<string, ActivityDay>>;
  latency: number[];
  approvals: { approved: number; declined: number; expired: number; withdrawn: number; late: number };
  custody: CustodyEntry[];
  custodyTotal: number;
  denials: DenialGroup[];
  denialsOther: number;
  suspensions: Suspension[];
  calls: number;
  first?: string;
  last?: string;
}

const str = (v: unknown, or = '-'): string => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : or);

/** The custody of one call: asked → approved → executed → outcome. `expiry` finds a minted token's expiry. */
export function custodySteps(r: CallRow, expiry: (token: string) => string | undefined = () => undefined): CustodyStep {
  let approval = '-';
  let approvalMs: number | undefined;
  const ignored: string[] = [];
  for (const x of r.records) {
    if (x.phase !== 'approval') continue;
    if (x.status === 'approved') {
      const at = Date.parse(str(x.at, r.time));
      approvalMs = Number.isFinite(at) ? Math.max(0, at - Date.parse(r.time)) : undefined;
      approval = `approved by ${str(x.by, 'unknown')}`;
    } else if (x.status === 'ignored')
      ignored.push(
        `${str(x.by, 'unknown')}${x.answer ? ` (${str(x.answer)})` : ''}${x.late ? ' late' : ''}: ${str(x.why, 'not counted')}`,
      );
    else if (x.status !== 'requested' && x.status !== 'resumed')
      approval = `${str(x.status)}${x.by ? ` by ${str(x.by)}` : ''}${x.why ? ` (${str(x.why)})` : ''}`;
    else if (approval === '-')
      approval = `asked ${Array.isArray(x.approvers) ? x.approvers.map((a: unknown) => str(a)).join(', ') : 'the approvers'}`;
  }
  const kind =
    r.decision === 'deny'
      ? 'denied'
      : r.decision === 'pending'
        ? 'pending'
        : /^declined|^expired|^withdrawn|^refused|^failed/.test(approval)
          ? 'declined'
          : r.outcome === 'ok'
            ? 'ok'
            : r.outcome === 'unknown'
              ? 'unknown'
              : r.outcome === 'error'
                ? 'error'
                : 'other';
  const outcome =
    r.decision === 'deny'
      ? `denied (${r.rule ?? '?'})`
      : r.decision === 'replay'
        ? 'replayed'
        : r.outcome === 'unknown'
          ? 'UNKNOWN (no outcome recorded)'
          : r.outcome === 'error'
            ? `error ${r.error ?? ''}`.trim()
            : r.outcome;
  const executor = r.records.find((x) => x.phase === 'intent' && x.executor)?.executor as
    | Record<string, unknown>
    | undefined;
  const token = typeof executor?.token_id === 'string' ? executor.token_id : undefined;
  const credential = token
    ? `${r.credential ?? '-'} · minted ${token}${expiry(token) ? ` until ${expiry(token)}` : ''}`
    : (r.credential ?? '-');
  return {
    actor: r.actor ?? '-',
    thread: r.thread ?? '-',
    proof: r.proof ?? '-',
    approval,
    ...(approvalMs !== undefined ? { approvalMs } : {}),
    ignored,
    client: r.client_id ?? '-',
    executor: r.executor ?? '-',
    credential,
    outcome: str(outcome),
    kind,
  };
}

export class ActivityCollector {
  private readonly days = new Map<string, Map<string, ActivityDay>>();
  private readonly latency = LATENCY_BUCKETS.map(() => 0);
  private readonly approvals = { approved: 0, declined: 0, expired: 0, withdrawn: 0, late: 0 };
  private readonly custody: CustodyEntry[] = [];
  private custodyTotal = 0;
  private readonly denials = new Map<string, DenialGroup>();
  private denialsOther = 0;
  private readonly suspensions = new Map<string, Suspension | undefined>();
  /** minted tokens' expiries, the newest TOKENS_KEPT */
  private readonly tokens = new Map<string, string>();
  private calls = 0;
  private first?: string;
  private last?: string;

  /** `production(instance)`: whether the instance's actions belong in the custody timeline. */
  constructor(private readonly production: (instance: string) => boolean) {}

  add(r: CallRow): void {
    const instance = r.instance ?? 'unknown';
    const time = typeof r.time === 'string' ? r.time : '';
    if (time && (!this.first || time < this.first)) this.first = time;
    if (time && (!this.last || time > this.last)) this.last = time;
    const admin = r.records.find((x) => x.phase === 'admin');
    if (admin) {
      const target = str(admin.target, instance);
      if (admin.decision === 'suspend')
        this.suspensions.set(target, { target, by: str(admin.actor), at: time, reason: str(admin.reason, '') });
      else if (admin.decision === 'resume') this.suspensions.set(target, undefined);
      return;
    }
    const minted = r.records.find((x) => x.phase === 'credential');
    if (minted) {
      if (typeof minted.token_id === 'string' && typeof minted.expires_on === 'string') {
        this.tokens.set(minted.token_id, minted.expires_on);
        if (this.tokens.size > TOKENS_KEPT) this.tokens.delete(this.tokens.keys().next().value!);
      }
      return;
    }
    this.calls++;
    let perDay = this.days.get(instance);
    if (!perDay) this.days.set(instance, (perDay = new Map()));
    const d = time.slice(0, 10) || 'unknown';
    const day = perDay.get(d) ?? { day: d, calls: 0, denials: 0 };
    perDay.set(d, day);
    day.calls++;
    if (r.decision === 'deny') {
      day.denials++;
      const tool = typeof r.tool === 'string' ? r.tool : '(before any tool)';
      const k = `${instance}\0${tool}\0${r.rule ?? '?'}`;
      const g = this.denials.get(k);
      if (g) {
        g.count++;
        if (time > g.last) g.last = time;
      } else if (this.denials.size < RULES_KEPT)
        this.denials.set(k, { instance, tool, rule: r.rule ?? '?', count: 1, last: time });
      else this.denialsOther++;
    }
    const c = custodySteps(r, (t) => this.tokens.get(t));
    for (const x of r.records) {
      if (x.phase !== 'approval') continue;
      if (x.status === 'approved') this.approvals.approved++;
      else if (x.status === 'declined') this.approvals.declined++;
      else if (x.status === 'expired') this.approvals.expired++;
      else if (x.status === 'withdrawn') this.approvals.withdrawn++;
      else if (x.status === 'ignored' && x.late) this.approvals.late++;
    }
    if (c.approvalMs !== undefined) this.latency[LATENCY_BUCKETS.findIndex(([max]) => c.approvalMs! < max)]!++;
    if (!this.production(instance)) return;
    this.custodyTotal++;
    const task = r.records.find((x) => typeof x.task === 'string')?.task;
    this.custody.push({
      time,
      call: str(r.call),
      instance,
      tool: typeof r.tool === 'string' ? r.tool : '(before any tool)',
      ...(task ? { task } : {}),
      ...c,
    });
    // keep the newest: drop the oldest half at twice the bound (amortised, no per-call shift)
    if (this.custody.length >= CUSTODY_KEPT * 2) {
      this.custody.sort((a, b) => a.time.localeCompare(b.time));
      this.custody.splice(0, this.custody.length - CUSTODY_KEPT);
    }
  }

  finish(): Activity {
    const custody = this.custody.sort((a, b) => a.time.localeCompare(b.time)).slice(-CUSTODY_KEPT);
    return {
      days: this.days,
      latency: [...this.latency],
      approvals: { ...this.approvals },
      custody,
      custodyTotal: this.custodyTotal,
      denials: [...this.denials.values()].sort((a, b) => b.count - a.count || a.instance.localeCompare(b.instance)),
      denialsOther: this.denialsOther,
      suspensions: [...this.suspensions.values()].filter((s): s is Suspension => !!s),
      calls: this.calls,
      ...(this.first ? { first: this.first } : {}),
      ...(this.last ? { last: this.last } : {}),
    };
  }
}
