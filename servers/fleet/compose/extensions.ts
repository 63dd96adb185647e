// What an instance asks of the connectors' extensions, opened at start: the approval channels its
// grants name (`approval.via`), the prover of its attribution's proof, and (./checkpoints.ts) the
// checkpoint sinks fleet.yaml turns on. Each extension gets one context per instance, so the
// pieces a connector shares between its extensions (a connection, a sandbox) are opened once.
import type { Log } from '../../../shared/base/log.js';
import type { ApprovalChannel } from '../../../shared/call/approval.js';
import { ELICITATION } from '../../../shared/call/approval.js';
import type { Redactor } from '../../../shared/base/redaction.js';
import {
  extensionsOf,
  type ActorProver,
  type ExtensionContext,
  type FleetExtensions,
  type InboundEndpoint,
} from '../../../shared/connector/extensions.js';
import type { Upstream } from '../../../shared/connector/tool.js';
import type { StateStore } from '../../../shared/state/store.js';
import { attributionRule } from '../../../shared/manifest/attribution.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import { CONNECTORS } from '../connectors.js';
import type { Resolve } from './credentials.js';
import type { ServeOptions } from './options.js';

/** How often a pending approval is polled (and withdrawn requests, for late answers). */
export const approvalPollMs = () => Number(process.env.FLEET_APPROVAL_POLL_MS) || 2000;

export const fleetExtensions = (): FleetExtensions => extensionsOf(CONNECTORS);

/** The context every extension of one instance shares, and the closers they registered. */
export function extensionContext(o: {
  manifest: Manifest;
  opts: ServeOptions;
  redactor: Redactor;
  log: Log;
  resolve: Resolve;
  upstream: () => Promise<Upstream<unknown>>;
  /** the instance's store, once opened */
  store: () => StateStore | undefined;
}): { ctx: ExtensionContext; close(): Promise<void> } {
  const closers: (() => Promise<void>)[] = [];
  const ctx: ExtensionContext = {
    manifest: o.manifest,
    scopes: o.opts.scopes,
    sandbox: !!o.opts.sandbox,
    ...(o.opts.upstream ? { upstream: o.opts.upstream } : {}),
    env: process.env,
    secret: (v) => o.redactor.add(v),
    log: o.log,
    instanceClient: () => o.upstream().then((u) => u.client),
    resolve: o.resolve,
    pollMs: approvalPollMs(),
    http: !!o.opts.http,
    signals: () => o.store()?.signals,
    onClose: (fn) => void closers.push(fn),
  };
  return { ctx, close: async () => void (await Promise.all(closers.map((fn) => fn().catch(() => {})))) };
}

/** The channels the instance's grants ask for, by `via`; each checks its configuration now, connects on first need. */
export function approvalChannels(
  ctx: ExtensionContext,
  ext: FleetExtensions,
): Record<string, () => Promise<ApprovalChannel>> | undefined {
  const wanted = new Set(
    Object.values(ctx.manifest.tools)
      .map((g) => (g.approval as { via?: string } | undefined)?.via)
      .filter((v) => v && v !== ELICITATION),
  );
  if (!wanted.size) return undefined;
  return Object.fromEntries(ext.approvals.filter((k) => wanted.has(k.via)).map((k) => [k.via, k.open(ctx)]));
}

/** What the channels the instance's grants ask for serve under `fleet serve --http`, for answers to arrive at. */
export function inboundEndpoints(ctx: ExtensionContext, ext: FleetExtensions): InboundEndpoint[] {
  const wanted = new Set(
    Object.values(ctx.manifest.tools).map((g) => (g.approval as { via?: string } | undefined)?.via),
  );
  return ctx.http ? ext.approvals.filter((k) => wanted.has(k.via)).flatMap((k) => k.inbound?.(ctx) ?? []) : [];
}

/** The prover of the instance's attribution proof, where a connector contributes it. */
export function actorProver(
  ctx: ExtensionContext,
  ext: FleetExtensions,
): (ActorProver & { howTo: string }) | undefined {
  const { proof } = attributionRule(ctx.manifest.attribution);
  const kind = ext.provers.find((p) => p.proof === proof);
  return kind && { ...kind.open(ctx), howTo: kind.howTo };
}
