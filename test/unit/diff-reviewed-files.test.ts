// The review gate sees every widening, in every file `fleet verify` reads: every field of
// fleet.yaml (and its approvals, checkpoints, store and production blocks) and of clients.yaml
// (and a client's JWT) states its order for `fleet diff` (shared/review/field-order.ts), and each
// widening the outside review found judged neutral or a reduction is an escalation, from one edit
// of the real scopes folder.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { approvalsConfig } from '../../servers/slack/approvals.js';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { readSide } from '../../servers/fleet/commands/diff-sides.js';
import { checkpointsSchema } from '../../shared/audit/checkpoint.js';
import { productionSchema } from '../../shared/base/production.js';
import { clientSchema, jwtSchema } from '../../shared/manifest/clients.js';
import { compareSides, type Side } from '../../shared/review/diff.js';
import {
  APPROVALS_FIELDS,
  CHECKPOINTS_FIELDS,
  CLIENT_FIELDS,
  RULES_FILE_FIELDS,
  JWT_FIELDS,
  PRODUCTION_FIELDS,
  STORE_FIELDS,
} from '../../shared/review/field-order.js';
import { fleetSchema } from '../../shared/review/rules.js';
import { extensionsOf } from '../../shared/connector/extensions.js';
import { storeConfig } from '../../shared/state/config.js';
import { ROOT } from '../helpers.js';

const base = readSide(join(ROOT, 'scopes'), 'scopes');
function edited(file: string, from: string | RegExp, to: string): Side {
  const text = base.files.get(file)!;
  const next = text.replace(from, to);
  if (next === text) throw new Error(`${file}: the edit ${from} matched nothing`);
  return { ...base, label: 'edited', files: new Map([...base.files, [file, next]]) };
}

describe('every field of every reviewed file states its order', () => {
  const shapeKeys = (s: unknown) => Object.keys((s as { shape: object }).shape);
  it.each([
    ['fleet.yaml', shapeKeys(fleetSchema(extensionsOf(CONNECTORS))), RULES_FILE_FIELDS],
    ['fleet.yaml approvals.slack', shapeKeys(approvalsConfig), APPROVALS_FIELDS],
    // a sink's own block (checkpoints.<sink>) is judged by the sink comparison of diff.ts
    [
      'fleet.yaml checkpoints',
      shapeKeys(checkpointsSchema(extensionsOf(CONNECTORS).checkpointSinks)).filter(
        (k) => !extensionsOf(CONNECTORS).checkpointSinks.some((s) => s.name === k),
      ),
      CHECKPOINTS_FIELDS,
    ],
    ['fleet.yaml store', [...new Set(storeConfig.options.flatMap((o) => shapeKeys(o)))], STORE_FIELDS],
    ['fleet.yaml production', shapeKeys(productionSchema), PRODUCTION_FIELDS],
    ['clients.yaml client', shapeKeys(clientSchema), CLIENT_FIELDS],
    ['clients.yaml client jwt', shapeKeys(jwtSchema), JWT_FIELDS],
  ] as const)('%s', (_file, keys, table) => {
    expect(keys.filter((k) => !(k in table))).toEqual([]);
  });
});

type Case = [string, string, string | RegExp, string, RegExp];
// [what, file, from, to, phrase of the escalation]
const ESCALATIONS: Case[] = [
  [
    'the approvals identity given another token',
    'fleet.yaml',
    'credential: env:SLACK_APPROVALS_TOKEN',
    'credential: env:SLACK_BOT_TOKEN_PROD',
    /approvals\.slack\.credential .*another token/,
  ],
  [
    'the approvals identity moved to another channel',
    'fleet.yaml',
    'channel: C0APPROVALS',
    'channel: C0RANDOM01',
    /approvals\.slack\.channel .*another channel/,
  ],
  [
    'the approvals identity moved to another workspace',
    'fleet.yaml',
    'workspace: T0BLOGPROD\n    channel',
    'workspace: T0OTHERCO\n    channel',
    /approvals\.slack\.workspace/,
  ],
  [
    'the approvals token given a scope',
    'fleet.yaml',
    'token_scopes: [chat:write, channels:history, users:read]',
    'token_scopes: [chat:write, channels:history, users:read, chat:write.customize]',
    /approvals\.slack\.token_scopes adds/,
  ],
  [
    'a store: block added',
    'fleet.yaml',
    '\ncheckpoints:\n',
    '\nstore: { engine: postgres, url: env:SOMEONES_DB }\ncheckpoints:\n',
    /store .*elsewhere/,
  ],
  [
    'the production workspace no longer declared',
    'fleet.yaml',
    '    slack: [T0BLOGPROD]\n',
    '    slack: []\n',
    /production no longer declares slack:T0BLOGPROD/,
  ],
  [
    'an unknown fleet.yaml key',
    'fleet.yaml',
    '\ncheckpoints:\n',
    '\nlegacy_mode: true\ncheckpoints:\n',
    /legacy_mode .*no stated order/,
  ],
  [
    "a client's rate raised 100,000×",
    'clients.yaml',
    "    review_by: '2027-05-31'\n  bot-moderation",
    "    rate: 2000000/second\n    review_by: '2027-05-31'\n  bot-moderation",
    /bot-publish's request rate \(default\) → 2000000\/second: up to/,
  ],
  [
    "a client's rate raised from a set one",
    'clients.yaml',
    "    review_by: '2027-05-31'\n  bot-moderation",
    "    rate: 2000000/second\n    review_by: '2027-05-31'\n  bot-moderation",
    /escalation|up to/,
  ],
  [
    "a client's review_by moved to 2099",
    'clients.yaml',
    "    token: sha256:8d6c0c4ac64b2ee9f1c1a9f0e6bb8e8a0fd6ba0d2c5a2f6c3a0a8e5f26b4cf11\n    review_by: '2027-05-31'",
    "    token: sha256:8d6c0c4ac64b2ee9f1c1a9f0e6bb8e8a0fd6ba0d2c5a2f6c3a0a8e5f26b4cf11\n    review_by: '2099-12-31'",
    /client bot-publish: review_by 2027-05-31 → 2099-12-31: the next recertification of this client moves later/,
  ],
  [
    "a client's JWT issuer changed",
    'clients.yaml',
    "issuer: 'https://auth.example.com/'",
    "issuer: 'https://auth.attacker.example/'",
    /jwt\.issuer .*another authorization server/,
  ],
  [
    "a client's JWT key set changed",
    'clients.yaml',
    "jwks: 'https://auth.example.com/.well-known/jwks.json'",
    "jwks: 'https://keys.attacker.example/jwks.json'",
    /jwt\.jwks .*another key set/,
  ],
  [
    'prod switched from slack-message proofs to oidc with an issuer the author controls',
    'slack.prod.yaml',
    /attribution:\n {2}required: true\n {2}proof: slack-message\n {2}request_channels: \[C0EDITORIAL\]\n {2}max_age: 1h\n/,
    'attribution: { proof: oidc, issuer: "https://id.attacker.example/", jwks: "https://id.attacker.example/jwks.json" }\n',
    /attribution .*actors are now proven by issuer "https:\/\/id\.attacker\.example\/"/,
  ],
];

describe('fleet diff calls every widening of a reviewed file an escalation', () => {
  it.each(ESCALATIONS)('%s', (_what, file, from, to, phrase) => {
    const changes = compareSides(base, edited(file, from, to), CONNECTORS);
    const esc = changes.filter((c) => c.class === 'escalation').map((c) => c.what);
    expect(
      esc.some((w) => phrase.test(w)),
      JSON.stringify(
        changes.map((c) => `${c.class}: ${c.what}`),
        null,
        1,
      ),
    ).toBe(true);
  });

  it.each([
    [
      "a client's review_by brought forward",
      'clients.yaml',
      "    token: sha256:8d6c0c4ac64b2ee9f1c1a9f0e6bb8e8a0fd6ba0d2c5a2f6c3a0a8e5f26b4cf11\n    review_by: '2027-05-31'",
      "    token: sha256:8d6c0c4ac64b2ee9f1c1a9f0e6bb8e8a0fd6ba0d2c5a2f6c3a0a8e5f26b4cf11\n    review_by: '2027-01-31'",
    ],
    [
      'a client given a lower rate',
      'clients.yaml',
      "    review_by: '2027-05-31'\n  bot-moderation",
      "    rate: 5/second\n    review_by: '2027-05-31'\n  bot-moderation",
    ],
    ['a pool size', 'fleet.yaml', '\ncheckpoints:\n', '\ncheckpoints:\n'],
  ])('%s is no escalation', (_what, file, from, to) => {
    const side = from === to ? base : edited(file, from, to);
    expect(compareSides(base, side, CONNECTORS).filter((c) => c.class === 'escalation')).toEqual([]);
  });
});
