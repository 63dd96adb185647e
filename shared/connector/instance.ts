// One running instance: a connector, the manifest that scopes it, its upstream (opened once, on
// start, in the background), its audit trail and the rest of its state.
import type { ApprovalChannel } from '../call/approval.js';
import type { AuditStore, KeyStore, StateStore } from '../state/store.js';
import type { Log } from '../base/log.js';
import type { Manifest } from '../manifest/schema.js';
import type { Redactor } from '../call/redaction.js';
import type { Connector, ToolDef, Upstream } from './tool.js';
import type { MessageReader } from '../call/proof.js';

export interface Instance<C = any> {
  connector: Connector<C>;
  manifest: Manifest;
  /** granted tools only, in the connector's order */
  tools: Map<string, ToolDef<C>>;
  upstream: () => Promise<Upstream<C>>;
  /** the audit trail (state.audit) */
  audit: AuditStore;
  redactor: Redactor;
  log: Log;
  env: NodeJS.ProcessEnv;
  /** everything the instance remembers between calls, shared by all its processes (and replicas) */
  state: StateStore;
  /** idempotency keys (state.keys) */
  keys: KeyStore;
  /** the instance's state folder on this machine (fleetDir('state', scopes)): where suspensions live */
  stateDir: string;
  /** the audit trail of another instance ("cloudflare.dev"), for promotion evidence */
  auditOf?(instance: string): string;
  /** that trail's signed checkpoints (seq → hash) where known; throws when they cannot be trusted */
  anchorsOf?(instance: string): Map<number, string> | undefined;
  /** the Slack approvals identity, opened on first need */
  slackApprovals?: () => Promise<ApprovalChannel>;
  /** reads Slack request messages and members to prove actors (attribution proof: slack-message) */
  messages?: () => Promise<MessageReader>;
}

export function grantedTools<C>(connector: Connector<C>, manifest: Manifest): Map<string, ToolDef<C>> {
  return new Map(connector.tools.filter((t) => manifest.tools[t.name] !== undefined).map((t) => [t.name, t]));
}
