// `fleet review --propose`: a narrowed manifest from the evidence of a review — grants never used
// in the window removed, resource lists cut to the entries allowed calls used, upstream permissions
// no remaining grant needs dropped — written as an edit of the manifest's own YAML (comments and
// layout kept) so it goes through `fleet verify` and `fleet diff` like any other change. And the
// check that backs it: every call the window allowed would still be allowed.
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import type { CallRow } from '../audit/read.js';
import { decide } from '../call/policy.js';
import { neededBy, needsOf } from '../connector/scopes.js';
import type { Connector } from '../connector/tool.js';
import type { Manifest } from '../base/manifest.js';
import { exceptionOf, factsOf, usedGrant, type InstanceReview } from './evidence.js';

export interface Narrowing {
  /** the proposed manifest text; equal to the input when nothing can be cut */
  text: string;
  /** plain-language list of what was cut */
  cuts: string[];
}

/** Removes the items at `indexes` of the sequence at `path`. */
function dropItems(doc: Document, path: (string | number)[], keep: (value: unknown) => boolean): number {
  const seq = doc.getIn(path, true);
  if (!isSeq(seq)) return 0;
  let dropped = 0;
  for (let i = seq.items.length - 1; i >= 0; i--) {
    const item = seq.items[i] as { toJSON?: () => unknown } | unknown;
    const value =
      item && typeof item === 'object' && 'toJSON' in (item as object)
        ? (item as { toJSON: () => unknown }).toJSON()
        : item;
    if (!keep(value)) {
      seq.items.splice(i, 1);
      dropped++;
    }
  }
  return dropped;
}

/** Where in the upstream block a declared permission is written. */
function permissionPath(
  upstream: unknown,
  value: string,
  at: (string | number)[] = ['upstream'],
): (string | number)[] | undefined {
  if (Array.isArray(upstream)) return upstream.includes(value) ? at : undefined;
  if (upstream && typeof upstream === 'object') {
    for (const [k, v] of Object.entries(upstream)) {
      const p = permissionPath(v, value, [...at, k]);
      if (p) return p;
    }
  }
  return undefined;
}

export function narrow(text: string, m: Manifest, connector: Connector, review: InstanceReview): Narrowing {
  const doc = parseDocument(text);
  const cuts: string[] = [];
  const remaining = new Map(Object.entries(m.tools));
  for (const tool of review.unused) {
    if (!doc.hasIn(['tools', tool])) continue; // granted by an exception, not by the tools block
    doc.deleteIn(['tools', tool]);
    remaining.delete(tool);
    cuts.push(`revoke ${tool}: no allowed call in ${review.window.days} days`);
  }
  // a resource list is cut only where allowed calls were checked against it: a list that only
  // filters results (list_channels) shows no use in the trail and is left as it is
  const byList = new Map<string, { tool: string; key: string; used: Set<string>; all: string[] }>();
  for (const r of review.resources) {
    if (!remaining.has(r.tool) || !r.evidenced) continue;
    const k = `${r.tool}\0${r.key}`;
    const l = byList.get(k) ?? { tool: r.tool, key: r.key, used: new Set<string>(), all: [] };
    l.all.push(r.value);
    if (r.allowed > 0) l.used.add(r.value);
    byList.set(k, l);
  }
  for (const l of byList.values()) {
    if (!l.used.size || l.used.size === l.all.length) continue;
    const node = doc.getIn(['tools', l.tool, l.key], true);
    if (!isSeq(node)) continue; // a single value (a prefix) is not a list to cut
    const cut = l.all.filter((v) => !l.used.has(v));
    dropItems(doc, ['tools', l.tool, l.key], (v) => l.used.has(String(v)));
    cuts.push(`${l.tool}.${l.key}: drop ${cut.join(', ')} (never used in ${review.window.days} days)`);
  }
  // upstream permissions no remaining grant needs
  // what the remaining grants need, and what the call path itself needs (a proof read with this token)
  const needed = neededBy(connector, m, Object.fromEntries(remaining));
  for (const p of connector.declared(m.upstream)) {
    if (needed.has(p)) continue;
    const path = permissionPath(m.upstream, p);
    if (path && dropItems(doc, path, (v) => v !== p))
      cuts.push(`${path.join('.')}: drop ${p} (no remaining grant needs it; narrow the token too)`);
  }
  if (!cuts.length) return { text, cuts };
  const tools = doc.get('tools', true);
  if (isMap(tools) && tools.items.length === 0) cuts.push('no grant was used: consider removing the instance');
  return { text: doc.toString({ lineWidth: 0, flowCollectionPadding: false }), cuts };
}

export interface Replay {
  checked: number;
  /** allowed by a time-boxed exception, which a proposal leaves as it is: not replayed */
  underException: number;
  /** calls the window allowed that the proposal would refuse (must be empty) */
  refused: { call: string; time: string; tool: string; why: string }[];
}

/** Runs every call the window allowed through the policy of `proposed`. */
export function replay(rows: Iterable<CallRow>, proposed: Manifest, connector: Connector): Replay {
  const r = new Replayer(proposed, connector);
  for (const row of rows) r.add(row);
  return r.result;
}

/** The same replay, one call at a time as the trail streams past (memory holds what would be refused). */
export class Replayer {
  readonly result: Replay = { checked: 0, underException: 0, refused: [] };
  private readonly held: Set<string>;
  constructor(
    private readonly proposed: Manifest,
    private readonly connector: Connector,
  ) {
    this.held = new Set(connector.declared(proposed.upstream));
  }

  add(r: CallRow): void {
    if (!usedGrant(r)) return;
    const { proposed, connector, result } = this;
    if (exceptionOf(r)) {
      result.underException++;
      return;
    }
    result.checked++;
    const refuse = (why: string) => result.refused.push({ call: r.call, time: r.time, tool: r.tool, why });
    const tool = connector.tools.find((t) => t.name === r.tool);
    if (!tool || proposed.tools[r.tool] === undefined) return void refuse(`${r.tool} is no longer granted`);
    const d = decide(tool, proposed, factsOf(r), { via: r.actor ? 'meta' : 'none', actor: r.actor } as never);
    if (!d.allow) return void refuse(d.message);
    // the proposed token must still hold what this call needed: the tool's permissions, and those of
    // the proof the call was made with (a slack-message proof reads the request back with the token)
    const proven = !!r.proof && r.proof !== 'asserted' && r.proof !== 'none' && !r.proof.startsWith('failed');
    const lacks = (needs: string[]) => needs.filter((p) => !this.held.has(p));
    const forTool = lacks(needsOf(tool, proposed.tools[r.tool]));
    const forProof = proven ? lacks(connector.pathNeeds?.(proposed) ?? []) : [];
    if (forProof.length)
      refuse(`its ${r.proof} proof of ${r.actor} would fail: the proposed token lacks ${forProof.join(', ')}`);
    else if (forTool.length) refuse(`the proposed token lacks ${forTool.join(', ')}, which ${r.tool} needs`);
  }
}
