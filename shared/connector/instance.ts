// One running instance: a connector, the manifest that scopes it, its upstream (opened once, on
// start, in the background) and its audit trail.
import type { ApprovalChannel } from '../call/approval.js';
import type { AuditLog } from '../audit/log.js';
import type { KeyStore } from '../call/idempotency.js';
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
  audit: AuditLog;
  redactor: Redactor;
  log: Log;
  env: NodeJS.ProcessEnv;
  /** idempotency keys of this instance, shared by all its processes */
  keys: KeyStore;
  /** rate windows of this instance, shared by all its processes */
  rateFile: string;
  /** the Slack approvals identity, opened on first need */
  slackApprovals?: () => Promise<ApprovalChannel>;
  /** reads Slack request messages and members to prove actors (attribution proof: slack-message) */
  messages?: () => Promise<MessageReader>;
}

export function grantedTools<C>(connector: Connector<C>, manifest: Manifest): Map<string, ToolDef<C>> {
  return new Map(connector.tools.filter((t) => manifest.tools[t.name] !== undefined).map((t) => [t.name, t]));
}
