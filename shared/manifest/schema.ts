// The manifest schema: a fixed frame (owner, purpose, credential, attribution, ...) plus, per
// connector, its `upstream:` block and one strict grant object per tool built from the tool's
// declared constraints. An unknown tool or constraint is a schema error, not a silent no-op.
import { z } from 'zod';
import type { Connector, ToolDef } from '../connector/tool.js';
import type { Grant } from '../base/manifest.js';
import {
  extensionsOf,
  type ApprovalChannelKind,
  type CredentialScheme,
  type FleetExtensions,
} from '../connector/extensions.js';
import { DURATION, durationSchema, parseDuration } from '../base/duration.js';
import { rateSchema } from '../base/rate.js';
import type { ManifestFields } from '../base/manifest.js';
import { attributionSchema } from './attribution.js';
import { BadIdentifier, client, person } from '../base/identity.js';
import { ENV_REF } from '../base/reference.js';

/** A person as a reviewed file must write them: one canonical identifier (shared/base/identity.ts). */
const personCheck = (what: string) => (v: string, ctx: z.RefinementCtx) => {
  try {
    person(v, what);
  } catch (e) {
    if (!(e instanceof BadIdentifier)) throw e;
    ctx.addIssue({ code: 'custom', message: e.message });
  }
};
const personSchema = (key: string) =>
  z
    .string({
      error: (i) =>
        i.input === undefined ? `${key} is required` : `${key} is a person: a member ID or an e-mail address`,
    })
    .superRefine(personCheck(key));

/** A credential reference of the schemes the fleet knows, exactly: env:NAME or each scheme's own grammar. */
export function credentialPattern(schemes: readonly CredentialScheme[]): RegExp {
  return new RegExp(`^(${[ENV_REF, ...schemes.map((s) => s.pattern.source.replace(/^\^|\$$/g, ''))].join('|')})$`);
}

/** How a reference is written, for messages: "env:NAME or <scheme>:project/config/NAME". */
export function referenceForms(schemes: readonly CredentialScheme[]): string {
  return ['env:NAME', ...schemes.map((s) => s.example)].join(' or ');
}

/** A calendar date, YYYY-MM-DD, that exists. */
export const DATE = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date is YYYY-MM-DD, e.g. 2027-03-31')
  .refine(
    (s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s),
    'not a calendar date',
  );

/** How long a minted token lives: renewed when a third of it is left. */
export const MINT_TTL = { min: 10_000, max: 24 * 3600_000 };
const mintTtl = z
  .string()
  .regex(DURATION, 'ttl is a duration from 10s to 24h, such as 1h')
  .refine((s) => {
    const ms = parseDuration(s);
    return ms !== undefined && ms >= MINT_TTL.min && ms <= MINT_TTL.max;
  }, 'ttl is a duration from 10s to 24h, such as 1h')
  .describe('how long each minted token lives, 10s to 24h (default 1h); renewed when a third is left');

/** `promotion: { from: cloudflare.dev, within: 24h, smoke: true }` on a grant of a tool with evidence. */
export const promotion = z
  .strictObject({
    from: z
      .string()
      .regex(
        /^[a-z0-9-]+\.[a-z][a-z0-9-]*$/,
        'from names a development instance as <connector>.<instance>, such as <connector>.dev',
      )
      .describe('the development instance whose trail must hold the evidence, as <connector>.<instance>'),
    within: durationSchema('how recent the dev deploy and its smoke check must be, such as 24h'),
    smoke: z.boolean().default(true).describe('a passing smoke check must follow the dev deploy (default true)'),
  })
  .describe('calls run only with matching evidence from a development instance (deploy, then passing smoke check)');
export type Promotion = z.infer<typeof promotion>;

/** Keys every grant may carry, whatever the tool: how often, and who must say yes first (asked through the channels `ext` holds). */
export function grantCommon(ext: Pick<FleetExtensions, 'approvals'>) {
  return {
    rate: rateSchema('at most this many calls per instance: N/second, N/minute, N/hour or N/day').optional(),
    approval: approvalSchema(ext.approvals),
  };
}

/**
 * `approval: { via, approvers, timeout }`: the client's user (elicitation, the core's own channel)
 * or a channel a connector contributes, whose listed approvers answer (at least one is required).
 */
function approvalSchema(channels: readonly ApprovalChannelKind[]) {
  const approver =
    channels.length === 1
      ? channels[0]!.approver
      : channels.length
        ? z.union(channels.map((c) => c.approver))
        : z.string();
  const needsApprovers = (via: string) => ({
    if: { properties: { via: { const: via } }, required: ['via'] },
    then: { required: ['approvers'], properties: { approvers: { minItems: 1 } } },
  });
  let schema = z.strictObject({
    via: z
      .enum(['elicitation', ...channels.map((c) => c.via)])
      .describe(`who is asked: the client's user (elicitation)${channels.map((c) => ` or ${c.who}`).join('')}`),
    approvers: z
      .array(approver)
      .describe(channels.map((c) => `${c.approvers} (required with via: ${c.via})`).join('; ') || 'who may approve')
      .optional(),
    timeout: durationSchema('how long to wait for an answer before denying (default 15m)').default('15m'),
  });
  for (const c of channels) {
    schema = schema.refine((a) => a.via !== c.via || (a.approvers?.length ?? 0) > 0, {
      message: `a ${c.via} approval needs at least one approver`,
      path: ['approvers'],
    }) as unknown as typeof schema;
  }
  // the same rule for editors: the refinements above do not survive the JSON Schema export
  const rules = channels.map((c) => needsApprovers(c.via));
  return (rules.length === 1 ? schema.meta(rules[0]!) : rules.length ? schema.meta({ allOf: rules }) : schema)
    .describe('a person must say yes before each call runs')
    .optional();
}

export function grantSchema(tool: ToolDef, ext: Pick<FleetExtensions, 'approvals'>): z.ZodType<Grant> {
  const shape: Record<string, z.ZodType> = { ...grantCommon(ext) };
  for (const [key, c] of Object.entries(tool.constraints)) shape[key] = c.required ? c.schema : c.schema.optional();
  // A tool whose calls leave evidence may require, in this grant, the same evidence from a development instance.
  if (tool.evidence) shape.promotion = promotion.optional();
  const obj = z.strictObject(shape);
  // `list_users:` with nothing under it grants the tool with no constraints.
  return z.preprocess((v) => (v === null ? {} : v), obj) as unknown as z.ZodType<Grant>;
}

/** An instant with its time zone: 2026-12-02T18:00:00Z or 2026-12-02T19:00:00+01:00. */
export const INSTANT = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/,
    'an instant is YYYY-MM-DDTHH:MM:SSZ (or with an offset such as +01:00)',
  )
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a real date and time');

/**
 * A time-boxed exception (break-glass): one more tool, or more resources on a granted one, for a
 * named owner, approved by someone else, until it expires. `expires` is optional here so that
 * `fleet verify` can name the missing expiry under its own rule; without one it is never active.
 */
function exceptionSchema(connector: Connector, ext: FleetExtensions) {
  const common = {
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'an exception id is lower-case letters, digits and dashes')
      .describe("the exception's name, cited in the trail"),
    owner: personSchema('owner').describe(
      'who asked for the exception and answers for it: a person of fleet.yaml people:, by member ID or e-mail',
    ),
    reason: z
      .string()
      .trim()
      .min(1, 'reason is required: why the exception exists')
      .describe('why the exception exists'),
    approver: personSchema('approver').describe(
      'who approved it (not its owner): a person of fleet.yaml people:, by member ID or e-mail',
    ),
    starts: INSTANT.describe('when it starts (YYYY-MM-DDTHH:MM:SSZ)').optional(),
    expires: INSTANT.describe(
      'when it ends (YYYY-MM-DDTHH:MM:SSZ); without it the exception is never active',
    ).optional(),
  };
  const byTool = connector.tools.map((t) =>
    z.strictObject({
      ...common,
      tool: z.literal(t.name).describe('the tool the exception grants'),
      grant: z.preprocess((v) => v ?? {}, grantSchema(t, ext)).describe(`what the exception grants on ${t.name}`),
    }),
  );
  return z.discriminatedUnion('tool', byTool as unknown as [z.ZodObject, ...z.ZodObject[]]);
}

const schemas = new WeakMap<Connector, Map<string, ReturnType<typeof buildSchema>>>();

/**
 * The connector's manifest schema, with the approval channels, proofs and credential schemes the
 * fleet's `connectors` contribute; built once (and ahead of time in the start-up snapshot).
 */
export function manifestSchema(connector: Connector, connectors: Record<string, Connector>) {
  const ext = extensionsOf(connectors);
  const key = [
    ext.approvals.map((a) => a.via),
    ext.provers.map((p) => p.proof),
    ext.credentials.map((c) => c.scheme),
  ].join(';');
  let byKey = schemas.get(connector);
  if (!byKey) schemas.set(connector, (byKey = new Map()));
  let s = byKey.get(key);
  if (!s) byKey.set(key, (s = buildSchema(connector, ext)));
  return s;
}

function buildSchema(connector: Connector, ext: FleetExtensions) {
  const forms = referenceForms(ext.credentials);
  const reference = z
    .string()
    .regex(
      credentialPattern(ext.credentials),
      `credential must be a reference: ${forms}, or { broker: <reference>, mint: { ttl } }, or { rotate: { refresh_token, client_id, client_secret } }`,
    );
  const tools: Record<string, z.ZodType> = {};
  for (const t of connector.tools) tools[t.name] = grantSchema(t, ext).optional();
  return z.strictObject({
    connector: z.literal(connector.name).describe('which connector serves this manifest'),
    instance: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, 'instance must be lower-case letters, digits and dashes')
      .describe('the instance name: dev, prod or prod-*; the file is <connector>.<instance>.yaml'),
    owner: z
      .string()
      .trim()
      .min(1, 'owner is required: who answers for this instance')
      .describe('who answers for this instance: team <email>'),
    review_by: DATE.describe('when the grants must be reviewed again (YYYY-MM-DD)').optional(),
    purpose: z
      .string()
      .trim()
      .min(1, 'purpose is required: why this instance exists')
      .describe('why this instance exists, in a sentence'),
    credential: z
      .union([
        reference.describe(`where the upstream credential is: ${forms}, never a value`),
        z
          .strictObject({
            broker: reference.describe(
              `the broker credential that mints (and deletes) this instance's tokens: ${forms}`,
            ),
            mint: z
              .strictObject({ ttl: mintTtl.default('1h') })
              .default({ ttl: '1h' })
              .describe('how the minted token lives'),
          })
          .describe('a token minted at every start from a broker credential, never a standing one'),
        z
          .strictObject({
            rotate: z
              .strictObject({
                refresh_token: reference.describe('reference to the refresh token the access tokens are renewed with'),
                client_id: reference.describe("reference to the app's client ID"),
                client_secret: reference.describe("reference to the app's client secret"),
              })
              .describe('token rotation: a short-lived access token renewed from a refresh token'),
          })
          .describe('a rotating token (a connector with rotate()): renewed from a refresh token, never a standing one'),
      ])
      .describe(
        `the upstream credential: a reference (${forms.split(' or ').join(', ')}), { broker, mint } or { rotate }`,
      ),
    /** when the credential was issued or last rotated, for `fleet review` (the upstream rarely tells) */
    credential_issued: DATE.describe(
      'when the credential was issued or last rotated (YYYY-MM-DD), for fleet review',
    ).optional(),
    upstream: connector.upstream.describe(
      `the ${connector.name} account this instance is pinned to and the permissions its credential holds`,
    ),
    attribution: attributionSchema(ext.provers).describe(
      'whether calls must name the person they are for, and how that person is proven',
    ),
    /** the client principals (routines) allowed to call this instance; any when not set */
    clients: z
      .array(
        z.string().refine((s) => {
          try {
            return client(s) === s;
          } catch {
            return false;
          }
        }, 'a client is a routine name such as blogbot-publish'),
      )
      .min(1)
      .describe('the client principals (routines) allowed to call this instance; any when not set')
      .optional(),
    timeout: durationSchema('longest a call may take upstream (default 10s)').default('10s'),
    audit: z
      .strictObject({
        bodies: z
          .enum(['hash', 'keep'])
          .default('hash')
          .describe('message bodies in the trail: hash (length + sha256) or keep'),
      })
      .default({ bodies: 'hash' })
      .describe('what the audit trail keeps'),
    tools: z
      .strictObject(tools)
      .describe(
        'the tools this instance grants, each with its constraints; a tool not listed is neither listed nor callable',
      ),
    exceptions: z
      .array(exceptionSchema(connector, ext))
      .describe('time-boxed exceptions (break-glass): one more tool, or more on a granted one, for a while')
      .optional(),
  });
}

// The parsed manifest's type is written out in base/manifest.ts (connectors are typed by it, so it cannot
// be inferred from this schema, which is built from the connectors): these two lines keep the two in step.
type Parsed = Omit<z.infer<ReturnType<typeof manifestSchema>>, 'tools' | 'upstream' | 'exceptions'>;
type Declared = Omit<ManifestFields, 'tools' | 'upstream' | 'exceptions'>;
export const schemaMatchesType = [(p: Parsed): Declared => p, (d: Declared): Omit<Parsed, 'connector'> => d];
