// The manifest's `attribution:` — whether a call must name the human it is for, and how the
// instance proves that human before anything reaches the upstream. The short forms
// `attribution: required | optional` mean an asserted actor (dev); the block form names a proof:
// `asserted` and `oidc` are the core's own, others come from connectors (ActorProverKind):
//
//   attribution:
//     required: true
//     proof: <a connector's proof>   # with the fields that proof declares
//
//   attribution: { proof: oidc, issuer: https://id.example.com, jwks: file:keys/jwks.json, max_age: 10m }
import { z } from 'zod';
import { durationSchema } from '../base/duration.js';
import type { AttributionBlock, AttributionSpec, OidcBlock } from '../base/manifest.js';

const required = z.boolean().default(true).describe('calls with no actor are denied (default true)');

/** What a contributed proof adds to the schema (ActorProverKind in shared/connector/extensions.ts). */
export interface ProofFields {
  proof: string;
  describe: string;
  fields: z.ZodRawShape;
}

/** The core's own proofs, before and after those connectors contribute. */
export const CORE_PROOFS = ['asserted', 'oidc'] as const;

/** Every proof kind a manifest may name, with those `provers` contribute. */
export function proofKinds(provers: readonly Pick<ProofFields, 'proof'>[]): string[] {
  return [CORE_PROOFS[0], ...provers.map((p) => p.proof), CORE_PROOFS[1]];
}

const asserted = z.strictObject({
  required,
  proof: z.literal('asserted').describe('the caller says who the actor is'),
});
const oidc = z.strictObject({
  required,
  proof: z.literal('oidc').describe('the actor is the subject of an OIDC token the caller passes'),
  issuer: z.string().url('issuer is the token issuer URL (its `iss`)').describe('the token issuer URL (its iss)'),
  /** the token's `aud`; the instance's id (<connector>.<env>) when not set */
  audience: z.string().min(1).describe("the token's aud; the instance id (<connector>.<env>) when not set").optional(),
  /** the issuer's public keys: file:path/to/jwks.json (relative to the manifest) or an https:// URL */
  jwks: z
    .string()
    .regex(/^(file:.+|https?:\/\/.+)$/, 'jwks is file:path/to/jwks.json or an https:// URL')
    .describe("the issuer's public keys: file:path/to/jwks.json or an https:// URL"),
  /** the longest a token may live (exp - iat) */
  max_age: durationSchema('the longest a token may live, exp - iat (default 15m)').default('15m'),
});

/** `attribution:` with the proofs `provers` contribute. */
export function attributionSchema(provers: readonly ProofFields[]) {
  const contributed = provers.map((p) =>
    z.strictObject({ required, proof: z.literal(p.proof).describe(p.describe), ...p.fields }),
  );
  const block = z.discriminatedUnion('proof', [asserted, ...contributed, oidc] as unknown as [
    typeof asserted,
    ...z.ZodObject[],
  ]);
  return z.union([z.enum(['required', 'optional']), block]).default('optional') as unknown as z.ZodDefault<
    z.ZodType<AttributionSpec>
  >;
}

// The oidc block's type is written out in base/manifest.ts (with the rest of the manifest's): these
// two lines keep it in step with the schema above.
type ParsedOidc = z.infer<typeof oidc>;
export const oidcMatchesType = [(p: ParsedOidc): OidcBlock => p, (d: OidcBlock): ParsedOidc => d];

/** What an instance's attribution asks of a call, whichever form the manifest used. */
export function attributionRule(spec: AttributionSpec | undefined): AttributionBlock {
  if (spec === undefined || spec === 'optional') return { required: false, proof: 'asserted' };
  if (spec === 'required') return { required: true, proof: 'asserted' };
  return { ...spec, required: spec.required ?? true } as AttributionBlock;
}

/** One line for people: "required, proven by oidc". */
export function describeAttribution(spec: AttributionSpec | undefined): string {
  const r = attributionRule(spec);
  return `${r.required ? 'required' : 'optional'}${r.proof === 'asserted' ? '' : `, proven by ${r.proof}`}`;
}

/** How strongly an actor is proven, for the diff: asserted < any proof. */
export function proofStrength(spec: AttributionSpec | undefined): number {
  const r = attributionRule(spec);
  return (r.required ? 1 : 0) + (r.proof === 'asserted' ? 0 : 2);
}
