// What a connector declares. The core (server.ts, call.ts) does everything else.
import type { z } from 'zod';
import type { Constraint } from '../call/constraints.js';
import type { Manifest } from '../manifest/types.js';
import type { Grant } from './grant.js';

export type { Grant } from './grant.js';

export type Access = 'read' | 'write' | 'destructive';

export interface Annotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

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
  /** Names what the call touches. May read the upstream (e.g. a message's author) and may throw Denied. */
  facts(args: z.infer<I>, ctx: ToolContext<C>): Fact[] | Promise<Fact[]>;
  run(args: z.infer<I>, ctx: ToolContext<C>): Promise<z.infer<O>>;
  /** Drops what the grant does not cover from a result (lists, searches). */
  filter?(out: z.infer<O>, ctx: ToolContext<C>): z.infer<O>;
  /** A short text rendering for clients that ignore structuredContent. */
  text(out: z.infer<O>): string;
}

export function defineTool<C, I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<C, I, O>): ToolDef<C, I, O> {
  return def;
}

/** The connector's live upstream: an SDK client plus who it authenticated as. */
export interface Upstream<C> {
  client: C;
  identity: Identity;
  /** permissions the token actually holds, where the upstream tells (compared with the manifest) */
  held?: string[];
}

export interface OpenOptions {
  manifest: Manifest;
  credential: string;
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
  open(opts: OpenOptions): Promise<Upstream<C>>;
  sandbox(): Promise<Sandbox>;
  /** turns an SDK error into a code and a message safe to show */
  describeError(err: unknown): UpstreamError;
}
