// What a loaded manifest holds: types only, and nothing imported. Every layer speaks of a manifest
// (a connector's tools and extensions are handed one, the loader builds one, the call path reads
// one), but its schema is built from what the connectors declare, so the type cannot be inferred
// from the schema without a loop of imports: it is written out here, at the bottom, once, the way
// the MCP TypeScript SDK keeps its protocol's types in one leaf (types.ts) that everything imports.
// manifest/schema.ts and manifest/attribution.ts check that their zod schemas agree with it.

/** A grant is the manifest's entry for one tool: constraint values keyed by constraint name. */
export type Grant = Record<string, unknown>;

/** `attribution: { proof: oidc, ... }`: the actor is the subject of an OIDC token the caller passes. */
export type OidcBlock = {
  required: boolean;
  proof: 'oidc';
  issuer: string;
  /** the token's `aud`; the instance's id (<connector>.<env>) when not set */
  audience?: string;
  /** the issuer's public keys: file:path/to/jwks.json (relative to the manifest) or an https:// URL */
  jwks: string;
  /** the longest a token may live (exp - iat) */
  max_age: string;
};
/** An attribution block: the core's proofs, or a connector's with the fields it declares. */
export type AttributionBlock =
  | { required: boolean; proof: 'asserted' }
  | OidcBlock
  | { required: boolean; proof: string; [field: string]: unknown };
/** `attribution:` as written: the short forms, or a block naming its proof. */
export type AttributionSpec = 'required' | 'optional' | AttributionBlock;

/** `via`: elicitation (the core's own channel) or a connector's approval channel. */
export type Approval = { via: string; approvers?: string[]; timeout: string };

/**
 * `credential: { broker: <reference>, mint: { ttl } }`: the broker credential only creates (and
 * deletes) a short-lived upstream token holding exactly what the manifest declares; tools only
 * ever see that minted token.
 */
export type MintedCredential = { broker: string; mint: { ttl: string } };

/**
 * `credential: { rotate: { refresh_token, client_id, client_secret } }` (references): the upstream
 * rotates tokens (Slack's token rotation), so the refresh token is exchanged for a short-lived
 * access token at start and before each expiry, and the next refresh token is kept in the
 * instance's state. The token holds what the app was installed with: rotation cannot narrow it.
 */
export type RotatedCredential = { rotate: { refresh_token: string; client_id: string; client_secret: string } };

/** The fields a manifest file declares, after defaults. */
export interface ManifestFields {
  connector: string;
  instance: string;
  owner: string;
  /** when the owner must next recertify this access (YYYY-MM-DD); fleet rule kind review-due */
  review_by?: string;
  purpose: string;
  credential: string | MintedCredential | RotatedCredential;
  /** when the credential was issued or rotated (YYYY-MM-DD), for `fleet review` */
  credential_issued?: string;
  upstream: Record<string, any>;
  attribution: AttributionSpec;
  clients?: string[];
  timeout: string;
  audit: { bodies: 'hash' | 'keep' };
  tools: Record<string, Grant>;
  /** time-boxed exceptions (break-glass); ./exceptions.ts applies the active ones */
  exceptions?: Exception[];
}

export interface Exception {
  id: string;
  tool: string;
  /** constraints of the extra grant: merged into the tool's grant (lists united) while active */
  grant: Grant;
  owner: string;
  reason: string;
  approver: string;
  starts?: string;
  expires?: string;
}

export interface Manifest extends ManifestFields {
  /** the reference the process resolves: the standing token, or the broker of a minted one */
  credential: string;
  /** set when the instance's upstream token is minted at start (credential is then the broker) */
  mint?: { ttl: string; ttlMs: number };
  /** set when the upstream token rotates (credential is then the refresh token's reference) */
  rotate?: { refresh_token: string; client_id: string; client_secret: string };
  /** "slack.dev" */
  id: string;
  /** production, by what it reaches (shared/base/production.ts): its name, fleet.yaml's declaration, or its pins */
  production: boolean;
  /** path as given, for messages */
  file: string;
  /** sha256 of the file's bytes: ties every audit record to a reviewed revision */
  hash: string;
  timeoutMs: number;
  /** 1-based line of a dotted path ("tools.post_message.channels"), or of its nearest ancestor */
  line(path: string): number;
}
