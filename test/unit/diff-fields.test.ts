// `fleet diff` per field: every manifest field states its order (shared/review/field-order.ts), and
// each field's widening and narrowing is judged so, from one edit of the real scopes folder.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { readSide } from '../../servers/fleet/commands/diff-sides.js';
import { compareSides, type Side } from '../../shared/review/diff.js';
import {
  APPROVAL_FIELDS,
  AUDIT_FIELDS,
  burst,
  compareRates,
  GRANT_FIELDS,
  MANIFEST_FIELDS,
  UPSTREAM_FIELDS,
} from '../../shared/review/field-order.js';
import { grantCommon, manifestSchema } from '../../shared/manifest/schema.js';
import { extensionsOf } from '../../shared/connector/extensions.js';
import { ROOT } from '../helpers.js';
import { parseRate } from '../../shared/base/rate.js';

const base = readSide(join(ROOT, 'scopes'), 'scopes');

/** The scopes folder with one manifest's text edited. */
function edited(file: string, from: string | RegExp, to: string): Side {
  const text = base.files.get(file)!;
  const next = text.replace(from, to);
  if (next === text) throw new Error(`${file}: the edit ${from} matched nothing`);
  return { ...base, label: 'edited', files: new Map([...base.files, [file, next]]) };
}

type Case = [string, string, string | RegExp, string, 'escalation' | 'reduction' | 'neutral', string];
// [what, file, from, to, class, phrase]
const CASES: Case[] = [
  // pinned upstream identity: any change escalates, in dev as in prod
  [
    'slack workspace changed',
    'slack.prod.yaml',
    'workspace: T0BLOGPROD',
    'workspace: T0OTHERCO',
    'escalation',
    'upstream.workspace "T0BLOGPROD" → "T0OTHERCO": the instance is now pinned to another upstream identity',
  ],
  [
    'cloudflare prod account changed',
    'cloudflare.prod.yaml',
    'account: 5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12',
    'account: 0123456789abcdef0123456789abcdef',
    'escalation',
    'upstream.account',
  ],
  [
    'doppler dev project changed',
    'doppler.dev.yaml',
    'project: blogbot',
    'project: payments',
    'escalation',
    'upstream.project "blogbot" → "payments"',
  ],
  // what the token may hold
  [
    'token scope added',
    'slack.prod.yaml',
    'users:read]',
    'users:read, files:write]',
    'escalation',
    'upstream.token_scopes adds "files:write"',
  ],
  [
    'token scope dropped',
    'slack.prod.yaml',
    ', users:read]',
    ']',
    'reduction',
    'upstream.token_scopes drops "users:read"',
  ],
  [
    'permission group added',
    'cloudflare.prod.yaml',
    '    - DNS Read',
    '    - DNS Read\n    - DNS Write',
    'escalation',
    'upstream.token_permissions adds "DNS Write"',
  ],
  // attribution
  [
    'attribution proof weakened to asserted',
    'slack.prod.yaml',
    'attribution:\n  required: true\n  proof: slack-message\n  request_channels: [C0EDITORIAL]\n  max_age: 1h\n',
    'attribution: required\n',
    'escalation',
    'attribution required, proven by slack-message → required',
  ],
  [
    'attribution made optional',
    'slack.prod.yaml',
    'attribution:\n  required: true\n  proof: slack-message\n  request_channels: [C0EDITORIAL]\n  max_age: 1h\n',
    'attribution: optional\n',
    'escalation',
    'attribution required, proven by slack-message → optional',
  ],
  [
    'attribution proof accepts older requests',
    'slack.prod.yaml',
    'max_age: 1h',
    'max_age: 7d',
    'escalation',
    'attribution.max_age 1h → 7d: an older request (or a longer-lived token) still proves the actor',
  ],
  [
    'attribution proof accepts fewer old requests',
    'slack.prod.yaml',
    'max_age: 1h',
    'max_age: 10m',
    'reduction',
    'attribution.max_age 1h → 10m',
  ],
  [
    'attribution request channel added',
    'slack.prod.yaml',
    'request_channels: [C0EDITORIAL]',
    'request_channels: [C0EDITORIAL, C0RANDOM01]',
    'escalation',
    'attribution.request_channels adds "C0RANDOM01"',
  ],
  [
    'clients limited',
    'slack.prod.yaml',
    'timeout: 10s',
    'timeout: 10s\nclients: [blogbot-publish]',
    'reduction',
    'clients now limited to blogbot-publish',
  ],
  [
    'attribution required',
    'slack.dev.yaml',
    'attribution: optional',
    'attribution: required',
    'reduction',
    'attribution optional → required',
  ],
  [
    'attribution removed (defaults to optional)',
    'slack.prod.yaml',
    'attribution:\n  required: true\n  proof: slack-message\n  request_channels: [C0EDITORIAL]\n  max_age: 1h\n',
    '',
    'escalation',
    'attribution required, proven by slack-message → optional',
  ],
  // timeout and body retention
  [
    'timeout lengthened',
    'slack.prod.yaml',
    'timeout: 10s',
    'timeout: 10m',
    'escalation',
    'timeout 10s → 10m: a call may run longer',
  ],
  ['timeout shortened', 'slack.prod.yaml', 'timeout: 10s', 'timeout: 5s', 'reduction', 'timeout 10s → 5s'],
  ['timeout respelled', 'slack.prod.yaml', 'timeout: 10s', 'timeout: 10000ms', 'neutral', 'same length'],
  [
    'bodies kept',
    'slack.prod.yaml',
    'timeout: 10s',
    'timeout: 10s\naudit: { bodies: keep }',
    'escalation',
    'audit.bodies hash → keep: message bodies are now kept',
  ],
  [
    'review pushed later',
    'slack.prod.yaml',
    "review_by: '2027-05-31'",
    "review_by: '2029-05-31'",
    'escalation',
    'review_by "2027-05-31" → "2029-05-31"'.replace(/"/g, ''),
  ],
  [
    'review brought forward',
    'slack.prod.yaml',
    "review_by: '2027-05-31'",
    "review_by: '2027-01-31'",
    'reduction',
    'review_by 2027-05-31 → 2027-01-31',
  ],
  ['owner changed', 'slack.prod.yaml', 'owner: content-platform', 'owner: web-platform', 'neutral', 'owner'],
  // approvals: channel, approvers, timeout
  [
    'approval moved from Slack to elicitation',
    'slack.prod.yaml',
    'approval: { via: slack, approvers: [U0EDITOR1, U0EDITOR2], timeout: 15m }',
    'approval: { via: elicitation, approvers: [U0EDITOR1, U0EDITOR2], timeout: 15m }',
    'escalation',
    'update_message: approval.via slack → elicitation: the calling client answers its own approval request',
  ],
  [
    'approval moved from elicitation to Slack',
    'slack.dev.yaml',
    'approval: { via: elicitation, timeout: 5m }',
    'approval: { via: slack, approvers: [U0DEVALICE], timeout: 5m }',
    'reduction',
    'approval.via elicitation → slack',
  ],
  [
    'approver added',
    'slack.prod.yaml',
    'approvers: [U0EDITOR1, U0EDITOR2]',
    'approvers: [U0EDITOR1, U0EDITOR2, U0INTERN]',
    'escalation',
    'more people may approve: adds U0INTERN',
  ],
  [
    'approver dropped',
    'slack.prod.yaml',
    'approvers: [U0EDITOR1, U0EDITOR2]',
    'approvers: [U0EDITOR1]',
    'reduction',
    'fewer people may approve: drops U0EDITOR2',
  ],
  [
    'approval timeout lengthened',
    'slack.prod.yaml',
    'U0EDITOR2], timeout: 15m',
    'U0EDITOR2], timeout: 7d',
    'escalation',
    'approval.timeout 15m → 7d: an approval request stays answerable longer',
  ],
  [
    'approval timeout left to its default from 5m',
    'slack.dev.yaml',
    'approval: { via: elicitation, timeout: 5m }',
    'approval: { via: elicitation }',
    'escalation',
    'approval.timeout 5m → 15m',
  ],
  [
    'approval timeout shortened',
    'slack.prod.yaml',
    'U0EDITOR2], timeout: 15m',
    'U0EDITOR2], timeout: 5m',
    'reduction',
    'approval.timeout 15m → 5m',
  ],
  // rate by the largest burst
  [
    'rate 30/hour → 720/day (same average, 24× the burst)',
    'slack.prod.yaml',
    'rate: 30/hour',
    'rate: 720/day',
    'escalation',
    'up to 720 calls at once where 30 were allowed (24×)',
  ],
  [
    'rate 30/hour → 1/second (a faster average)',
    'slack.prod.yaml',
    'rate: 30/hour',
    'rate: 1/second',
    'escalation',
    'widened',
  ],
  [
    'rate 30/hour → 1/minute (a smaller burst, a faster average)',
    'slack.prod.yaml',
    'rate: 30/hour',
    'rate: 1/minute',
    'escalation',
    'up to 60 calls in 59 minutes where 30 were allowed (2×); fewer over other spans (1 at once instead of 30)',
  ],
  [
    'rate 30/hour → 20/hour',
    'slack.prod.yaml',
    'rate: 30/hour',
    'rate: 20/hour',
    'reduction',
    'narrowed, at most 20 calls at once where 30 were allowed',
  ],
  ['rate 30/hour → 30/day', 'slack.prod.yaml', 'rate: 30/hour', 'rate: 30/day', 'reduction', 'narrowed'],
  ['rate removed', 'slack.prod.yaml', ', rate: 30/hour', '', 'escalation', 'no longer rate-limited (was 30/hour)'],
  // the checkpoints of every trail (fleet.yaml)
  [
    'checkpoint key replaced',
    'fleet.yaml',
    'name: fleet-audit, public: ',
    'name: fleet-audit-2, public: ',
    'escalation',
    'checkpoints are now verified with another key ("fleet-audit-2")',
  ],
  [
    'checkpoints rarer',
    'fleet.yaml',
    'every: 1000',
    'every: 50000',
    'escalation',
    'checkpoints.every 1000 → 50000: more records may follow the last checkpoint unanchored',
  ],
  [
    'checkpoints more often',
    'fleet.yaml',
    'interval: 10m',
    'interval: 1m',
    'reduction',
    'checkpoints.interval 10m → 1m',
  ],
  [
    'checkpoints no longer posted to Slack',
    'fleet.yaml',
    /\n {2}slack: \{ reader: [^}]*\}/,
    '',
    'escalation',
    'checkpoints are no longer posted to the approvals channel',
  ],
  [
    'the Slack checkpoints read with another token',
    'fleet.yaml',
    'reader: env:SLACK_AUDIT_READER_TOKEN',
    'reader: env:OTHER_READER',
    'neutral',
    'checkpoints.slack changed',
  ],
  // constraints judge themselves: reveal, SQL mode
  [
    'sql read → write',
    'cloudflare.prod.yaml',
    'sql: read',
    'sql: write',
    'escalation',
    'd1_query.sql "read" → "write": widened',
  ],
];

describe('fleet diff judges every field by what it widens', () => {
  it.each(CASES)('%s', (_what, file, from, to, cls, phrase) => {
    const changes = compareSides(base, edited(file, from, to), CONNECTORS);
    const instance = file.replace(/\.yaml$/, '');
    const mine = changes.filter((c) => c.instance === instance);
    expect(mine.length, JSON.stringify(changes)).toBeGreaterThan(0);
    expect(mine[0]!.class, JSON.stringify(mine)).toBe(cls);
    expect(mine.map((c) => c.what).join('\n')).toContain(phrase);
    if (cls === 'escalation') expect(changes[0]!.class).toBe('escalation'); // escalations first
  });

  it('an unknown field escalates: it has no stated order', () => {
    const side = edited('slack.prod.yaml', 'timeout: 10s', 'timeout: 10s\nfuture_knob: 3');
    const c = compareSides(base, side, CONNECTORS).find((x) => x.what.startsWith('future_knob'));
    expect(c).toMatchObject({ class: 'escalation', what: expect.stringContaining('no stated order') });
  });

  it("every field of every connector's manifest schema states its order", () => {
    const missing: string[] = [];
    const check = (where: string, keys: string[], table: Record<string, unknown>) => {
      for (const k of keys) if (!(k in table)) missing.push(`${where}.${k}`);
    };
    for (const connector of Object.values(CONNECTORS)) {
      check('manifest', Object.keys(manifestSchema(connector, CONNECTORS).shape), MANIFEST_FIELDS);
      check(
        `${connector.name}.upstream`,
        Object.keys((connector.upstream as unknown as { shape: object }).shape),
        UPSTREAM_FIELDS,
      );
    }
    const common = grantCommon(extensionsOf(CONNECTORS));
    check('grant', Object.keys(common), GRANT_FIELDS);
    const approval = (
      common.approval as unknown as { unwrap(): { def?: unknown; _def?: unknown; in?: unknown } }
    ).unwrap();
    const shape = findShape(approval);
    check('approval', Object.keys(shape), APPROVAL_FIELDS);
    check('audit', ['bodies'], AUDIT_FIELDS);
    expect(missing).toEqual([]);
  });
});

/** The object shape inside zod wrappers (optional, refine, default). */
function findShape(t: unknown): Record<string, unknown> {
  let cur = t as { shape?: Record<string, unknown>; def?: { innerType?: unknown; schema?: unknown; in?: unknown } };
  for (let i = 0; i < 10 && cur && !cur.shape; i++)
    cur = (cur.def?.innerType ?? cur.def?.schema ?? cur.def?.in) as typeof cur;
  if (!cur?.shape) throw new Error('no object shape found');
  return cur.shape;
}

describe('rates by the largest burst', () => {
  const rate = (text: string) => parseRate(text)!;
  it('counts a full window at once, and again each period', () => {
    expect(burst(rate('30/hour'), 0)).toBe(30);
    expect(burst(rate('30/hour'), 3600)).toBe(60);
    expect(burst(rate('720/day'), 3599)).toBe(720);
  });
  it('finds the span where the new rate lets more through', () => {
    expect(compareRates(rate('30/hour'), rate('720/day'))).toEqual({ wider: { span: 0, from: 30, to: 720 } });
    expect(compareRates(rate('720/day'), rate('30/hour'))).toEqual({ narrower: { span: 0, from: 720, to: 30 } });
    expect(compareRates(rate('60/minute'), rate('3600/hour')).wider).toMatchObject({ span: 0, from: 60, to: 3600 });
    expect(compareRates(rate('1/second'), rate('1/second'))).toEqual({});
  });
});
