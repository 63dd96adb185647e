// What a connector declares. The core (server.ts, call.ts) does everything else.
import type { z } from 'zod';
import type { Constraint } from './constraints.js';
import type { Manifest } from '../base/manifest.js';
import type { Grant } from '../base/manifest.js';
import type { ConnectorExtensions } from './extensions.js';

export type Access = 'read' | 'write' | 'destructive';

export interface Annotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** A tool that reads an upstream (every connector's upstream is an open world). */
export const READ: Annotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: true,
};
/** A tool that writes: running it again writes again, unless a connector says otherwise. */
export const WRITE: Annotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: true,
};
/** A tool that deletes: once gone, deleting again changes nothing. */
export const DESTROY: Annotations = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: true,
  openWorldHint: true,
};

/** One thing a call touches, checked against the grant's constraint of the same key. */
export interface Fact {
  on: string;
  value: string | number;
}

/** Who the upstream credential is, as the start-up identity check saw it. */
export interface Identity {
  /** workspace / account / project the token belongs to */
  home: string;
  /** the token's own user or bot, where the upstream has one */
  user?: string;
  bot?: string;
  /** when the upstream says the credential was issued (ISO 8601), where it tells */
  issued?: string;
  [k: string]: unknown;
}

export interface ToolContext<C> {
  client: C;
  grant: Grant;
  identity: Identity;
  manifest: Manifest;
  signal: AbortSignal;
  /** true when the grant's constraint `on` admits `value` (used to filter lists) */
  allows(on: string, value: string | number): boolean;
}

/**
 * What governs one argument of a tool. Every argument says, so none can be forgotten:
 * - `{ on }`: its value (or the values `value` derives from it, with the call's other arguments)
 *   is checked against the grant's constraint `on`; the core derives these facts itself.
 * - `{ lookup }`: the constraints that judge it from what `facts()` looks up (a record's name, a
 *   SQL verdict); the core refuses the call if `facts()` reports none of them while it is set.
 * - `{ free }`: no constraint needs to see it, and why (a message body, a count, a cursor).
 */
export type Cover =
  | { on: string; value?: (v: any, args: any) => string | number | readonly (string | number)[] }
  | { lookup: readonly string[] }
  | { free: string };

export const on = (
  key: string,
  value?: (v: any, args: any) => string | number | readonly (string | number)[],
): Cover => ({ on: key, ...(value ? { value } : {}) });
export const lookup = (...keys: string[]): Cover => ({ lookup: keys });
export const free = (why: string): Cover => ({ free: why });

/** How an argument is written to the audit trail: a message body as length + hash, a secret as length only. */
export type AuditAs = 'body' | 'secret';

export interface ToolDef<C = any, I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string;
  /** One sentence: when a model should use the tool. */
  description: string;
  access: Access;
  annotations: Annotations;
  input: I;
  output: O;
  /** Upstream permissions the tool needs (Slack OAuth scopes, Cloudflare permission groups, ...). */
  needs: readonly string[];
  /** More permissions that only some grants need (e.g. D1 Write under `sql: write`). */
  grantNeeds?(grant: Grant): string[];
  /** Constraints a manifest may (or must) put on the grant. */
  constraints: Record<string, Constraint<any>>;
  audit?: Partial<Record<keyof z.infer<I> & string, AuditAs>>;
  /** Per argument, what governs it (every argument must say: the compiler and `fleet verify` check). */
  covers: { [K in keyof z.infer<I>]-?: Cover | readonly Cover[] };
  /**
   * Facts only the upstream can tell (a message's author, a record's name, a SQL verdict), added to
   * the ones the core derives from `covers`. Must check `ctx.allows` before reading a resource, and
   * may throw Denied.
   */
  facts?(args: z.infer<I>, ctx: ToolContext<C>): Fact[] | Promise<Fact[]>;
  run(args: z.infer<I>, ctx: ToolContext<C>): Promise<z.infer<O>>;
  /**
   * Lists and searches: per array field of the output, per constraint key, the value of one item
   * it is checked on (`{}`: a list no grant narrows). The core keeps the items the grant allows on
   * every key, and only then cuts each list to `limit` — so `run()` returns what the upstream
   * answered, neither filtered nor cut.
   */
  lists?: Record<string, Record<string, (item: any) => string | number>>;
  /** How many items of each list the call asks for (the core cuts after filtering). */
  limit?(args: z.infer<I>): number | undefined;
  /** Narrows a result by something other than a grant (e.g. the pinned project). */
  filter?(out: z.infer<O>, ctx: ToolContext<C>): z.infer<O>;
  /** A short text rendering for clients that ignore structuredContent. */
  text(out: z.infer<O>): string;
  /**
   * What a successful call proves, written as `evidence` in its outcome record (digests, never
   * content). A grant of a tool with evidence may require `promotion`: the same evidence recorded
   * by a named development instance first (shared/call/promotion.ts). Called without `out` to
   * compute what a call is about to do.
   */
  evidence?(args: z.infer<I>, out?: z.infer<O>): Evidence;
}

/** Digests and verdicts a call proves; `check` names a check (e.g. "smoke") and `passed` its result. */
export type Evidence = Record<string, string | number | boolean>;

/** The connector's live upstream: an SDK client plus who it authenticated as. */
export interface Upstream<C> {
  client: C;
  /**
   * How many requests the client has sent so far: tells whether a fault of the fleet's own inside
   * `run()` struck before the upstream was called. Absent: the core assumes it may have been.
   */
  sent?(): number;
  identity: Identity;
  /** permissions the token actually holds, where the upstream tells (compared with the manifest) */
  held?: string[];
  /**
   * Why the token's permissions could not be read, when the manifest declares some: a production
   * instance refuses to start, a development one warns and serves.
   */
  unchecked?: string;
  /** where else the token reaches beyond the manifest's pin (other accounts): production refuses it */
  reachesBeyond?: string[];
  /** points the client at a new credential (a renewed minted token); calls already sent finish on the old one */
  rebind?(credential: string): void;
}

/** One token minted for this run. Everything but `value` may be written to the audit trail. */
export interface MintedToken {
  /** the secret: registered with the redactor, handed only to the connector's client */
  value: string;
  /** every secret inside `value` when it holds several (one token per config): each is redacted */
  secrets?: string[];
  id: string;
  /** the upstream's name for it: names the instance, host and process that made it */
  name: string;
  /** ms since the epoch */
  expiresAt: number;
  /** the permissions it holds, as the manifest names them */
  permissions: string[];
  /** the resources its policies name (accounts, zones, configs) */
  resources: string[];
  /** sha256 of the canonical policy */
  policyDigest: string;
}

export interface MintOptions {
  manifest: Manifest;
  /** the broker credential's value: used only to create, list and delete the instance's tokens */
  broker: string;
  baseUrl?: string;
  timeoutMs: number;
  /** the upstream name prefix of every token this instance mints on this host: "fleet <id> <host> " */
  prefix: string;
  warn(message: string): void;
}

/** Creates, finds and deletes an instance's short-lived upstream tokens with a broker credential. */
export interface Minter {
  /** tokens of this instance on this host, named `${prefix}${pid}` */
  list(): Promise<{ id: string; name: string }[]>;
  mint(name: string, expiresAt: number): Promise<MintedToken>;
  revoke(id: string): Promise<void>;
}

/**
 * A short-lived access token exchanged for a refresh token, where the upstream rotates tokens
 * (Slack's token rotation): the refresh token is single-use, so `refresh` replaces it.
 */
export interface RotatedToken {
  access: string;
  /** the next refresh token: the one exchanged is dead from now on */
  refresh: string;
  /** ms since the epoch */
  expiresAt: number;
  /** the permissions the upstream says the access token holds, where it says */
  scopes?: string[];
}

/** The app's credentials for a token exchange: values, resolved from the manifest's references. */
export interface RotationSecrets {
  refresh_token: string;
  client_id: string;
  client_secret: string;
}

export interface RotateOptions {
  refreshToken: string;
  clientId: string;
  clientSecret: string;
  baseUrl?: string;
  timeoutMs: number;
}

export interface OpenOptions {
  manifest: Manifest;
  credential: string;
  /** set when `credential` was minted for this run: the permissions it was minted with (no need to read them back) */
  minted?: { permissions: string[] };
  /** base URL of the upstream API (a sandbox, or a real endpoint override) */
  baseUrl?: string;
  timeoutMs: number;
  warn(message: string): void;
}

/** An in-process emulator of the upstream, on loopback. */
export interface Sandbox {
  url: string;
  /** a token for the manifest's workspace/account holding exactly its declared permissions */
  issueToken(manifest: Manifest): string;
  /** the seeded people (humans) of the sandbox, each with a token of their own, so a person can play them (an approver, a requester) */
  people?(): { id: string; name: string; home: string; token: string }[];
  /** a token acting as one seeded identity (e.g. the approvals bot) holding `permissions` */
  issueAs?(home: string, permissions: string[], identity: string): string;
  /** a broker credential for a manifest whose token is minted (may create and delete tokens only) */
  issueBroker?(manifest: Manifest): string;
  /** an app with token rotation for a manifest whose credential rotates: its refresh token and client credentials */
  issueRotation?(manifest: Manifest): RotationSecrets;
  close(): Promise<void>;
}

export interface UpstreamError {
  code: string;
  message: string;
  retryAfter?: number;
  /** the upstream certainly did not act (a refusal, a 4xx, a 429), so a retry may run the call again */
  definite?: boolean;
}

export interface Connector<C = any> {
  name: string;
  tools: ToolDef<C, any, any>[];
  /** zod schema of the manifest's `upstream:` block */
  upstream: z.ZodObject;
  /** permissions the manifest declares for the token */
  declared(upstreamBlock: any): string[];
  /**
   * Permissions the instance's own token needs for the call path itself, whatever tools it grants
   * (reading a Slack request message back to prove the actor): a narrowing must keep them.
   */
  pathNeeds?(manifest: Manifest): string[];
  open(opts: OpenOptions): Promise<Upstream<C>>;
  /** the connector's emulator on loopback, on `port` (0: any free one) */
  sandbox(port?: number): Promise<Sandbox>;
  /** present when the connector can mint the instance's token from a broker credential */
  minter?(opts: MintOptions): Promise<Minter>;
  /**
   * Present when the upstream rotates tokens (Slack): exchanges a refresh token for a short-lived
   * access token and the next refresh token. Cannot narrow what the token holds.
   */
  rotate?(opts: RotateOptions): Promise<RotatedToken>;
  /**
   * Turns an SDK error into a code and a message safe to show; undefined when the error is not the
   * upstream's (a TypeError, a failed schema: a fault of the fleet's own, reported as such).
   */
  describeError(err: unknown): UpstreamError | undefined;
  /**
   * What the connector adds to the fleet beyond its tools, asked for by kind (an approval channel,
   * an actor prover, a credential scheme, a checkpoint sink): shared/connector/extensions.ts.
   */
  extensions?: ConnectorExtensions;
}
