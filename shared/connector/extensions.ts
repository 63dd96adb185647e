// What a connector may add to the fleet beyond its own tools, each asked for by kind and never by
// the connector's name: an approval channel (a grant's `approval.via`), an actor prover (a
// manifest's `attribution.proof`), a credential scheme (`<scheme>:...` references), a checkpoint
// sink (a block under fleet.yaml `checkpoints:`), and person kinds (the IDs its people have).
// The composition root (servers/fleet/compose/) opens what an instance asks for; the core only
// sees the interfaces below.
import type { z } from 'zod';
import type { Log } from '../base/log.js';
import type { ApprovalChannel } from './approval-channel.js';
import type { Manifest } from '../base/manifest.js';
import type { PersonKind } from '../base/identity.js';
import type { Signals } from '../state/store.js';

/** What the composition root hands an extension it opens for one instance. */
export interface ExtensionContext {
  manifest: Manifest;
  /** the scopes folder (fleet.yaml beside the manifests) */
  scopes: string;
  /** `fleet serve --sandbox`: an extension that talks to an upstream starts its own sandbox */
  sandbox: boolean;
  /** `--upstream`, the base URL of the instance's own upstream, where given */
  upstream?: string;
  env: NodeJS.ProcessEnv;
  /** registers a secret, so it never reaches a log, record, error or result */
  secret(value: string): void;
  log: Log;
  /** the instance's own upstream client, opened on need (an extension of the instance's connector may read with it) */
  instanceClient(): Promise<unknown>;
  /** resolves a credential reference with every scheme the fleet knows */
  resolve(ref: string): Promise<string>;
  /** how often a pending request is polled, in ms */
  pollMs: number;
  /** `fleet serve --http`: the endpoints an extension offers (InboundEndpoint) are served, so an upstream can call back */
  http: boolean;
  /** messages to the other processes sharing the instance's store (replicas on PostgreSQL); undefined where it has none */
  signals(): Signals | undefined;
  /** called when the instance stops, after its checkpoints are flushed */
  onClose(close: () => Promise<void>): void;
}

/** One POST an upstream sends back to the fleet (a webhook), as an inbound endpoint is handed it. */
export interface InboundRequest {
  headers: Record<string, string | string[] | undefined>;
  /** the raw body, exactly as sent: signatures are over these bytes */
  body: Buffer;
}

export interface InboundAnswer {
  status: number;
  body: string;
  /** content-type (default text/plain) */
  type?: string;
  /** the request was refused (a bad signature, a stale timestamp): this goes on the record */
  refused?: { rule: string; message: string };
}

/** An HTTP endpoint `fleet serve --http` serves beside the instances, for callbacks from an upstream (Slack's Events API). */
export interface InboundEndpoint {
  /** e.g. /slack/events; the same path offered by several instances is served once */
  path: string;
  handle(req: InboundRequest): Promise<InboundAnswer>;
  /** resolves what the endpoint needs (a signing secret) before the server listens; a failure stops the start */
  ready?(): Promise<void>;
}

/** A channel that asks listed people for approval (`approval: { via: <via>, approvers: [...] }`). */
export interface ApprovalChannelKind {
  via: string;
  /** who answers, for the manifest schema: "listed approvers in <place>" */
  who: string;
  /** one approver as a grant lists them (their ID's grammar, and its error message) */
  approver: z.ZodString;
  /** what `approvers` holds, for the manifest schema */
  approvers: string;
  /**
   * Checks the channel's configuration (a missing or broken block throws, naming file:line) and
   * returns its opener: the connection opens on first need, once. Called at start, when a grant asks for it.
   */
  open(ctx: ExtensionContext): () => Promise<ApprovalChannel>;
  /** the endpoints answers arrive at under `fleet serve --http` (ctx.http), where the channel's configuration asks for them */
  inbound?(ctx: ExtensionContext): InboundEndpoint[];
  /** what `fleet verify` finds wrong with the channel's configuration in the scopes folder: the same problems that stop `fleet serve` */
  verify?(scopes: string): { file: string; line: number; path: string; message: string }[];
}

/** What the trail keeps of a proof (never a token itself). */
export interface ProofRecord {
  kind: string;
  verified: boolean;
  /** why a proof failed, for the security team (the client only learns that it failed) */
  failure?: string;
  [detail: string]: unknown;
}

export type Proven =
  | { ok: true; proof: ProofRecord }
  | { ok: false; proof: ProofRecord; message: string; status?: 'denied' | 'failed' };

/** The actor a call names, as a prover sees it. */
export interface ClaimedActor {
  actor: string;
  actorKind?: string;
  thread?: string;
}

/** Proves one claimed actor, under the manifest's attribution block (`rule`) whose place is `line`. */
export interface ActorProver {
  prove(who: ClaimedActor, rule: Record<string, unknown>, line: string, now?: number): Promise<Proven>;
}

/** A way to prove the actor a call names (`attribution: { proof: <proof>, ... }`). */
export interface ActorProverKind {
  proof: string;
  /** what it proves, for the manifest schema */
  describe: string;
  /** the fields of its attribution block besides `required` and `proof` */
  fields: z.ZodRawShape;
  /** what a call must carry to name its human this way, for a refusal */
  howTo: string;
  /** checks what the prover needs (file:line on failure) and returns it; called at start */
  open(ctx: ExtensionContext): ActorProver;
}

/** A scheme of credential references (`<scheme>:...`), resolved to values at start. */
export interface CredentialScheme {
  scheme: string;
  /** what a reference looks like, checked by `fleet verify` at file:line */
  pattern: RegExp;
  /** a reference as a person writes it, for messages: "<scheme>:project/config/NAME" */
  example: string;
  resolve(
    ref: string,
    ctx: { env: NodeJS.ProcessEnv; manifest: Manifest; scopes: string; connectors: Record<string, unknown> },
  ): Promise<string>;
}

/** A checkpoint as a sink is handed it. */
export interface CheckpointNote {
  instance: string;
  seq: number;
  hash: string;
  time: string;
}

/** A place checkpoints are posted to, off the call path, that tells at the end what it lost. */
export interface PostedSink {
  name: string;
  write(note: string, c: CheckpointNote): void;
  posted: number;
  failed: number;
  dropped: number;
  /** waits (at most ms) for what is queued; what is left counts as dropped */
  flush(ms: number): Promise<void>;
}

/** A note read back from where a sink posted it. */
export interface ReadNote {
  text: string;
  where: string;
  edited?: string;
}

/** A sink of signed checkpoints, switched on by its block under fleet.yaml `checkpoints: <name>:`. */
export interface CheckpointSinkKind {
  name: string;
  /** its block's schema (part of fleet.yaml's `checkpoints:` schema) */
  schema: z.ZodType;
  /** where the checkpoints go, for people: "the approvals channel" */
  place: string;
  /** who posts them there, for people (`fleet diff`) */
  by: string;
  /** what a change of the block changes, for people (`fleet diff`) */
  changes: string;
  /** checks what posting needs (file:line on failure) and returns the sink */
  open(ctx: ExtensionContext, block: unknown): PostedSink;
  /** reads the posted checkpoints back, for `fleet audit verify --checkpoints <name>` */
  read(o: {
    scopes: string;
    block: unknown;
    env: NodeJS.ProcessEnv;
    resolve(ref: string): Promise<string>;
  }): Promise<ReadNote[]>;
}

export interface ConnectorExtensions {
  /** the person IDs its people have (actors, approvers), beside e-mail addresses (shared/base/identity.ts) */
  people?: PersonKind[];
  approvals?: ApprovalChannelKind[];
  provers?: ActorProverKind[];
  credentials?: CredentialScheme[];
  checkpointSinks?: CheckpointSinkKind[];
}

/** Every extension of the fleet's connectors, by kind. */
export interface FleetExtensions {
  people: PersonKind[];
  approvals: ApprovalChannelKind[];
  provers: ActorProverKind[];
  credentials: CredentialScheme[];
  checkpointSinks: CheckpointSinkKind[];
}

const memo = new WeakMap<object, FleetExtensions>();

export function extensionsOf(
  connectors: Readonly<Record<string, { extensions?: ConnectorExtensions }>>,
): FleetExtensions {
  let x = memo.get(connectors);
  if (!x) {
    const all = Object.values(connectors).map((c) => c.extensions ?? {});
    x = {
      people: all.flatMap((e) => e.people ?? []),
      approvals: all.flatMap((e) => e.approvals ?? []),
      provers: all.flatMap((e) => e.provers ?? []),
      credentials: all.flatMap((e) => e.credentials ?? []),
      checkpointSinks: all.flatMap((e) => e.checkpointSinks ?? []),
    };
    memo.set(connectors, x);
  }
  return x;
}
