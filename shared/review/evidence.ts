// `fleet review`: what an instance's grants were actually used for, from its audit trail over a
// window. Per granted tool and per granted resource (each entry of a resource list: a channel, a
// script, a config, a secret glob): allowed calls, denials, last use and by whom; grants never
// used; resources never touched; approvals asked and given; calls made under an exception; the
// credential's age where it is known. Pure: handed the manifest, its connector and the calls.
import type { CallRow } from '../audit/read.js';
import { DAY_MS, parseDuration } from '../base/duration.js';
import type { Connector, Fact } from '../connector/tool.js';
import type { Manifest } from '../base/manifest.js';
import { isActive, selfApproved } from '../manifest/exceptions.js';

export interface Use {
  allowed: number;
  denied: number;
  /** the last allowed call */
  last?: { time: string; by: string };
  /** who made allowed calls, most calls first */
  by: { who: string; calls: number }[];
}

export interface ToolReview extends Use {
  tool: string;
  access: string;
  /** granted only through a time-boxed exception */
  exception?: string;
}

export interface ResourceReview extends Use {
  tool: string;
  /** constraint key, e.g. channels */
  key: string;
  noun: string;
  /** the entry as granted (an ID or a glob) */
  value: string;
  /** whether an allowed call was checked against this list at all: only then can it be cut */
  evidenced: boolean;
}

export interface ApprovalReview {
  tool: string;
  asked: number;
  approved: number;
  declined: number;
  expired: number;
  /** who approved, with counts */
  approvers: { who: string; calls: number }[];
}

/** Where the evidence came from, and whether it can be trusted: a review of no trail is no evidence of disuse. */
export interface TrailSource {
  /** the file, or postgresql:<instance> */
  where: string;
  status: 'verified' | 'missing' | 'unverifiable';
  /** what is wrong: why it is missing, or the first problem the chain check found */
  problem?: string;
}

export interface InstanceReview {
  instance: string;
  /** the trail judged (set by the command that read it) */
  trail?: TrailSource;
  file: string;
  owner: string;
  review_by?: string;
  window: { from: string; to: string; days: number };
  calls: { allowed: number; denied: number; other: number };
  tools: ToolReview[];
  resources: ResourceReview[];
  unused: string[];
  untouched: { tool: string; key: string; value: string }[];
  /** denied calls for things no grant covers (tools not granted, resources outside the lists): what was wanted */
  refusedWants: { tool: string; what: string; calls: number }[];
  approvals: ApprovalReview[];
  exceptionCalls: { exception: string; tool: string; calls: number; last?: { time: string; by: string } }[];
  credential: { ref: string; issued?: string; age_days?: number; source: string };
  /** the manifest's time-boxed exceptions and where each stands */
  exceptions: {
    id: string;
    tool: string;
    owner: string;
    approver: string;
    reason: string;
    starts?: string;
    expires?: string;
    status: 'active' | 'expired' | 'not started' | 'invalid';
  }[];
}

export const who = (r: CallRow) => r.actor ?? (r.client_id ? `client ${r.client_id}` : r.client) ?? 'unknown';
/** a call that used its grant: allowed (ran or was left UNKNOWN) or replayed from a key */
export const usedGrant = (r: CallRow) => r.decision === 'allow' || r.decision === 'replay';
export const factsOf = (r: CallRow): Fact[] =>
  (r.records.find((x) => Array.isArray(x.resources))?.resources as Fact[] | undefined) ?? [];
export const exceptionOf = (r: CallRow): string | undefined =>
  r.records.find((x) => typeof x.exception === 'string')?.exception;

/** `--window`: a duration of at least a day, in whole days. */
export function windowDays(window: string): number {
  const ms = parseDuration(window);
  if (ms === undefined || ms < DAY_MS)
    throw new Error(`--window takes a duration of at least a day, such as 30d or 90d, not "${window}"`);
  return Math.round(ms / DAY_MS);
}

/** Whether a call falls in the window: the `days` days up to `now`. */
export function inWindow(now: number, days: number): (r: CallRow) => boolean {
  const from = now - days * DAY_MS;
  return (r) => {
    const t = Date.parse(r.time);
    return t >= from && t <= now;
  };
}

function newUse(): Use & { byMap: Map<string, number> } {
  return { allowed: 0, denied: 0, by: [], byMap: new Map() };
}

function count(u: Use & { byMap: Map<string, number> }, r: CallRow): void {
  if (usedGrant(r)) {
    u.allowed++;
    if (!u.last || r.time >= u.last.time) u.last = { time: r.time, by: who(r) };
    u.byMap.set(who(r), (u.byMap.get(who(r)) ?? 0) + 1);
  } else if (r.decision === 'deny') u.denied++;
}

function finish<T extends Use & { byMap?: Map<string, number> }>(u: T): T {
  const { byMap, ...rest } = u;
  return {
    ...rest,
    by: [...(byMap ?? new Map()).entries()]
      .map(([w, calls]) => ({ who: w, calls }))
      .sort((a, b) => b.calls - a.calls || a.who.localeCompare(b.who)),
  } as unknown as T;
}

/** The newest record that `pick` accepts, kept while the trail streams past. */
class Newest {
  record?: Record<string, any>;
  constructor(private readonly pick: (r: Record<string, any>) => boolean) {}
  see(r: Record<string, any>): void {
    if (this.pick(r) && (!this.record || String(r.time) >= String(this.record.time))) this.record = r;
  }
}

/**
 * Reviews one instance. `rows` are the instance's calls (readCalls of its trail); only those in
 * the window count. `granted` is the manifest's tools as reviewed (with exceptions, if any, the
 * caller adds).
 */
export function reviewInstance(
  m: Manifest,
  connector: Connector,
  allRows: Iterable<CallRow>,
  opts: { now: number; days: number },
): InstanceReview {
  const reviewer = new InstanceReviewer(m, connector, opts);
  for (const r of allRows) reviewer.add(r);
  return reviewer.finish();
}

/**
 * The same review, one call at a time as the trail streams past: memory holds counters per grant,
 * resource and person, never the calls, whatever the trail's length.
 */
export class InstanceReviewer {
  // tools granted only by an exception are reviewed too, under their exception's grant
  private readonly exceptionTools: Map<string, string>;
  private readonly tools: Connector['tools'];
  private readonly toolUse: Map<string, Use & { byMap: Map<string, number> }>;
  private readonly resUse = new Map<string, ResourceReview & { byMap: Map<string, number> }>();
  private readonly evidenced = new Set<string>();
  private readonly wants = new Map<string, { tool: string; what: string; calls: number }>();
  private readonly approvals = new Map<string, ApprovalReview & { byMap: Map<string, number> }>();
  private readonly exc = new Map<
    string,
    { exception: string; tool: string; calls: number; last?: { time: string; by: string } }
  >();
  private readonly minted = new Newest(
    (r) => r.phase === 'credential' && (r.action === 'mint' || r.action === 'renew') && r.outcome === 'ok',
  );
  private readonly opened = new Newest((r) => r.phase === 'intent' && typeof r.executor?.issued === 'string');
  private readonly from: number;
  private allowed = 0;
  private denied = 0;
  private rows = 0;

  constructor(
    private readonly m: Manifest,
    private readonly connector: Connector,
    private readonly opts: { now: number; days: number },
  ) {
    this.from = opts.now - opts.days * DAY_MS;
    this.exceptionTools = new Map(
      (m.exceptions ?? []).filter((e) => m.tools[e.tool] === undefined).map((e) => [e.tool, e.id]),
    );
    this.tools = connector.tools.filter((t) => m.tools[t.name] !== undefined || this.exceptionTools.has(t.name));
    this.toolUse = new Map(this.tools.map((t) => [t.name, newUse()]));
    for (const t of this.tools) {
      const grant = this.grantOf(t.name);
      for (const [key, c] of Object.entries(t.constraints)) {
        if (!c.resources || grant[key] === undefined) continue;
        for (const value of c.resources(grant[key])) {
          this.resUse.set(`${t.name}\0${key}\0${value}`, {
            tool: t.name,
            key,
            noun: c.noun,
            value,
            evidenced: false,
            ...newUse(),
          });
        }
      }
    }
  }

  private grantOf(tool: string): Record<string, any> {
    return this.m.tools[tool] ?? this.m.exceptions?.find((e) => e.tool === tool)?.grant ?? {};
  }

  private want(tool: string, what: string): void {
    const k = `${tool}\0${what}`;
    const w = this.wants.get(k) ?? { tool, what, calls: 0 };
    w.calls++;
    this.wants.set(k, w);
  }

  /** One call of the trail; calls of other instances and outside the window are passed over. */
  add(r: CallRow): void {
    if (r.instance !== undefined && r.instance !== this.m.id) return;
    const t0 = Date.parse(r.time);
    if (!(t0 >= this.from && t0 <= this.opts.now)) return;
    this.rows++;
    for (const x of r.records) {
      this.minted.see(x);
      this.opened.see(x);
    }
    if (usedGrant(r)) this.allowed++;
    else if (r.decision === 'deny') this.denied++;
    const use = this.toolUse.get(r.tool);
    if (!use) {
      if (r.decision === 'deny' && r.rule === 'tools') this.want(r.tool, 'the tool (not granted)');
      return;
    }
    count(use, r);
    const t = this.connector.tools.find((x) => x.name === r.tool)!;
    const grant = this.grantOf(r.tool);
    for (const f of factsOf(r)) {
      const c = t.constraints[f.on];
      if (!c?.resources || grant[f.on] === undefined) continue;
      const entries = c.resources(grant[f.on]).filter((v) => c.allows([v] as never, f.value));
      if (usedGrant(r)) this.evidenced.add(`${r.tool}\0${f.on}`);
      if (!entries.length) {
        if (r.decision === 'deny') this.want(r.tool, `${c.noun} ${f.value}`);
        continue;
      }
      for (const v of entries) count(this.resUse.get(`${r.tool}\0${f.on}\0${v}`)!, r);
    }
    const steps = r.records.filter((x) => x.phase === 'approval');
    if (steps.length) {
      const a = this.approvals.get(r.tool) ?? {
        tool: r.tool,
        asked: 0,
        approved: 0,
        declined: 0,
        expired: 0,
        approvers: [],
        byMap: new Map(),
      };
      this.approvals.set(r.tool, a);
      a.asked++;
      const final = [...steps].reverse().find((x) => ['approved', 'declined', 'expired'].includes(x.status));
      if (final?.status === 'approved') {
        a.approved++;
        const by = String(final.by ?? 'unknown');
        a.byMap.set(by, (a.byMap.get(by) ?? 0) + 1);
      } else if (final?.status === 'declined') a.declined++;
      else if (final?.status === 'expired') a.expired++;
    }
    const e = exceptionOf(r);
    if (e && usedGrant(r)) {
      const k = `${e}\0${r.tool}`;
      const x = this.exc.get(k) ?? { exception: e, tool: r.tool, calls: 0 };
      x.calls++;
      if (!x.last || r.time >= x.last.time) x.last = { time: r.time, by: who(r) };
      this.exc.set(k, x);
    }
  }

  finish(): InstanceReview {
    const { m, opts } = this;
    const toolList: ToolReview[] = this.tools.map((t) => ({
      tool: t.name,
      access: t.access,
      ...(this.exceptionTools.has(t.name) ? { exception: this.exceptionTools.get(t.name) } : {}),
      ...finish(this.toolUse.get(t.name)!),
    }));
    const resources = [...this.resUse.values()].map((u) =>
      finish({ ...u, evidenced: this.evidenced.has(`${u.tool}\0${u.key}`) }),
    );
    return {
      instance: m.id,
      file: m.file,
      owner: m.owner,
      review_by: m.review_by,
      window: { from: new Date(this.from).toISOString(), to: new Date(opts.now).toISOString(), days: opts.days },
      calls: { allowed: this.allowed, denied: this.denied, other: this.rows - this.allowed - this.denied },
      tools: toolList,
      resources,
      unused: toolList.filter((t) => t.allowed === 0 && !t.exception).map((t) => t.tool),
      untouched: resources.filter((r) => r.allowed === 0).map(({ tool, key, value }) => ({ tool, key, value })),
      refusedWants: [...this.wants.values()].sort((a, b) => b.calls - a.calls),
      approvals: [...this.approvals.values()].map((a) => {
        const { byMap, ...rest } = a;
        return { ...rest, approvers: [...byMap.entries()].map(([w, calls]) => ({ who: w, calls })) };
      }),
      exceptionCalls: [...this.exc.values()],
      credential: credentialAge(m, this.minted, this.opened, opts.now),
      exceptions: (m.exceptions ?? []).map((e) => ({
        id: e.id,
        tool: e.tool,
        owner: e.owner,
        approver: e.approver,
        reason: e.reason,
        starts: e.starts,
        expires: e.expires,
        status: isActive(e, opts.now)
          ? ('active' as const)
          : !e.expires || selfApproved(e)
            ? ('invalid' as const)
            : Date.parse(e.expires) <= opts.now
              ? ('expired' as const)
              : ('not started' as const),
      })),
    };
  }
}

/**
 * How old the instance's credential is, from the best source there is: a minted one, the newest
 * token the trail shows minted; else what the upstream reported when the instance opened it (the
 * Cloudflare token's issued_on, the Doppler token's created_at), kept in each call's executor;
 * else the manifest's credential_issued.
 */
function credentialAge(m: Manifest, minted: Newest, opened: Newest, now: number): InstanceReview['credential'] {
  const age = (issued: string) =>
    Math.floor((now - Date.parse(/T/.test(issued) ? issued : `${issued}T00:00:00Z`)) / DAY_MS);
  const t = m.mint ? minted.record : undefined;
  if (m.mint && t)
    return {
      ref: m.credential,
      issued: t.time,
      age_days: age(t.time),
      source: `minted per run (ttl ${m.mint.ttl}): the newest token in the trail, ${t.token_id}`,
    };
  const up = opened.record;
  if (up)
    return {
      ref: m.credential,
      issued: up.executor.issued,
      age_days: age(up.executor.issued),
      source: `reported by ${m.connector} when the instance opened it`,
    };
  if (m.credential_issued)
    return {
      ref: m.credential,
      issued: m.credential_issued,
      age_days: age(m.credential_issued),
      source: 'manifest credential_issued',
    };
  return {
    ref: m.credential,
    source: 'unknown: record credential_issued in the manifest when the credential is issued or rotated',
  };
}

const day = (iso?: string) => (iso ? iso.slice(0, 16).replace('T', ' ') : '—');
const last = (u: Use) => (u.last ? `${day(u.last.time)} by ${u.last.by}` : 'never');

/** A person's report. */
export function reviewText(rs: InstanceReview[]): string {
  const out: string[] = [];
  for (const r of rs) {
    out.push(`${r.instance} (${r.file}) — owner ${r.owner}${r.review_by ? `, review by ${r.review_by}` : ''}`);
    out.push(
      `  window ${r.window.days} days (${r.window.from.slice(0, 10)} → ${r.window.to.slice(0, 10)}): ${r.calls.allowed} allowed, ${r.calls.denied} denied, ${r.calls.other} other`,
    );
    out.push(
      `  credential ${r.credential.ref}: ${r.credential.age_days !== undefined ? `${r.credential.age_days} days old (issued ${r.credential.issued}, ${r.credential.source})` : `age ${r.credential.source}`}`,
    );
    out.push('  tools:');
    for (const t of r.tools)
      out.push(
        `    ${t.tool.padEnd(20)} ${t.access.padEnd(11)} ${String(t.allowed).padStart(5)} allowed ${String(t.denied).padStart(4)} denied   last ${last(t)}${t.exception ? `   [exception ${t.exception}]` : ''}`,
      );
    if (r.resources.length) {
      out.push('  resources:');
      for (const x of r.resources)
        out.push(
          `    ${`${x.tool}.${x.key}`.padEnd(28)} ${x.value.padEnd(20)} ${String(x.allowed).padStart(5)} allowed ${String(x.denied).padStart(4)} denied   last ${last(x)}`,
        );
    }
    out.push(`  unused grants: ${r.unused.join(', ') || 'none'}`);
    out.push(`  untouched resources: ${r.untouched.map((u) => `${u.tool}.${u.key} ${u.value}`).join(', ') || 'none'}`);
    if (r.approvals.length) {
      out.push('  approvals:');
      for (const a of r.approvals)
        out.push(
          `    ${a.tool}: ${a.asked} asked, ${a.approved} approved${a.approvers.length ? ` (${a.approvers.map((p) => `${p.who} ×${p.calls}`).join(', ')})` : ''}, ${a.declined} declined, ${a.expired} expired`,
        );
    }
    for (const e of r.exceptions)
      out.push(
        `  exception ${e.id}: ${e.tool} for ${e.owner}, approved by ${e.approver}, ${e.starts ? `${e.starts} → ` : 'until '}${e.expires ?? '(no expiry)'} — ${e.status}; ${e.reason}`,
      );
    if (r.exceptionCalls.length) {
      out.push('  calls under exceptions:');
      for (const e of r.exceptionCalls)
        out.push(
          `    ${e.exception}: ${e.tool} ×${e.calls}, last ${e.last ? `${day(e.last.time)} by ${e.last.by}` : '—'}`,
        );
    }
    if (r.refusedWants.length)
      out.push(`  refused (not granted): ${r.refusedWants.map((w) => `${w.tool} ${w.what} ×${w.calls}`).join(', ')}`);
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** A pull request's comment. */
export function reviewMarkdown(rs: InstanceReview[]): string {
  const out: string[] = [];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  for (const r of rs) {
    out.push(`### Access review: ${r.instance}`, '');
    out.push(
      `Owner ${esc(r.owner)}${r.review_by ? `, review by **${r.review_by}**` : ''}. Window: ${r.window.days} days to ${r.window.to.slice(0, 10)} — ${r.calls.allowed} allowed, ${r.calls.denied} denied. Credential \`${r.credential.ref}\`: ${r.credential.age_days !== undefined ? `${r.credential.age_days} days old` : 'age unknown'}.`,
      '',
    );
    out.push('| tool | access | allowed | denied | last use |', '|---|---|---:|---:|---|');
    for (const t of r.tools)
      out.push(
        `| \`${t.tool}\`${t.exception ? ` (exception ${t.exception})` : ''} | ${t.access} | ${t.allowed} | ${t.denied} | ${esc(last(t))} |`,
      );
    if (r.resources.length) {
      out.push('', '| grant | resource | allowed | denied | last use |', '|---|---|---:|---:|---|');
      for (const x of r.resources)
        out.push(`| \`${x.tool}.${x.key}\` | \`${esc(x.value)}\` | ${x.allowed} | ${x.denied} | ${esc(last(x))} |`);
    }
    out.push('', `**Unused grants:** ${r.unused.map((u) => `\`${u}\``).join(', ') || 'none'}  `);
    out.push(
      `**Untouched resources:** ${r.untouched.map((u) => `\`${u.tool}.${u.key} ${esc(u.value)}\``).join(', ') || 'none'}`,
    );
    if (r.approvals.length)
      out.push(
        '',
        ...r.approvals.map(
          (a) =>
            `- approvals for \`${a.tool}\`: ${a.asked} asked, ${a.approved} approved${a.approvers.length ? ` by ${a.approvers.map((p) => `${p.who} (${p.calls})`).join(', ')}` : ''}, ${a.declined} declined, ${a.expired} expired`,
        ),
      );
    if (r.exceptions.length)
      out.push(
        '',
        ...r.exceptions.map(
          (e) =>
            `- exception \`${e.id}\` (${e.status}): \`${e.tool}\` for ${esc(e.owner)}, approved by ${esc(e.approver)}, until ${e.expires ?? '(no expiry)'} — ${esc(e.reason)}`,
        ),
      );
    if (r.exceptionCalls.length)
      out.push('', ...r.exceptionCalls.map((e) => `- exception \`${e.exception}\`: \`${e.tool}\` ×${e.calls}`));
    out.push('');
  }
  return out.join('\n').trimEnd();
}
