// How `fleet diff` orders each manifest field: what a change to it widens. Every field a manifest,
// an `upstream:` block, an `audit:` block or an `approval:` block may hold states its order here;
// a field with no stated order is judged an escalation ("review by hand"), and
// test/unit/diff-fields.test.ts fails when a schema field is missing from these tables, so a new
// field cannot slip through as neutral.
import { parseDuration } from '../base/duration.js';
import type { Rate } from '../base/rate.js';

export type Order =
  /** the instance is pointed at something else (workspace, account, project, issuer, key set, credential): any change escalates */
  | { kind: 'identity'; what?: string }
  /** a list whose additions widen and removals narrow */
  | { kind: 'set'; noun: string }
  /** values from the narrowest to the widest; a value not on the scale escalates */
  | { kind: 'scale'; values: readonly string[]; fallback?: string; note?: Record<string, string> }
  /** a duration: longer widens */
  | { kind: 'longer'; fallback?: string; what: string }
  /** a date: later widens (the next review moves away) */
  | { kind: 'later'; what: string }
  /** no effect on what a call may do */
  | { kind: 'none' }
  /** judged by its own comparison in ./diff.ts, named */
  | { kind: 'own'; by: string };

export const MANIFEST_FIELDS: Record<string, Order> = {
  connector: { kind: 'identity' },
  instance: { kind: 'identity' },
  owner: { kind: 'none' },
  purpose: { kind: 'none' },
  review_by: { kind: 'later', what: 'the next recertification moves later' },
  credential_issued: { kind: 'none' },
  exceptions: {
    kind: 'own',
    by: 'exceptions: by id; a new one, a later expiry, an earlier start, another tool, grant or approver escalates; a removed one is a reduction',
  },
  credential: {
    kind: 'own',
    by: 'credential: escalates when the reference is shared with another instance, when a minted credential turns standing, or when a minted token lives longer',
  },
  upstream: { kind: 'own', by: 'UPSTREAM_FIELDS' },
  attribution: {
    kind: 'own',
    by: 'attribution: required or not, and the proof, by strength (manifest/attribution.ts)',
  },
  clients: { kind: 'own', by: 'clients: unset admits any client; added routines widen' },
  timeout: { kind: 'longer', fallback: '10s', what: 'a call may run longer' },
  audit: { kind: 'own', by: 'AUDIT_FIELDS' },
  tools: { kind: 'own', by: 'grants: each constraint by the values it admits, rate and approval below' },
};

/** Inside an attribution block of the same proof kind: how strong the proof stays. */
export const ATTRIBUTION_FIELDS: Record<string, Order> = {
  required: { kind: 'own', by: 'attribution strength' },
  proof: { kind: 'own', by: 'attribution strength' },
  request_channels: { kind: 'set', noun: 'a request may now be asked in' },
  max_age: { kind: 'longer', what: 'an older request (or a longer-lived token) still proves the actor' },
  reader: { kind: 'identity', what: 'another identity now reads the proofs' },
  issuer: {
    kind: 'identity',
    what: 'another authorization server now proves who the actor is: whoever runs it names the actor',
  },
  audience: { kind: 'identity', what: 'tokens minted for another audience now prove the actor' },
  jwks: {
    kind: 'identity',
    what: 'proof tokens are now checked with another key set: whoever holds its keys names the actor',
  },
};

/** `scopes/fleet.yaml`: every top-level key, each judged by its own comparison in ./diff.ts. */
export const RULES_FILE_FIELDS: Record<string, Order> = {
  bots: { kind: 'own', by: 'bots: an unlisted bot may approve (escalation)' },
  people: {
    kind: 'own',
    by: "people: an ID that is no longer a person's escalates (they could approve their own request with it)",
  },
  rules: { kind: 'own', by: 'rules: by id; a removed or changed rule escalates' },
  approvals: { kind: 'own', by: 'APPROVALS_FIELDS' },
  checkpoints: { kind: 'own', by: 'CHECKPOINTS_FIELDS' },
  store: { kind: 'own', by: 'STORE_FIELDS' },
  production: { kind: 'own', by: 'PRODUCTION_FIELDS' },
};

/** An approvals identity's block (`approvals.<channel>`): who asks approvers and reads their answers (and the proofs). */
export const APPROVALS_FIELDS: Record<string, Order> = {
  workspace: { kind: 'identity', what: 'approvals are now asked, and answers read, in another workspace' },
  channel: { kind: 'identity', what: 'approvals are now asked in another channel, whose members may answer' },
  credential: {
    kind: 'identity',
    what: 'the approvals identity now acts with another token, whose holder reads and may forge answers',
  },
  token_scopes: { kind: 'set', noun: "the approvals identity's token may now hold" },
  signing_secret: {
    kind: 'identity',
    what: 'answers delivered to the approvals identity are now accepted when signed with another secret, whose holder may forge them',
  },
  app_token: {
    kind: 'identity',
    what: 'answers are now received over Socket Mode with another app-level token, whose holder may take deliveries meant for the fleet',
  },
  safety_poll: { kind: 'none' },
};

export const CHECKPOINTS_FIELDS: Record<string, Order> = {
  key: { kind: 'own', by: 'checkpoints.key: another key escalates' },
  every: { kind: 'own', by: 'checkpoints.every: more records between checkpoints escalates' },
  interval: { kind: 'longer', fallback: '10m', what: 'a longer stretch of the trail may go unanchored' },
  // each sink's block (checkpoints.<sink>) is judged by the sink comparison in ./diff.ts: no longer
  // posted escalates, another poster escalates
};

/** `store:`: where every instance keeps its trail, keys and suspensions. */
export const STORE_FIELDS: Record<string, Order> = {
  engine: {
    kind: 'identity',
    what: 'instances now keep their trail, idempotency keys and suspensions in another engine, whose holders can read and change them',
  },
  url: {
    kind: 'identity',
    what: 'instances now keep their trail, idempotency keys and suspensions in another database, whose holders can read and change them',
  },
  pool: { kind: 'none' },
};

/** `production:`: what production is beyond the names prod and prod-* (shared/base/production.ts). */
export const PRODUCTION_FIELDS: Record<string, Order> = {
  instances: { kind: 'own', by: 'production.instances: one removed loses every production rule (escalation)' },
  reaches: {
    kind: 'own',
    by: 'production.reaches: a pin removed loses every production rule for what reaches it (escalation)',
  },
};

/** A client of `scopes/clients.yaml`. */
export const CLIENT_FIELDS: Record<string, Order> = {
  owner: { kind: 'none' },
  purpose: { kind: 'none' },
  instances: { kind: 'own', by: 'instances: an added instance escalates' },
  token: { kind: 'own', by: 'token: rotated is neutral; turning to a JWT judges the JWT' },
  jwt: { kind: 'own', by: 'JWT_FIELDS' },
  revoked: { kind: 'own', by: 'revoked: lifted escalates' },
  rate: { kind: 'own', by: 'rate: the largest burst any window allows (compareRates); unset is the server default' },
  review_by: { kind: 'later', what: 'the next recertification of this client moves later' },
};

export const JWT_FIELDS: Record<string, Order> = {
  issuer: {
    kind: 'identity',
    what: 'another authorization server now names this client: whoever runs it may call as the client',
  },
  jwks: {
    kind: 'identity',
    what: "the client's tokens are now checked with another key set: whoever holds its keys may call as the client",
  },
  subject: { kind: 'identity', what: 'another subject of the issuer now calls as this client' },
  algorithms: { kind: 'set', noun: 'tokens may now be signed with' },
};

/** Every connector's `upstream:` keys: what the instance is pinned to, and what its token may hold. */
export const UPSTREAM_FIELDS: Record<string, Order> = {
  workspace: { kind: 'identity' },
  account: { kind: 'identity' },
  project: { kind: 'identity' },
  token_scopes: { kind: 'set', noun: 'the token may now hold' },
  token_permissions: { kind: 'set', noun: 'the token may now hold' },
  workers_subdomain: { kind: 'identity' },
};

export const AUDIT_FIELDS: Record<string, Order> = {
  bodies: {
    kind: 'scale',
    values: ['hash', 'keep'],
    fallback: 'hash',
    note: { keep: 'message bodies are now kept in the audit trail' },
  },
};

/** Keys every grant may carry besides its tool's constraints (which judge themselves). */
export const GRANT_FIELDS: Record<string, Order> = {
  rate: { kind: 'own', by: 'rate: the largest burst any window allows' },
  approval: { kind: 'own', by: 'APPROVAL_FIELDS' },
  promotion: {
    kind: 'own',
    by: 'promotion: removed, another source instance, a longer window or no smoke check escalates',
  },
};

export const APPROVAL_FIELDS: Record<string, Order> = {
  // a connector's channel: a listed human other than the requester answers; elicitation: the
  // calling client's user answers, which for the bot is the bot itself (shared/review/diff.ts)
  via: { kind: 'own', by: 'approval.via: to elicitation escalates, to a channel of listed approvers reduces' },
  approvers: { kind: 'own', by: 'approvers: added people (or bots) widen who may agree' },
  timeout: { kind: 'longer', fallback: '15m', what: 'an approval request stays answerable longer' },
};

export type Judged = { class: 'escalation' | 'reduction' | 'neutral'; what: string };

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Judges a change of one field by its stated order; undefined when nothing changed. */
export function judgeField(name: string, order: Order | undefined, a: unknown, b: unknown): Judged[] | undefined {
  if (!order) {
    if (same(a, b)) return undefined;
    return [
      {
        class: 'escalation',
        what: `${name} ${show(a)} → ${show(b)}: a field with no stated order (shared/review/field-order.ts); review it by hand`,
      },
    ];
  }
  switch (order.kind) {
    case 'none':
      return same(a, b) ? undefined : [{ class: 'neutral', what: `${name} ${show(a)} → ${show(b)}` }];
    case 'identity':
      return same(a, b)
        ? undefined
        : [
            {
              class: 'escalation',
              what: `${name} ${show(a)} → ${show(b)}: ${order.what ?? 'the instance is now pinned to another upstream identity, whose resources its grants now reach'}`,
            },
          ];
    case 'set': {
      const va: unknown[] = Array.isArray(a) ? a : [];
      const vb: unknown[] = Array.isArray(b) ? b : [];
      const added = vb.filter((v) => !va.some((w) => same(v, w)));
      const removed = va.filter((v) => !vb.some((w) => same(v, w)));
      const out: Judged[] = [];
      if (added.length)
        out.push({ class: 'escalation', what: `${name} adds ${added.map(show).join(', ')}: ${order.noun} more` });
      if (removed.length) out.push({ class: 'reduction', what: `${name} drops ${removed.map(show).join(', ')}` });
      return out.length ? out : undefined;
    }
    case 'scale': {
      const va = a ?? order.fallback;
      const vb = b ?? order.fallback;
      if (same(va, vb)) return undefined;
      const ia = order.values.indexOf(String(va));
      const ib = order.values.indexOf(String(vb));
      const note = order.note?.[String(vb)];
      if (ib < 0 || ia < 0)
        return [
          {
            class: 'escalation',
            what: `${name} ${show(va)} → ${show(vb)}: a value outside the known scale (${order.values.join(' < ')}); review it by hand`,
          },
        ];
      return [
        {
          class: ib > ia ? 'escalation' : 'reduction',
          what: `${name} ${va} → ${vb}${ib > ia && note ? `: ${note}` : ''}`,
        },
      ];
    }
    case 'longer': {
      const va = a ?? order.fallback;
      const vb = b ?? order.fallback;
      if (same(va, vb)) return undefined;
      const da = parseDuration(String(va));
      const db = parseDuration(String(vb));
      if (da === undefined || db === undefined)
        return [{ class: 'escalation', what: `${name} ${show(va)} → ${show(vb)}: not a duration; review it by hand` }];
      if (da === db) return [{ class: 'neutral', what: `${name} ${va} → ${vb}: same length` }];
      return [
        {
          class: db > da ? 'escalation' : 'reduction',
          what: `${name} ${va} → ${vb}${db > da ? `: ${order.what}` : ''}`,
        },
      ];
    }
    case 'later': {
      if (same(a, b)) return undefined;
      if (b === undefined) return [{ class: 'escalation', what: `${name} ${show(a)} removed: ${order.what}` }];
      if (a === undefined) return [{ class: 'reduction', what: `${name} set to ${show(b)}` }];
      const ta = Date.parse(String(a));
      const tb = Date.parse(String(b));
      if (Number.isNaN(ta) || Number.isNaN(tb))
        return [{ class: 'escalation', what: `${name} ${show(a)} → ${show(b)}: not a date; review it by hand` }];
      return [
        { class: tb > ta ? 'escalation' : 'reduction', what: `${name} ${a} → ${b}${tb > ta ? `: ${order.what}` : ''}` },
      ];
    }
    case 'own':
      throw new Error(`${name} is judged by its own comparison (${order.by})`);
  }
}

// ---- rates -------------------------------------------------------------------------------------

/**
 * The most calls a sliding window of `limit` per period lets through in any span of `w` seconds:
 * a full window's worth at once, and again each time a period has passed.
 */
export function burst(r: Rate, w: number): number {
  return r.limit * (Math.floor(w / seconds(r)) + 1);
}

const seconds = (r: Rate) => r.windowMs / 1000;

/**
 * Compares two rates by every span: wider if some span admits more calls under the new rate (the
 * largest burst), narrower if some span admits fewer. Spans are checked at every multiple of the
 * shorter period up to the longer one (the step points of both), and in the long run.
 */
export function compareRates(
  a: Rate,
  b: Rate,
): { wider?: { span: number; from: number; to: number }; narrower?: { span: number; from: number; to: number } } {
  const step = Math.min(seconds(a), seconds(b));
  const top = Math.max(seconds(a), seconds(b));
  let wider: { span: number; from: number; to: number } | undefined;
  let narrower: { span: number; from: number; to: number } | undefined;
  for (let w = 0; w <= top; w += step) {
    const fa = burst(a, w);
    const fb = burst(b, w);
    if (fb > fa && (!wider || fb / fa > wider.to / wider.from)) wider = { span: w, from: fa, to: fb };
    if (fb < fa && (!narrower || fa / fb > narrower.from / narrower.to)) narrower = { span: w, from: fa, to: fb };
  }
  const ra = a.limit / seconds(a);
  const rb = b.limit / seconds(b);
  const long = 1000 * top;
  if (rb > ra && !wider) wider = { span: long, from: burst(a, long), to: burst(b, long) };
  if (rb < ra && !narrower) narrower = { span: long, from: burst(a, long), to: burst(b, long) };
  return { wider, narrower };
}

export function spanText(seconds: number): string {
  if (seconds === 0) return 'at once';
  for (const [unit, s] of [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ] as const) {
    if (seconds % s === 0) return `in ${seconds / s} ${unit}${seconds / s === 1 ? '' : 's'}`;
  }
  return `in ${seconds} s`;
}
