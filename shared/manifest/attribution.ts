// The manifest's `attribution:` — whether a call must name the human it is for, and how the
// instance proves that human before anything reaches the upstream. The short forms
// `attribution: required | optional` mean an asserted actor (dev); the block form names a proof:
//
//   attribution:
//     required: true
//     proof: slack-message          # asserted | slack-message | oidc
//     request_channels: [C0EDITORIAL]
//     max_age: 30m
//
//   attribution: { proof: oidc, issuer: https://id.example.com, jwks: file:keys/jwks.json, max_age: 10m }
import { z } from 'zod';
import { durationSchema } from '../base/duration.js';

const required = z.boolean().default(true).describe('calls with no actor are denied (default true)');

export const PROOF_KINDS = ['asserted', 'slack-message', 'oidc'] as const;
export type ProofKind = (typeof PROOF_KINDS)[number];

export const attributionBlock = z.discriminatedUnion('proof', [
  z.strictObject({ required, proof: z.literal('asserted').describe('the caller says who the actor is') }),
  z.strictObject({
    required,
    proof: z.literal('slack-message').describe('the actor is the author of the Slack message that asked for the call'),
    /** channels where a request may be asked: the thread must be a message in one of them */
    request_channels: z.array(z.string().regex(/^[CG][A-Z0-9]{8,}$/, 'request channels are channel IDs (C…)')).min(1).describe('channel IDs where a request may be asked'),
    /** how old the asking message may be */
    max_age: durationSchema('how old the asking message may be (default 1h)').default('1h'),
    /** whose token reads the message: the instance's own (a Slack instance) or the approvals identity */
    reader: z.enum(['instance', 'approvals']).describe('whose token reads the message: the instance\'s own or the approvals identity').optional(),
  }),
  z.strictObject({
    required,
    proof: z.literal('oidc').describe('the actor is the subject of an OIDC token the caller passes'),
    issuer: z.string().url('issuer is the token issuer URL (its `iss`)').describe('the token issuer URL (its iss)'),
    /** the token's `aud`; the instance's id (slack.prod) when not set */
    audience: z.string().min(1).describe('the token\'s aud; the instance id (slack.prod) when not set').optional(),
    /** the issuer's public keys: file:path/to/jwks.json (relative to the manifest) or an https:// URL */
    jwks: z.string().regex(/^(file:.+|https?:\/\/.+)$/, 'jwks is file:path/to/jwks.json or an https:// URL').describe('the issuer\'s public keys: file:path/to/jwks.json or an https:// URL'),
    /** the longest a token may live (exp - iat) */
    max_age: durationSchema('the longest a token may live, exp - iat (default 15m)').default('15m'),
  }),
]);

export const attributionSchema = z.union([z.enum(['required', 'optional']), attributionBlock]).default('optional');

export type AttributionBlock = z.infer<typeof attributionBlock>;
export type AttributionSpec = 'required' | 'optional' | AttributionBlock;

/** What an instance's attribution asks of a call, whichever form the manifest used. */
export function attributionRule(spec: AttributionSpec | undefined): AttributionBlock {
  if (spec === undefined || spec === 'optional') return { required: false, proof: 'asserted' };
  if (spec === 'required') return { required: true, proof: 'asserted' };
  return { ...spec, required: spec.required ?? true } as AttributionBlock;
}

/** One line for people: "required, proven by slack-message". */
export function describeAttribution(spec: AttributionSpec | undefined): string {
  const r = attributionRule(spec);
  return `${r.required ? 'required' : 'optional'}${r.proof === 'asserted' ? '' : `, proven by ${r.proof}`}`;
}

/** How strongly an actor is proven, for the diff: asserted < slack-message, oidc. */
export function proofStrength(spec: AttributionSpec | undefined): number {
  const r = attributionRule(spec);
  return (r.required ? 1 : 0) + (r.proof === 'asserted' ? 0 : 2);
}
