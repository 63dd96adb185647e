// `fleet review --format html` and `fleet audit show --format html`: one self-contained page a
// reviewer can attach to a ticket. No network (a Content-Security-Policy allows nothing outside the
// page, and the page's own style and script only by their hashes, so markup smuggled in through
// a trail value could not run or load anything even if it escaped esc()), inline CSS and SVG, a
// little inline script for sorting and filtering that the page does not need to be read.
import { createHash } from 'node:crypto';
import { DAY_MS } from '../../base/duration.js';
import type { InstanceReview } from '../evidence.js';
import { CUSTODY_KEPT, LATENCY_BUCKETS, type Activity, type CustodyEntry } from './collect.js';
import { esc, lineDiff } from './escape.js';
import { barChart } from './svg.js';

/** The state of one instance's trail as read for the report: the headline. */
export interface TrailState {
  instance: string;
  /** where it was read from: a file path, or the PostgreSQL store */
  source: string;
  status: 'intact' | 'tampered' | 'missing' | 'unreadable';
  /** the verdict in words (verify's line) */
  verdict: string;
  records: number;
  torn?: number;
  checkpoints?: { checked: number; newest?: number };
}

export interface InstanceSection {
  review: InstanceReview;
  production: boolean;
  /** the manifest as it is, and as `--propose` would write it */
  proposal?: { cuts: string[]; before: string; after: string };
}

export interface ReportInput {
  title: string;
  generated: Date;
  version: string;
  /** the command line that made it, for the record */
  command: string;
  window?: { from: string; to: string; days: number };
  trails: TrailState[];
  instances: InstanceSection[];
  activity: Activity;
}

const CSS = `
:root{--ok:#0a6b2d;--bad:#a4121b;--warn:#8a5a00;--muted:#555;--line:#ccc;--bg2:#f4f5f7}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:var(--muted);margin:0 0 12px}
.banner{border:2px solid;border-radius:6px;padding:10px 14px;margin:12px 0}.banner h2{border:0;margin:0 0 6px;padding:0}
.banner.ok{border-color:var(--ok);background:#eaf6ee}.banner.bad{border-color:var(--bad);background:#fdecee}.banner.warn{border-color:var(--warn);background:#fff6e0}
.st-intact{color:var(--ok);font-weight:600}.st-tampered,.st-unreadable{color:var(--bad);font-weight:700}.st-missing{color:var(--warn);font-weight:700}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{border:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th{background:var(--bg2)}th[data-sort]{cursor:pointer}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.unused td,tr.untouched td{background:#fff6e0}tr.k-denied td:last-child,tr.k-declined td:last-child,tr.k-error td:last-child,tr.k-unknown td:last-child{color:var(--bad);font-weight:600}
tr.k-ok td:last-child{color:var(--ok)}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:140px}.card b{display:block;font-size:20px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre.diff{background:var(--bg2);padding:8px;overflow-x:auto;white-space:pre-wrap}pre.diff .del{color:var(--bad);background:#fdecee;display:block}pre.diff .add{color:var(--ok);background:#eaf6ee;display:block}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:4px 16px}.charts h3{margin:8px 0 2px}table.narrow{width:auto}
.chart{max-width:100%;height:auto}.chart .axis{stroke:#777}.chart .tick{font-size:10px;fill:#333}.chart .calls{fill:#2f6db5}.chart .denials{fill:#c0392b}.chart .lat{fill:#6b4fa1}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}.legend .calls{background:#2f6db5}.legend .denials{background:#c0392b}
.due-past{color:var(--bad);font-weight:700}.due-soon{color:var(--warn);font-weight:700}
label{font-weight:600;margin-right:6px}input[type=search]{padding:4px 6px;min-width:260px}
nav ul{columns:2;padding-left:18px}
.small{font-size:12px;color:var(--muted)}
@media print{body{max-width:none;padding:0}input,.noprint{display:none}a{color:inherit;text-decoration:none}section{break-inside:avoid-page}}
`;

// Sorting (click a header) and filtering (the custody search box). The page reads the same without it.
const SCRIPT = `
document.querySelectorAll('th[data-sort]').forEach(function(th){th.tabIndex=0;function go(){var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),n=th.classList.contains('n'),d=th.getAttribute('aria-sort')==='ascending'?-1:1;Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort')});th.setAttribute('aria-sort',d>0?'ascending':'descending');Array.prototype.slice.call(b.rows).sort(function(x,y){var p=x.cells[i].textContent,q=y.cells[i].textContent;return d*(n?(parseFloat(p)||0)-(parseFloat(q)||0):p.localeCompare(q))}).forEach(function(r){b.appendChild(r)})}th.addEventListener('click',go);th.addEventListener('keydown',function(e){if(e.key==='Enter')go()})});
document.querySelectorAll('input[data-filter]').forEach(function(inp){var t=document.getElementById(inp.getAttribute('data-filter'));inp.addEventListener('input',function(){var q=inp.value.toLowerCase();Array.prototype.forEach.call(t.tBodies[0].rows,function(r){r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0})})});
`;

const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
export const CSP = `default-src 'none'; style-src ${hash(CSS)}; script-src ${hash(SCRIPT)}; img-src data:; base-uri 'none'; form-action 'none'`;
const when = (iso?: string) => (iso ? esc(iso.replace('T', ' ').slice(0, 19)) : '—');
const dur = (ms: number) =>
  ms < 60_000
    ? `${Math.round(ms / 1000)} s`
    : ms < 3_600_000
      ? `${Math.round(ms / 60_000)} min`
      : `${(ms / 3_600_000).toFixed(1)} h`;
const th = (cols: [string, boolean?][]) =>
  `<thead><tr>${cols.map(([c, n]) => `<th scope="col" data-sort${n ? ' class="n"' : ''}>${esc(c)}</th>`).join('')}</tr></thead>`;

function trailBanner(trails: TrailState[]): string {
  const bad = trails.filter((t) => t.status === 'tampered' || t.status === 'unreadable');
  const missing = trails.filter((t) => t.status === 'missing');
  const cls = bad.length ? 'bad' : missing.length ? 'warn' : 'ok';
  const head = bad.length
    ? `TAMPERED OR UNREADABLE: ${bad.map((t) => esc(t.instance)).join(', ')} — nothing below about ${bad.length > 1 ? 'these trails' : 'this trail'} can be trusted`
    : missing.length
      ? `NO TRAIL for ${missing.map((t) => esc(t.instance)).join(', ')} — "unused" below means "no evidence", not "not used"`
      : `Every trail intact (${trails.length})`;
  const rows = trails.map(
    (t) =>
      `<tr><th scope="row">${esc(t.instance)}</th><td class="st-${t.status}">${esc(t.status)}</td><td class="mono">${esc(t.source)}</td><td class="n">${t.records}</td><td>${t.checkpoints ? `${t.checkpoints.checked} matched${t.checkpoints.newest !== undefined ? `, newest at record ${t.checkpoints.newest}` : ''}` : 'none compared'}</td><td>${esc(t.verdict)}${t.torn ? ` <span class="small">(line ${t.torn} cut off mid-write; not counted)</span>` : ''}</td></tr>`,
  );
  return `<section id="trail" class="banner ${cls}" aria-labelledby="trail-h"><h2 id="trail-h">${head}</h2><table><caption class="small">The trails read for this report, verified before anything was counted</caption>${th([['instance'], ['state'], ['read from'], ['records', true], ['checkpoints'], ['verdict']])}<tbody>${rows.join('')}</tbody></table></section>`;
}

function summary(input: ReportInput): string {
  const a = input.activity;
  const allowed = input.instances.reduce((s, i) => s + i.review.calls.allowed, 0);
  const denied = input.instances.reduce((s, i) => s + i.review.calls.denied, 0);
  const card = (label: string, value: string | number) => `<div class="card">${esc(label)}<b>${esc(value)}</b></div>`;
  return `<section id="summary" aria-labelledby="summary-h"><h2 id="summary-h">Summary</h2><div class="cards">${card('calls read', a.calls)}${card('allowed in window', allowed)}${card('denied in window', denied)}${card('production actions', a.custodyTotal)}${card('approved', a.approvals.approved)}${card('declined / expired', `${a.approvals.declined} / ${a.approvals.expired}`)}${card('late answers', a.approvals.late)}${card('suspensions in force', a.suspensions.length)}</div><p class="small">Trail records from ${when(a.first)} to ${when(a.last)} (UTC).</p></section>`;
}

function activity(input: ReportInput): string {
  const out: string[] = ['<section id="activity" aria-labelledby="activity-h"><h2 id="activity-h">Activity</h2>'];
  out.push(
    '<p class="legend"><span><i class="calls"></i>calls</span><span><i class="denials"></i>denials</span></p><div class="charts">',
  );
  for (const [instance, perDay] of [...input.activity.days.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const days = [...perDay.values()].sort((a, b) => a.day.localeCompare(b.day));
    out.push(`<div><h3>${esc(instance)}: calls and denials per day</h3>`);
    out.push(
      barChart(
        days.map((d) => ({
          label: d.day.slice(5),
          parts: [
            [d.calls - d.denials, 'calls'],
            [d.denials, 'denials'],
          ],
          title: `${d.day}: ${d.calls} calls, ${d.denials} denied`,
        })),
        { title: `${instance}: calls and denials per day`, width: 480, height: 140 },
      ),
    );
    out.push('</div>');
  }
  const lat = input.activity.latency;
  const n = lat.reduce((s, v) => s + v, 0);
  out.push(`<div><h3>Approval latency (${n} approved)</h3>`);
  if (n) {
    out.push(
      barChart(
        LATENCY_BUCKETS.map(([, label], i) => ({
          label,
          parts: [[lat[i]!, 'lat']],
          title: `${label}: ${lat[i]} approval(s)`,
        })),
        { title: 'Time from request to approval', width: 480, height: 140 },
      ),
    );
    out.push(
      `<table class="small narrow"><caption>Time from request to approval</caption>${th([['after'], ['approvals', true]])}<tbody>${LATENCY_BUCKETS.map(([, label], i) => `<tr><td>${esc(label)}</td><td class="n">${lat[i]}</td></tr>`).join('')}</tbody></table>`,
    );
  } else out.push('<p>No approval in the trails read.</p>');
  out.push('</div></div></section>');
  return out.join('');
}

function custodyRow(c: CustodyEntry): string {
  const asked = `${esc(c.actor)}<br><span class="small">${esc(c.proof)} · ${esc(c.thread)}</span>`;
  const approved = `${esc(c.approval)}${c.approvalMs !== undefined ? ` <span class="small">after ${esc(dur(c.approvalMs))}</span>` : ''}${c.ignored.map((i) => `<br><span class="small">not counted: ${esc(i)}</span>`).join('')}`;
  const executed = `${esc(c.client)}<br><span class="small">${esc(c.executor)} · ${esc(c.credential)}</span>`;
  return `<tr class="k-${esc(c.kind)}"><td class="mono">${when(c.time)}</td><td>${esc(c.instance)}.${esc(c.tool)}${c.task ? `<br><span class="small">task ${esc(c.task)}</span>` : ''}</td><td>${asked}</td><td>${approved}</td><td>${executed}</td><td>${esc(c.outcome)}</td></tr>`;
}

function custody(input: ReportInput): string {
  const a = input.activity;
  const shown = a.custody.length;
  const note =
    a.custodyTotal > shown
      ? `The newest ${shown} of ${a.custodyTotal} production actions; every one: <code>fleet audit show --custody --json</code>.`
      : `${a.custodyTotal} production action(s).`;
  const body = [...a.custody].reverse().map(custodyRow).join('');
  return `<section id="custody" aria-labelledby="custody-h"><h2 id="custody-h">Custody of production actions</h2><p>${note} Asked (who, how proven, which thread) → approved (who, after how long; answers that did not count) → executed (client principal, executor, credential) → outcome.</p><p class="noprint"><label for="custody-q">Filter</label><input type="search" id="custody-q" data-filter="custody-t" placeholder="actor, tool, approver, outcome…"></p><table id="custody-t">${th([['time (UTC)'], ['action'], ['asked'], ['approved'], ['executed'], ['outcome']])}<tbody>${body || '<tr><td colspan="6">No production action in the trails read.</td></tr>'}</tbody></table></section>`;
}

function denials(
  input: ReportInput,
  line: (instance: string, tool: string, rule: string) => string | undefined,
): string {
  const a = input.activity;
  const rows = a.denials.map(
    (d) =>
      `<tr><td>${esc(d.rule)}</td><td>${esc(d.instance)}</td><td>${esc(d.tool)}</td><td class="n">${d.count}</td><td class="mono">${when(d.last)}</td><td class="mono">${esc(line(d.instance, d.tool, d.rule) ?? '—')}</td></tr>`,
  );
  return `<section id="denials" aria-labelledby="denials-h"><h2 id="denials-h">Denials by rule</h2><table>${th([['rule'], ['instance'], ['tool'], ['denials', true], ['last (UTC)'], ['manifest line']])}<tbody>${rows.join('') || '<tr><td colspan="6">No denial.</td></tr>'}</tbody></table>${a.denialsOther ? `<p class="small">${a.denialsOther} more denial(s) in further groups, not shown.</p>` : ''}</section>`;
}

function dueClass(reviewBy: string | undefined, now: number): string {
  if (!reviewBy) return 'due-past';
  const t = Date.parse(`${reviewBy}T00:00:00Z`);
  return t <= now ? 'due-past' : t - now < 30 * DAY_MS ? 'due-soon' : '';
}

function instanceSection(s: InstanceSection, input: ReportInput): string {
  const r = s.review;
  const now = input.generated.getTime();
  const out: string[] = [
    `<section class="instance" id="i-${esc(r.instance)}" aria-labelledby="h-${esc(r.instance)}"><h2 id="h-${esc(r.instance)}">${esc(r.instance)}${s.production ? ' <span class="small">(production)</span>' : ''}</h2>`,
  ];
  out.push(
    `<p>Owner ${esc(r.owner)} · manifest <code>${esc(r.file)}</code> · review by <span class="${dueClass(r.review_by, now)}">${esc(r.review_by ?? 'not set')}</span> · window ${r.window.days} days: ${r.calls.allowed} allowed, ${r.calls.denied} denied, ${r.calls.other} other.</p>`,
  );
  out.push(
    `<p>Credential <code>${esc(r.credential.ref)}</code>: ${r.credential.age_days !== undefined ? `${r.credential.age_days} days old (issued ${esc(r.credential.issued)}; ${esc(r.credential.source)})` : `age ${esc(r.credential.source)}`}.</p>`,
  );
  out.push(
    `<h3>Grants against use</h3><table>${th([['tool'], ['access'], ['allowed', true], ['denied', true], ['last use'], ['by']])}<tbody>`,
  );
  for (const t of r.tools) {
    out.push(
      `<tr class="${t.allowed === 0 && !t.exception ? 'unused' : ''}"><td><code>${esc(t.tool)}</code>${t.exception ? ` <span class="small">exception ${esc(t.exception)}</span>` : ''}${t.allowed === 0 && !t.exception ? ' <strong>unused</strong>' : ''}</td><td>${esc(t.access)}</td><td class="n">${t.allowed}</td><td class="n">${t.denied}</td><td class="mono">${t.last ? when(t.last.time) : 'never'}</td><td>${esc(t.by.map((b) => `${b.who} ×${b.calls}`).join(', '))}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  if (r.resources.length) {
    out.push(`<table>${th([['grant'], ['resource'], ['allowed', true], ['denied', true], ['last use']])}<tbody>`);
    for (const x of r.resources)
      out.push(
        `<tr class="${x.allowed === 0 ? 'untouched' : ''}"><td><code>${esc(x.tool)}.${esc(x.key)}</code></td><td><code>${esc(x.value)}</code>${x.allowed === 0 ? ' <strong>untouched</strong>' : ''}</td><td class="n">${x.allowed}</td><td class="n">${x.denied}</td><td class="mono">${x.last ? when(x.last.time) : 'never'}</td></tr>`,
      );
    out.push('</tbody></table>');
  }
  if (r.refusedWants.length)
    out.push(
      `<p>Refused, not granted: ${r.refusedWants.map((w) => `<code>${esc(w.tool)}</code> ${esc(w.what)} ×${w.calls}`).join(', ')}</p>`,
    );
  if (r.exceptions.length) {
    out.push(
      `<h3>Exceptions</h3><table>${th([['id'], ['tool'], ['for'], ['approved by'], ['until'], ['status'], ['reason']])}<tbody>`,
    );
    for (const e of r.exceptions)
      out.push(
        `<tr><td>${esc(e.id)}</td><td><code>${esc(e.tool)}</code></td><td>${esc(e.owner)}</td><td>${esc(e.approver)}</td><td>${esc(e.expires ?? '(no expiry)')}</td><td>${esc(e.status)}</td><td>${esc(e.reason)}</td></tr>`,
      );
    out.push('</tbody></table>');
  }
  const susp = input.activity.suspensions.filter((x) => x.target === r.instance || x.target.startsWith('client:'));
  if (susp.length)
    out.push(
      `<h3>Suspensions in force</h3><ul>${susp.map((x) => `<li>${esc(x.target)} since ${when(x.at)} by ${esc(x.by)}: ${esc(x.reason)}</li>`).join('')}</ul>`,
    );
  if (s.proposal) {
    out.push(
      `<h3>What <code>fleet review --propose</code> would write</h3><ul>${s.proposal.cuts.map((c) => `<li>${esc(c)}</li>`).join('')}</ul><pre class="diff" aria-label="manifest diff">`,
    );
    for (const d of lineDiff(s.proposal.before, s.proposal.after)) {
      if (d.op === ' ') out.push(`${esc(`  ${d.text}`)}\n`);
      else out.push(`<span class="${d.op === '-' ? 'del' : 'add'}">${esc(`${d.op} ${d.text}`)}</span>`);
    }
    out.push('</pre>');
  } else out.push('<p>Nothing to narrow: every grant and listed resource was used in the window.</p>');
  out.push('</section>');
  return out.join('');
}

/** The whole page. `line` finds the manifest line of a denial's rule, where the instance's manifest is known. */
export function renderReport(
  input: ReportInput,
  line: (instance: string, tool: string, rule: string) => string | undefined = () => undefined,
): string {
  const toc = [
    ['trail', 'Trail state'],
    ['summary', 'Summary'],
    ['custody', 'Custody of production actions'],
    ['denials', 'Denials by rule'],
    ['activity', 'Activity'],
    ...input.instances.map((s) => [`i-${s.review.instance}`, s.review.instance] as [string, string]),
  ];
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(input.title)}</title><style>${CSS}</style></head><body>`,
    `<header><h1>${esc(input.title)}</h1><p class="meta">Generated ${when(input.generated.toISOString())} UTC by mcp-fleet ${esc(input.version)} · <code>${esc(input.command)}</code>${input.window ? ` · window ${input.window.days} days, ${when(input.window.from)} → ${when(input.window.to)}` : ''}</p></header>`,
    '<main>',
    trailBanner(input.trails),
    `<nav aria-label="Contents"><ul>${toc.map(([id, label]) => `<li><a href="#${esc(id)}">${esc(label)}</a></li>`).join('')}</ul></nav>`,
    summary(input),
    custody(input),
    denials(input, line),
    activity(input),
    ...input.instances.map((s) => instanceSection(s, input)),
    '</main>',
    `<footer class="small"><p>Custody rows kept: the newest ${CUSTODY_KEPT}. Every value from a trail is shown as text.</p></footer>`,
    `<script>${SCRIPT}</script></body></html>`,
    '',
  ].join('\n');
}
