// One running instance: a connector, the manifest that scopes it, its upstream (opened once, on
// start, in the background), its audit trail and the rest of its state.
import type { ApprovalChannel } from '../connector/approval-channel.js';
import type { AuditStore, KeyStore, StateStore } from '../state/store.js';
import type { Log } from '../base/log.js';
import type { Manifest } from '../base/manifest.js';
import type { Redactor } from '../base/redaction.js';
import type { Connector, ToolDef, Upstream } from '../connector/tool.js';
import { baseOf, effective, nextChange } from '../manifest/exceptions.js';
import type { ActorProver } from '../connector/extensions.js';
import type { People } from '../manifest/people.js';

export interface Instance<C = any> {
  connector: Connector<C>;
  manifest: Manifest;
  /** granted tools only, in the connector's order */
  tools: Map<string, ToolDef<C>>;
  upstream: () => Promise<Upstream<C>>;
  /** the audit trail (store.audit) */
  audit: AuditStore;
  redactor: Redactor;
  log: Log;
  env: NodeJS.ProcessEnv;
  /** the store: everything the instance remembers between calls, shared by all its processes (and replicas) */
  store: StateStore;
  /** idempotency keys (store.keys) */
  keys: KeyStore;
  /** the instance's state folder on this machine (fleetDir('state', scopes)): where suspensions live */
  stateDir: string;
  /** the file of another instance's audit trail ("cloudflare.dev"), for promotion evidence */
  trailFileOf?(instance: string): string;
  /** that trail's signed checkpoints (seq → hash) where known; throws when they cannot be trusted */
  anchorsOf?(instance: string): Map<number, string> | undefined;
  /**
   * Deletes the token this process minted (and any being retired) now and stops renewing it, with
   * `reason` on the revoke records; a no-op for a standing credential. Calls after it fail at the
   * upstream until the process restarts. For suspension (`fleet suspend`), which owns when to call it.
   */
  revokeCredential?(reason: string): Promise<void>;
  /** the approval channels its grants ask for, by `via` (a connector's ApprovalChannelKind), each opened on first need */
  approvalChannels?: Record<string, () => Promise<ApprovalChannel>>;
  /** the prover of its attribution's proof, where a connector contributes it, and what a call must carry for it */
  prover?: ActorProver & { howTo: string };
  /** the people the fleet knows (fleet.yaml people:): links a requester's e-mail to their member IDs */
  people?: People;
}

const windows = new WeakMap<object, { from: number; until: number; active: string }>();
const listeners = new WeakMap<object, Set<() => void>>();

/** Calls `fn` whenever the instance's tools change because an exception started or expired, until the returned function is called. */
export function onToolsChanged(inst: Instance, fn: () => void): () => void {
  let set = listeners.get(inst);
  if (!set) listeners.set(inst, (set = new Set()));
  set.add(fn);
  return () => void set.delete(fn);
}

/**
 * Brings `inst.manifest` and `inst.tools` to what the manifest grants at `now`, with the
 * time-boxed exceptions active then (a no-op between two boundaries, and for a manifest with no
 * exceptions). Returns the next boundary, if any.
 */
export function refreshExceptions(inst: Instance, now = Date.now()): number | undefined {
  const base = baseOf(inst.manifest);
  if (!base.exceptions?.length) return undefined;
  const w = windows.get(inst);
  if (w && now >= w.from && now < w.until) return w.until;
  const eff = effective(base, now);
  const active = [...eff.activeExceptions.values()].map((e) => e.id).join(',');
  const until = nextChange(base, now) ?? Infinity;
  inst.manifest = eff;
  inst.tools = grantedTools(inst.connector, eff);
  windows.set(inst, { from: now, until, active });
  if (w && w.active !== active) for (const fn of listeners.get(inst) ?? []) fn();
  return until === Infinity ? undefined : until;
}

export function grantedTools<C>(connector: Connector<C>, manifest: Manifest): Map<string, ToolDef<C>> {
  return new Map(connector.tools.filter((t) => manifest.tools[t.name] !== undefined).map((t) => [t.name, t]));
}
