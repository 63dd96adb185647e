// The semantic comparison behind `fleet diff`: manifests are compared as grants, not as text.
// Each change is classed escalation (more access, fewer safeguards), reduction, or neutral, using
// the connectors' constraint kinds: resource lists and globs by the exact sets of names they
// match, other kinds by asking the constraint itself which values it now admits.
import { describeAttribution, proofStrength } from '../manifest/attribution.js';
import { parseDuration } from '../base/duration.js';
import { isProductionReach, parseProduction } from '../base/production.js';
import { parseRate } from '../base/rate.js';
import { ManifestError, readYaml } from '../base/yaml.js';
import type { Constraint } from '../connector/constraints.js';
import type { Connector } from '../connector/tool.js';
import { ELICITATION } from '../call/approval.js';
import { extensionsOf } from '../connector/extensions.js';
import { CLIENTS_FILE } from '../manifest/clients.js';
import { compareClientDocs } from './clients.js';
import { beyond, overlap } from './glob-sets.js';
import {
  APPROVAL_FIELDS,
  APPROVALS_FIELDS,
  ATTRIBUTION_FIELDS,
  AUDIT_FIELDS,
  compareRates,
  RULES_FILE_FIELDS,
  STORE_FIELDS,
  GRANT_FIELDS,
  judgeField,
  MANIFEST_FIELDS,
  spanText,
  UPSTREAM_FIELDS,
  type Order,
} from './field-order.js';

/** One side of a diff: the scopes folder as of a revision, a folder, or the working tree. */
export interface Side {
  /** what the user named: a revision, a folder, or "working tree" */
  label: string;
  /** relative name inside the scopes folder ("slack.prod.yaml", "surface/slack.prod.json") → text */
  files: Map<string, string>;
  /** the path to show for a name, e.g. scopes/slack.prod.yaml */
  display(name: string): string;
}

export type Class = 'escalation' | 'reduction' | 'neutral';

export interface Change {
  class: Class;
  /** "slack.prod", or "fleet" for fleet.yaml */
  instance: string;
  tool?: string;
  /** plain language */
  what: string;
  file: string;
  line: number;
  /** which side the line is on: a revoked grant only has a base line */
  side: 'base' | 'head';
}

interface Doc {
  name: string;
  data: Record<string, any>;
  line(path: string): number;
}

interface Ctx {
  base: Side;
  head: Side;
  connectors: Record<string, Connector>;
  out: Change[];
  baseDocs: Map<string, Doc>;
  headDocs: Map<string, Doc>;
  headBots: string[];
  /** whether the manifest of this name is production on that side (shared/base/production.ts) */
  isProd(name: string, which: 'base' | 'head'): boolean;
}

const ORDER: Record<Class, number> = { escalation: 0, reduction: 1, neutral: 2 };
const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const obj = (v: unknown): Record<string, any> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, any>) : {};

function parse(side: Side, name: string, problems: Change[], which: 'base' | 'head'): Doc | undefined {
  const text = side.files.get(name);
  if (text === undefined) return undefined;
  try {
    const { data, line } = readYaml(text, side.display(name));
    return { name, data: obj(data), line };
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    const p = e.problems[0]!;
    // Unreadable in the proposed change: nothing can be said about what it grants, so assume the worst.
    const cls: Class = which === 'head' ? 'escalation' : 'neutral';
    problems.push({
      class: cls,
      instance: name.replace(/\.ya?ml$/, ''),
      what: `cannot be read (${p.message}); review it by hand`,
      file: p.file,
      line: p.line,
      side: which,
    });
    return undefined;
  }
}

// ---- constraint values -------------------------------------------------------------------------

/** Values worth asking a constraint about: the granted values themselves and their neighbours. */
function candidates(a: unknown, b: unknown): (string | number)[] {
  const out = new Set<string | number>([
    '',
    '*',
    '@channel',
    '@here',
    '@everyone',
    'write',
    'read',
    'admin',
    1,
    0,
    1e9,
  ]);
  const walk = (v: unknown) => {
    if (typeof v === 'string') for (const s of [v, `${v}x`, `${v}/x`, v.slice(0, -1), `x${v}`]) out.add(s);
    else if (typeof v === 'number') for (const n of [v, v + 1, v - 1]) out.add(n);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(a);
  walk(b);
  return [...out];
}

interface Delta {
  wider?: string;
  narrower?: string;
  /** names a resource grant newly lists */
  added?: string[];
}

/** How a constraint's effective value changed, judged by the constraint kind itself. */
export function compareConstraint(c: Constraint<any>, before: unknown, after: unknown): Delta | undefined {
  if (same(before, after)) return undefined;
  const ok = (v: unknown) => v !== undefined && c.schema.safeParse(v).success;
  if (!ok(before) || !ok(after)) return {};
  if (c.resources) {
    const ra = c.resources(before);
    const rb = c.resources(after);
    const wider = beyond(rb, ra);
    const narrower = beyond(ra, rb);
    return {
      wider: wider === undefined ? undefined : JSON.stringify(wider),
      narrower: narrower === undefined ? undefined : JSON.stringify(narrower),
      added: rb.filter((r) => !ra.includes(r)),
    };
  }
  const allows = (g: unknown, v: string | number) => {
    try {
      return c.allows(g, v);
    } catch {
      return false;
    }
  };
  const values = candidates(before, after);
  const wider = values.find((v) => allows(after, v) && !allows(before, v));
  const narrower = values.find((v) => allows(before, v) && !allows(after, v));
  const name = (v: string | number | undefined) =>
    v === undefined || typeof before === 'boolean' ? (v === undefined ? undefined : '') : JSON.stringify(v);
  return { wider: name(wider), narrower: name(narrower) };
}

// ---- rates and approvals -----------------------------------------------------------------------

// ---- credentials -------------------------------------------------------------------------------

/** `credential:` as written: a reference, `{ broker, mint: { ttl } }`, or `{ rotate: { refresh_token, ... } }`. */
function credentialOf(v: unknown): { ref: string; mint?: { ttl: string }; rotate?: boolean } {
  if (v && typeof v === 'object') {
    const o = v as { broker?: unknown; mint?: { ttl?: unknown } | null; rotate?: { refresh_token?: unknown } | null };
    if (o.rotate) return { ref: String(o.rotate.refresh_token), rotate: true };
    return { ref: String(o.broker), mint: { ttl: String(o.mint?.ttl ?? '1h') } };
  }
  return { ref: String(v) };
}

/**
 * A minted credential turned standing is an escalation (the token may then hold anything and live
 * for ever), so is a longer-lived minted token; a reference shared with another instance too.
 */
function compareCredential(
  ctx: Ctx,
  name: string,
  a: Doc,
  b: Doc,
  push: (cls: Class, what: string, path: string) => void,
): void {
  const ca = credentialOf(a.data.credential);
  const cb = credentialOf(b.data.credential);
  if (ca.mint && !cb.mint)
    push(
      'escalation',
      `credential is no longer minted: a standing token ${show(cb.ref)} replaces tokens minted from ${show(ca.ref)} with exactly the declared permissions`,
      'credential',
    );
  if (!ca.mint && cb.mint)
    push(
      'reduction',
      `credential is now minted from broker ${show(cb.ref)}: a short-lived token with exactly the declared permissions (ttl ${cb.mint.ttl})`,
      'credential',
    );
  // a rotating token lives hours, a standing one for ever
  if (ca.rotate && !cb.rotate && !cb.mint)
    push(
      'escalation',
      `credential no longer rotates: a standing token ${show(cb.ref)} that never expires replaces short-lived tokens rotated from ${show(ca.ref)}`,
      'credential',
    );
  if (!ca.rotate && !ca.mint && cb.rotate)
    push(
      'reduction',
      `credential now rotates from refresh token ${show(cb.ref)}: access tokens expire within hours`,
      'credential',
    );
  if (ca.mint && cb.mint && ca.mint.ttl !== cb.mint.ttl) {
    const [x, y] = [parseDuration(ca.mint.ttl) ?? 0, parseDuration(cb.mint.ttl) ?? 0];
    push(
      y > x ? 'escalation' : 'reduction',
      `minted token ttl ${ca.mint.ttl} → ${cb.mint.ttl}${y > x ? ': a leaked token stays valid longer' : ''}`,
      'credential.mint.ttl',
    );
  }
  // (a switch between minted and standing already names the new reference)
  if (ca.ref !== cb.ref && !!ca.mint === !!cb.mint && !!ca.rotate === !!cb.rotate) {
    const sharedWith = [...ctx.headDocs]
      .filter(([n, d]) => n !== name && credentialOf(d.data.credential).ref === cb.ref)
      .map(([n]) => n.replace(/\.ya?ml$/, ''));
    push(
      sharedWith.length ? 'escalation' : 'neutral',
      `credential ${cb.mint ? 'broker ' : ''}reference ${show(ca.ref)} → ${show(cb.ref)}${sharedWith.length ? ` (also used by ${sharedWith.join(', ')})` : ''}`,
      cb.mint ? 'credential.broker' : 'credential',
    );
  }
}

// ---- one manifest ------------------------------------------------------------------------------

function compareManifest(ctx: Ctx, name: string, a: Doc | undefined, b: Doc | undefined): void {
  const instance = name.replace(/\.ya?ml$/, '');
  const at = (doc: Doc, side: Side, path: string, s: 'base' | 'head') => ({
    file: side.display(doc.name),
    line: doc.line(path),
    side: s,
  });
  const head = (path: string) => (b ? at(b, ctx.head, path, 'head') : at(a!, ctx.base, path, 'base'));
  const base = (path: string) => at(a!, ctx.base, path, 'base');
  const push = (
    cls: Class,
    what: string,
    where: { file: string; line: number; side: 'base' | 'head' },
    tool?: string,
  ) => ctx.out.push({ class: cls, instance, tool, what, ...where });

  const connector = ctx.connectors[(b ?? a)!.data.connector];
  const tools = (d: Doc | undefined) => obj(d?.data.tools);
  const access = (tool: string) => connector?.tools.find((t) => t.name === tool)?.access;

  if (!a)
    push('escalation', `new instance (attribution ${describeAttribution(b!.data.attribution)})`, head('instance'));
  if (!b) push('reduction', 'instance removed', base('instance'));

  if (a && b) {
    // every top-level field by its stated order (./field-order.ts); an unlisted one escalates
    const judge = (
      prefix: string,
      table: Record<string, Order>,
      va: Record<string, any>,
      vb: Record<string, any>,
      own: (key: string) => void,
    ) => {
      for (const key of new Set([...Object.keys(table), ...Object.keys(va), ...Object.keys(vb)])) {
        const order = table[key];
        if (order?.kind === 'own') {
          own(key);
          continue;
        }
        for (const j of judgeField(`${prefix}${key}`, order, va[key], vb[key]) ?? [])
          push(j.class, j.what, head(`${prefix}${key}`));
      }
    };
    judge('', MANIFEST_FIELDS, a.data, b.data, (key) => {
      if (key === 'credential') compareCredential(ctx, name, a, b, (cls, what, path) => push(cls, what, head(path)));
      if (key === 'attribution') {
        const attrA = describeAttribution(a.data.attribution);
        const attrB = describeAttribution(b.data.attribution);
        // another proof kind is another identity that names the actor (an OIDC issuer and key set the
        // author may run): an escalation, however strong the new kind is said to be
        const kindOf = (v: unknown) => (typeof v === 'object' && v !== null ? String(obj(v).proof ?? '') : '');
        const newIdentity =
          kindOf(b.data.attribution) !== kindOf(a.data.attribution) &&
          ['issuer', 'jwks', 'audience', 'reader'].some((k) => obj(b.data.attribution)[k] !== undefined);
        if (attrA !== attrB && newIdentity) {
          const nb = obj(b.data.attribution);
          push(
            'escalation',
            `attribution ${attrA} → ${attrB}: actors are now proven by ${['issuer', 'jwks', 'audience', 'reader']
              .filter((k) => nb[k] !== undefined)
              .map((k) => `${k} ${show(nb[k])}`)
              .join(', ')}; whoever controls that names the actor`,
            head('attribution'),
          );
        } else if (attrA !== attrB)
          push(
            proofStrength(b.data.attribution) >= proofStrength(a.data.attribution) ? 'reduction' : 'escalation',
            `attribution ${attrA} → ${attrB}`,
            head('attribution'),
          );
        else if (!same(a.data.attribution, b.data.attribution)) {
          // the same proof kind: its details by their stated order (request channels, max age, issuer...)
          const block = (v: unknown) => (typeof v === 'string' ? {} : obj(v));
          judge('attribution.', ATTRIBUTION_FIELDS, block(a.data.attribution), block(b.data.attribution), () => {});
        }
      }
      if (key === 'clients' && !same(a.data.clients, b.data.clients)) {
        // unset: any client may call
        const ca: string[] | undefined = Array.isArray(a.data.clients) ? a.data.clients.map(String) : undefined;
        const cb: string[] | undefined = Array.isArray(b.data.clients) ? b.data.clients.map(String) : undefined;
        if (!cb) push('escalation', `clients ${show(ca)} removed: any client may now call`, head('clients'));
        else if (!ca) push('reduction', `clients now limited to ${cb.join(', ')}`, head('clients'));
        else {
          const added = cb.filter((x) => !ca.includes(x));
          const removed = ca.filter((x) => !cb.includes(x));
          if (added.length)
            push('escalation', `clients adds ${added.join(', ')}: more routines may call`, head('clients'));
          if (removed.length) push('reduction', `clients drops ${removed.join(', ')}`, head('clients'));
        }
      }
      if (key === 'upstream') judge('upstream.', UPSTREAM_FIELDS, obj(a.data.upstream), obj(b.data.upstream), () => {});
      if (key === 'audit') judge('audit.', AUDIT_FIELDS, obj(a.data.audit), obj(b.data.audit), () => {});
    });
  }

  compareExceptions(a, b, head, base, push);

  const ta = tools(a);
  const tb = tools(b);
  for (const tool of new Set([...Object.keys(ta), ...Object.keys(tb)])) {
    const def = connector?.tools.find((t) => t.name === tool);
    const kind = access(tool) ? ` (${access(tool)})` : '';
    if (!(tool in ta)) {
      const grant = obj(tb[tool]);
      const summary = Object.entries(grant)
        .map(([k, v]) => `${k}: ${show(v)}`)
        .join('; ');
      push(
        'escalation',
        `grants ${tool}${kind}${summary ? ` with ${summary}` : ''}${movedFromDev(ctx, name, connector, def, grant)}`,
        head(`tools.${tool}`),
        tool,
      );
      continue;
    }
    if (!(tool in tb)) {
      push('reduction', `revokes ${tool}${kind}`, base(`tools.${tool}`), tool);
      continue;
    }
    const ga = obj(ta[tool]);
    const gb = obj(tb[tool]);
    for (const key of new Set([...Object.keys(def?.constraints ?? {}), ...Object.keys(ga), ...Object.keys(gb)])) {
      const path = `tools.${tool}.${key}`;
      const where = key in gb ? head(path) : head(`tools.${tool}`);
      const c = def?.constraints[key];
      if (key === 'approval')
        compareApproval(ctx, ga.approval, gb.approval, (cls, what, at) =>
          push(cls, `${tool}: ${what}`, at && key in gb ? head(`${path}.${at}`) : where, tool),
        );
      else if (key === 'rate') compareRate(ga.rate, gb.rate, (cls, what) => push(cls, `${tool}: ${what}`, where, tool));
      else if (key === 'promotion')
        comparePromotion(ga.promotion, gb.promotion, (cls, what) => push(cls, `${tool}: ${what}`, where, tool));
      else if (!c) {
        // neither a constraint of the tool nor a key every grant may carry: no stated order
        for (const j of judgeField(`${tool}.${key}`, GRANT_FIELDS[key], ga[key], gb[key]) ?? [])
          push(j.class, j.what, where, tool);
      } else {
        const before = ga[key] ?? c.fallback;
        const after = gb[key] ?? c.fallback;
        const d = compareConstraint(c, before, after);
        if (!d) continue;
        const change = `${tool}.${key} ${show(before)} → ${show(after)}`;
        if (d.wider !== undefined) {
          const moved = d.added?.length ? movedFromDev(ctx, name, connector, def, { [key]: d.added }) : '';
          push(
            'escalation',
            `${change}: widened${d.wider ? `, now also admits ${d.wider}` : ''}${d.narrower !== undefined ? ` (and no longer ${d.narrower})` : ''}${moved}`,
            where,
            tool,
          );
        } else if (d.narrower !== undefined)
          push('reduction', `${change}: narrowed${d.narrower ? `, no longer admits ${d.narrower}` : ''}`, where, tool);
        else push('neutral', `${change}: same effect`, where, tool);
      }
    }
  }
}

/** Time-boxed exceptions, by id: a new or longer or wider one is an escalation, a removed one a reduction. */
function compareExceptions(
  a: Doc | undefined,
  b: Doc | undefined,
  head: (path: string) => { file: string; line: number; side: 'base' | 'head' },
  base: (path: string) => { file: string; line: number; side: 'base' | 'head' },
  push: (cls: Class, what: string, where: { file: string; line: number; side: 'base' | 'head' }, tool?: string) => void,
): void {
  const list = (d: Doc | undefined) =>
    Array.isArray(d?.data.exceptions) ? (d!.data.exceptions as Record<string, any>[]) : [];
  const ea = list(a);
  const eb = list(b);
  const describe = (e: Record<string, any>) =>
    `${e.tool}${
      e.grant && Object.keys(obj(e.grant)).length
        ? ` with ${Object.entries(obj(e.grant))
            .map(([k, v]) => `${k}: ${show(v)}`)
            .join('; ')}`
        : ''
    } for ${e.owner}, approved by ${e.approver}, until ${e.expires ?? '(no expiry)'}`;
  for (const [j, e] of eb.entries()) {
    const old = ea.find((x) => x.id === e.id);
    if (!old) push('escalation', `exception ${e.id} grants ${describe(e)}`, head(`exceptions.${j}`), e.tool);
    else if (!same(old, e)) {
      const longer =
        String(e.expires ?? '9999') > String(old.expires ?? '9999') ||
        String(e.starts ?? '') < String(old.starts ?? '');
      const wider = old.tool !== e.tool || !same(old.grant, e.grant) || old.approver !== e.approver;
      push(
        longer || wider ? 'escalation' : 'neutral',
        `exception ${e.id} changed: ${describe(old)} → ${describe(e)}`,
        head(`exceptions.${j}`),
        e.tool,
      );
    }
  }
  ea.forEach((e, i) => {
    if (!eb.some((x) => x.id === e.id))
      push('reduction', `exception ${e.id} removed (${e.tool})`, base(`exceptions.${i}`), e.tool);
  });
}

/** For a prod grant: names it adds that a dev instance of the same connector held in the base. */
function movedFromDev(
  ctx: Ctx,
  name: string,
  connector: Connector | undefined,
  def: Connector['tools'][number] | undefined,
  grant: Record<string, unknown>,
): string {
  const [conn] = name.replace(/\.ya?ml$/, '').split('.') as [string, string];
  if (!connector || !def || !ctx.isProd(name, 'head')) return '';
  const notes: string[] = [];
  for (const [key, value] of Object.entries(grant)) {
    const c = def.constraints[key];
    if (!c?.resources || !c.schema.safeParse(value).success) continue;
    for (const r of c.resources(value)) {
      for (const [devName, dev] of ctx.baseDocs) {
        const [dc, di] = devName.replace(/\.ya?ml$/, '').split('.') as [string, string];
        if (dc !== conn || ctx.isProd(devName, 'base')) continue;
        const devRes = Object.entries(obj(dev.data.tools)).flatMap(([t, g]) => {
          const td = connector.tools.find((x) => x.name === t);
          return Object.entries(obj(g)).flatMap(([k, v]) => {
            const dcst = td?.constraints[k];
            return dcst?.resources && dcst.noun === c.noun && dcst.schema.safeParse(v).success ? dcst.resources(v) : [];
          });
        });
        if (devRes.length && overlap([r], devRes) !== undefined)
          notes.push(`${c.noun} ${JSON.stringify(r)} was granted to ${dc}.${di} in the base`);
      }
    }
  }
  return notes.length ? ` — moved from dev: ${[...new Set(notes)].join('; ')}` : '';
}

/** Proof before promotion: dropping it, trusting another instance, a longer window or no smoke check widens. */
function comparePromotion(a: unknown, b: unknown, push: (cls: Class, what: string) => void): void {
  if (same(a, b)) return;
  if (a === undefined) return push('reduction', `now needs evidence from ${obj(b).from} before it runs (promotion)`);
  if (b === undefined)
    return push('escalation', `no longer needs evidence from ${obj(a).from} (promotion requirement removed)`);
  const oa = obj(a);
  const ob = obj(b);
  if (oa.from !== ob.from) push('escalation', `promotion evidence now comes from ${ob.from} instead of ${oa.from}`);
  const [wa, wb] = [parseDuration(String(oa.within)) ?? 0, parseDuration(String(ob.within)) ?? 0];
  if (wb !== wa)
    push(
      wb > wa ? 'escalation' : 'reduction',
      `promotion window ${oa.within} → ${ob.within}${wb > wa ? ': older evidence now counts' : ''}`,
    );
  const [sa, sb] = [oa.smoke !== false, ob.smoke !== false];
  if (sa !== sb)
    push(
      sb ? 'reduction' : 'escalation',
      sb ? 'promotion now needs a passing smoke check' : 'promotion no longer needs a passing smoke check',
    );
}

/** The channel: elicitation lets the calling client answer its own request; any other asks listed people. */
function judgeVia(a: unknown, b: unknown): { class: Class; what: string } | undefined {
  if (a === b) return undefined;
  const what = `approval.via ${a} → ${b}`;
  if (b === ELICITATION)
    return {
      class: 'escalation',
      what: `${what}: the calling client answers its own approval request; the approvers list is not asked`,
    };
  if (a === ELICITATION) return { class: 'reduction', what };
  return { class: 'escalation', what: `${what}: other people answer, elsewhere; review it by hand` };
}

function compareApproval(
  ctx: Ctx,
  a: unknown,
  b: unknown,
  push: (cls: Class, what: string, at?: string) => void,
): void {
  if (same(a, b)) return;
  if (a === undefined) return push('reduction', `now needs an approval (${show(b)})`);
  if (b === undefined) return push('escalation', 'no longer needs an approval');
  const oa = obj(a);
  const ob = obj(b);
  for (const key of new Set([...Object.keys(APPROVAL_FIELDS), ...Object.keys(oa), ...Object.keys(ob)])) {
    const order = APPROVAL_FIELDS[key];
    if (key === 'via') {
      const j = judgeVia(oa.via, ob.via);
      if (j) push(j.class, j.what, key);
      continue;
    }
    if (order?.kind !== 'own') {
      for (const j of judgeField(`approval.${key}`, order, oa[key], ob[key]) ?? []) push(j.class, j.what, key);
      continue;
    }
    // approvers: who may agree, when listed people are asked (a connector's channel); under
    // elicitation the client's user answers and the list is not asked, so the change of channel says it all
    if (oa.via !== ob.via || ob.via === ELICITATION) continue;
    const la: string[] = Array.isArray(oa.approvers) ? oa.approvers.map(String) : [];
    const lb: string[] = Array.isArray(ob.approvers) ? ob.approvers.map(String) : [];
    const added = lb.filter((x) => !la.includes(x));
    const removed = la.filter((x) => !lb.includes(x));
    const bots = added.filter((x) => ctx.headBots.includes(x));
    if (bots.length)
      push(
        'escalation',
        `approvers now include ${bots.join(', ')}, the fleet's own bot: the requesting bot could approve its own request`,
        key,
      );
    const people = added.filter((x) => !bots.includes(x));
    if (people.length) push('escalation', `more people may approve: adds ${people.join(', ')}`, key);
    if (removed.length) push('reduction', `fewer people may approve: drops ${removed.join(', ')}`, key);
  }
}

/** Rates by the largest burst any span of time allows under each (./field-order.ts). */
function compareRate(a: unknown, b: unknown, push: (cls: Class, what: string) => void): void {
  if (same(a, b)) return;
  if (a === undefined) return push('reduction', `now rate-limited to ${b}`);
  if (b === undefined) return push('escalation', `no longer rate-limited (was ${a})`);
  const ra = parseRate(a);
  const rb = parseRate(b);
  if (!ra || !rb) return push('escalation', `rate ${show(a)} → ${show(b)}: not a rate; review it by hand`);
  const { wider, narrower } = compareRates(ra, rb);
  const times = (x: { from: number; to: number }) =>
    x.to / x.from >= 10 ? Math.round(x.to / x.from) : Math.round((x.to / x.from) * 10) / 10;
  if (wider) {
    return push(
      'escalation',
      `rate ${a} → ${b}: widened, up to ${wider.to} calls ${spanText(wider.span)} where ${wider.from} were allowed (${times(wider)}×)${narrower ? `; fewer over other spans (${narrower.to} ${spanText(narrower.span)} instead of ${narrower.from})` : ''}`,
    );
  }
  if (narrower)
    return push(
      'reduction',
      `rate ${a} → ${b}: narrowed, at most ${narrower.to} calls ${spanText(narrower.span)} where ${narrower.from} were allowed`,
    );
  push('neutral', `rate ${a} → ${b}: same calls over every span`);
}

// ---- fleet.yaml and surfaces -------------------------------------------------------------------

function judgeFleetBlock(
  ctx: Ctx,
  doc: Doc,
  prefix: string,
  fields: Record<string, Order>,
  a: Record<string, any>,
  b: Record<string, any>,
): void {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    for (const j of judgeField(`${prefix}${k}`, fields[k], a[k], b[k]) ?? [])
      ctx.out.push({
        class: j.class,
        instance: 'fleet',
        what: j.what,
        file: ctx.head.display(doc.name),
        line: doc.line(`${prefix}${k}`),
        side: 'head',
      });
  }
}

function compareFleet(ctx: Ctx, a: Doc | undefined, b: Doc | undefined): void {
  const push = (cls: Class, what: string, doc: Doc, side: Side, path: string, s: 'base' | 'head') =>
    ctx.out.push({ class: cls, instance: 'fleet', what, file: side.display(doc.name), line: doc.line(path), side: s });
  const rules = (d: Doc | undefined) =>
    new Map<string, [number, Record<string, any>]>(
      (Array.isArray(d?.data.rules) ? d!.data.rules : []).map((r: unknown, i: number) => [
        String(obj(r).id),
        [i, obj(r)],
      ]),
    );
  const ra = rules(a);
  const rb = rules(b);
  for (const [id, [i, r]] of ra) {
    if (!rb.has(id)) push('escalation', `fleet rule ${id} (${r.kind}) removed`, a!, ctx.base, `rules.${i}`, 'base');
  }
  for (const [id, [i, r]] of rb) {
    const old = ra.get(id)?.[1];
    if (!old) push('reduction', `fleet rule ${id} (${r.kind}) added`, b!, ctx.head, `rules.${i}`, 'head');
    else {
      const keys = [...new Set([...Object.keys(old), ...Object.keys(r)])].filter((k) => !same(old[k], r[k]));
      if (keys.length)
        push(
          keys.every((k) => k === 'why') ? 'neutral' : 'escalation',
          `fleet rule ${id} changed (${keys.map((k) => `${k}: ${show(old[k])} → ${show(r[k])}`).join('; ')})`,
          b!,
          ctx.head,
          `rules.${i}`,
          'head',
        );
    }
  }
  const bots = (d: Doc | undefined): string[] => (Array.isArray(d?.data.bots) ? d!.data.bots.map(String) : []);
  const removed = bots(a).filter((x) => !bots(b).includes(x));
  const added = bots(b).filter((x) => !bots(a).includes(x));
  if (removed.length && b)
    push(
      'escalation',
      `bots ${removed.join(', ')} no longer listed: rules stop keeping them from approving`,
      b,
      ctx.head,
      'bots',
      'head',
    );
  if (added.length && b) push('reduction', `bots ${added.join(', ')} listed`, b, ctx.head, 'bots', 'head');
  // people: who is whom. A member ID that stops being someone's (removed, or moved to another
  // person) no longer counts as them when they request: they could approve their own request with it.
  const people = (d: Doc | undefined): Map<string, string> => {
    const m = new Map<string, string>();
    for (const [mail, ids] of Object.entries(obj(d?.data.people)))
      for (const id of Array.isArray(ids) ? ids : []) m.set(String(id), mail);
    return m;
  };
  const pa = people(a);
  const pb = people(b);
  for (const [id, mail] of pa) {
    if (!b || pb.get(id) === mail) continue;
    const now = pb.get(id);
    push(
      'escalation',
      `people: ${id} is no longer ${mail}'s${now ? ` but ${now}'s` : ''}: a request by ${mail} no longer stops ${id} from approving it`,
      b,
      ctx.head,
      now ? `people.${now}` : 'people',
      'head',
    );
  }
  for (const [id, mail] of pb)
    if (!pa.has(id) && Object.hasOwn(obj(a?.data.people), mail))
      push('reduction', `people: ${id} is now also ${mail}'s`, b!, ctx.head, `people.${mail}`, 'head');
  for (const mail of Object.keys(obj(b?.data.people)))
    if (a && !Object.hasOwn(obj(a.data.people), mail))
      push('neutral', `people: ${mail} added (manifests may name them)`, b!, ctx.head, `people.${mail}`, 'head');
  // each approvals identity: where it asks, with which token (each an identity that decides approvals)
  const channels = (d: Doc | undefined) => obj(d?.data.approvals);
  for (const via of new Set([...Object.keys(channels(a)), ...Object.keys(channels(b))])) {
    const sa = obj(channels(a)[via]);
    const sb = obj(channels(b)[via]);
    const at = `approvals.${via}`;
    if (!b || same(sa, sb)) continue;
    if (!Object.keys(sb).length)
      push(
        'neutral',
        `${at} removed: grants that ask for approval through it can no longer be approved (they fail)`,
        b,
        ctx.head,
        'approvals',
        'head',
      );
    else if (!Object.keys(sa).length)
      push(
        'escalation',
        `${at} added: ${show(sb.credential)} now asks approvers in ${show(sb.channel)} and reads their answers`,
        b,
        ctx.head,
        at,
        'head',
      );
    else judgeFleetBlock(ctx, b, `${at}.`, APPROVALS_FIELDS, sa, sb);
  }
  // where the trail, keys and suspensions live: any change moves them to other hands
  if (!same(a?.data.store, b?.data.store) && b) {
    const sa = obj(a?.data.store);
    const sb = obj(b.data.store);
    if (!Object.keys(sa).length || !Object.keys(sb).length)
      push(
        'escalation',
        `store ${show(a?.data.store)} → ${show(b.data.store)}: instances now keep their trail, idempotency keys and suspensions elsewhere, in other hands`,
        b,
        ctx.head,
        'store',
        'head',
      );
    else judgeFleetBlock(ctx, b, 'store.', STORE_FIELDS, sa, sb);
  }
  // what production is: a pin or an instance no longer declared loses every production rule
  if (!same(a?.data.production, b?.data.production) && b) {
    const pa = obj(a?.data.production);
    const pb = obj(b.data.production);
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
    const pins = (p: Record<string, any>) =>
      Object.entries(obj(p.reaches)).flatMap(([c, vs]) => list(vs).map((v) => `${c}:${v}`));
    const lost = [
      ...list(pa.instances).filter((x) => !list(pb.instances).includes(x)),
      ...pins(pa).filter((x) => !pins(pb).includes(x)),
    ];
    const gained = [
      ...list(pb.instances).filter((x) => !list(pa.instances).includes(x)),
      ...pins(pb).filter((x) => !pins(pa).includes(x)),
    ];
    if (lost.length)
      push(
        'escalation',
        `production no longer declares ${lost.join(', ')}: what it names loses every production rule`,
        b,
        ctx.head,
        'production',
        'head',
      );
    if (gained.length)
      push(
        'reduction',
        `production now declares ${gained.join(', ')}: what it names gets every production rule`,
        b,
        ctx.head,
        'production',
        'head',
      );
  }
  // a key fleet.yaml may hold that nothing above judges: review it by hand
  for (const k of new Set([...Object.keys(obj(a?.data)), ...Object.keys(obj(b?.data))])) {
    if (!(k in RULES_FILE_FIELDS) && b && !same(obj(a?.data)[k], obj(b.data)[k]))
      push(
        'escalation',
        `${k} ${show(obj(a?.data)[k])} → ${show(obj(b.data)[k])}: a field with no stated order (shared/review/field-order.ts); review it by hand`,
        b,
        ctx.head,
        k,
        'head',
      );
  }
  if (a && b && !same(a.data.checkpoints, b.data.checkpoints)) {
    const ca = obj(a.data.checkpoints);
    const cb = obj(b.data.checkpoints);
    if (!cb.key)
      push(
        'escalation',
        'checkpoints removed: a cut tail or a rewritten trail can no longer be proven',
        b,
        ctx.head,
        'checkpoints',
        'head',
      );
    else if (!same(ca.key, cb.key))
      push(
        'escalation',
        `checkpoints are now verified with another key (${show(obj(cb.key).name)}): whoever holds it signs what a trail is checked against`,
        b,
        ctx.head,
        'checkpoints.key',
        'head',
      );
    const na = Number(ca.every ?? 1000);
    const nb = Number(cb.every ?? 1000);
    if (na !== nb)
      push(
        nb > na ? 'escalation' : 'reduction',
        `checkpoints.every ${na} → ${nb}${nb > na ? ': more records may follow the last checkpoint unanchored' : ''}`,
        b,
        ctx.head,
        'checkpoints.every',
        'head',
      );
    for (const j of judgeField(
      'checkpoints.interval',
      { kind: 'longer', fallback: '10m', what: 'a longer stretch of the trail may go unanchored' },
      ca.interval,
      cb.interval,
    ) ?? [])
      push(j.class, j.what, b, ctx.head, 'checkpoints.interval', 'head');
    // the places connectors post checkpoints to (CheckpointSinkKind), each under its own key
    for (const sink of extensionsOf(ctx.connectors).checkpointSinks) {
      const [sa, sb, at] = [ca[sink.name], cb[sink.name], `checkpoints.${sink.name}`];
      if (cb.key && sa && !sb)
        push(
          'escalation',
          `checkpoints are no longer posted to ${sink.place}: one place off the machine that catches a cut tail is gone`,
          b,
          ctx.head,
          'checkpoints',
          'head',
        );
      else if (ca.key && !sa && sb)
        push('reduction', `checkpoints are also posted to ${sink.place}, by ${sink.by}`, b, ctx.head, at, 'head');
      // whose notes count: another author's (or every author's) notes now count as checkpoints
      else if (sa && sb && !same(obj(sa).poster, obj(sb).poster))
        push(
          'escalation',
          `${at}.poster ${show(obj(sa).poster)} → ${show(obj(sb).poster)}: another author's notes now count as checkpoints`,
          b,
          ctx.head,
          at,
          'head',
        );
      else if (sa && sb && !same(sa, sb))
        push('neutral', `${at} changed (${show(sa)} → ${show(sb)}): ${sink.changes}`, b, ctx.head, at, 'head');
    }
  }
}

const RELAXED: [string, boolean][] = [
  ['readOnlyHint', true],
  ['destructiveHint', false],
];

function compareSurface(ctx: Ctx, name: string): void {
  const instance = name.replace(/^surface\//, '').replace(/\.json$/, '');
  const read = (side: Side): Map<string, Record<string, any>> => {
    try {
      const tools = JSON.parse(side.files.get(name) ?? '{"tools":[]}').tools;
      return new Map((Array.isArray(tools) ? tools : []).map((t: Record<string, any>) => [String(t.name), t]));
    } catch {
      return new Map();
    }
  };
  const ta = read(ctx.base);
  const tb = read(ctx.head);
  const lineOf = (side: Side, tool: string) => {
    const i = (side.files.get(name) ?? '').split('\n').findIndex((l) => l.includes(`"name": ${JSON.stringify(tool)}`));
    return i < 0 ? 1 : i + 1;
  };
  for (const tool of new Set([...ta.keys(), ...tb.keys()])) {
    const a = ta.get(tool);
    const b = tb.get(tool);
    const side = b ? ctx.head : ctx.base;
    const where = {
      file: side.display(name),
      line: lineOf(side, tool),
      side: b ? ('head' as const) : ('base' as const),
    };
    if (!a || !b) {
      ctx.out.push({
        class: 'neutral',
        instance,
        tool,
        what: `surface: ${tool} ${a ? 'no longer listed' : 'now listed'} to clients`,
        ...where,
      });
      continue;
    }
    for (const [hint, relaxed] of RELAXED) {
      if (a.annotations?.[hint] !== b.annotations?.[hint] && b.annotations?.[hint] === relaxed) {
        ctx.out.push({
          class: 'escalation',
          instance,
          tool,
          what: `surface: ${tool} now says ${hint}: ${relaxed}, so clients may stop asking before calling it`,
          ...where,
        });
      }
    }
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !same(a[k], b[k]));
    if (keys.length)
      ctx.out.push({
        class: 'neutral',
        instance,
        tool,
        what: `surface: ${tool} changed what the model is told (${keys.join(', ')})`,
        ...where,
      });
  }
}

export function compareSides(base: Side, head: Side, connectors: Record<string, Connector>): Change[] {
  const out: Change[] = [];
  const manifests = (side: Side) =>
    [...side.files.keys()].filter((n) => /\.ya?ml$/.test(n) && !/^(fleet|clients)\.ya?ml$/.test(n));
  const docs = (side: Side, which: 'base' | 'head') => {
    const m = new Map<string, Doc>();
    for (const n of manifests(side)) {
      const d = parse(side, n, out, which);
      if (d) m.set(n, d);
    }
    return m;
  };
  const baseDocs = docs(base, 'base');
  const headDocs = docs(head, 'head');
  const headFleet = parse(head, 'fleet.yaml', out, 'head');
  const declOf = (d: Doc | undefined) => {
    try {
      return parseProduction(d?.data.production);
    } catch {
      return undefined; // fleet verify reports it
    }
  };
  const decls = { base: declOf(parse(base, 'fleet.yaml', [], 'base')), head: declOf(headFleet) };
  const isProd = (name: string, which: 'base' | 'head') => {
    const [connector = '', instance = ''] = name.replace(/\.ya?ml$/, '').split('.');
    return isProductionReach(
      { connector, instance, upstream: obj((which === 'base' ? baseDocs : headDocs).get(name)?.data.upstream) },
      decls[which],
    );
  };
  const ctx: Ctx = {
    base,
    head,
    connectors,
    out,
    baseDocs,
    headDocs,
    headBots: Array.isArray(headFleet?.data.bots) ? headFleet!.data.bots.map(String) : [],
    isProd,
  };
  const names = [...new Set([...manifests(base), ...manifests(head)])].sort();
  for (const n of names) {
    const a = baseDocs.get(n);
    const b = headDocs.get(n);
    if ((base.files.has(n) && !a) || (head.files.has(n) && !b)) continue; // unreadable: reported by parse
    if (a && b && base.files.get(n) === head.files.get(n)) continue;
    compareManifest(ctx, n, a, b);
  }
  if (base.files.get('fleet.yaml') !== head.files.get('fleet.yaml'))
    compareFleet(ctx, parse(base, 'fleet.yaml', out, 'base'), headFleet);
  if (base.files.get(CLIENTS_FILE) !== head.files.get(CLIENTS_FILE)) {
    const a = parse(base, CLIENTS_FILE, out, 'base');
    const b = parse(head, CLIENTS_FILE, out, 'head');
    compareClientDocs(a?.data, b?.data, (cls, what, path, side) => {
      const doc = side === 'head' ? b : a;
      out.push({
        class: cls,
        instance: 'clients',
        what,
        file: (side === 'head' ? head : base).display(CLIENTS_FILE),
        line: doc?.line(path) ?? 1,
        side,
      });
    });
  }
  const surfaces = new Set([...base.files.keys(), ...head.files.keys()].filter((n) => n.startsWith('surface/')));
  for (const n of [...surfaces].sort()) if (base.files.get(n) !== head.files.get(n)) compareSurface(ctx, n);
  return out.sort((x, y) => ORDER[x.class] - ORDER[y.class] || x.file.localeCompare(y.file) || x.line - y.line);
}
