// Who is asked before a call runs: the approvals identity of scopes/fleet.yaml (`approvals.slack`)
// and the approval channel it opens, and the watch that records late answers to withdrawn requests.
import type { ApprovalChannel } from '../../../shared/call/approval.js';
import type { Redactor } from '../../../shared/call/redaction.js';
import { resolveCredential } from '../../../shared/connector/credentials.js';
import type { Manifest } from '../../../shared/manifest/schema.js';
import { openSlackApprovals, readApprovalsConfig, SANDBOX_APPROVALS_BOT, type SlackApprovalsConfig } from '../../slack/approvals.js';
import type { ServeOptions } from './options.js';

/** The approvals identity's Slack connection (scopes/fleet.yaml `approvals.slack`), opened once, on first need. */
export type ApprovalsSlack = () => Promise<{ config: SlackApprovalsConfig; credential: string; baseUrl?: string }>;

export function approvalsSlack(
  manifest: Manifest,
  opts: ServeOptions,
  redactor: Redactor,
  keepSandbox: (sb: { close(): Promise<void> }) => void,
): ApprovalsSlack {
  let config: SlackApprovalsConfig | undefined;
  let opened: ReturnType<ApprovalsSlack> | undefined;
  return () =>
    (opened ??= (async () => {
      config ??= readApprovalsConfig(opts.scopes);
      let credential: string;
      let baseUrl = process.env.FLEET_APPROVALS_SLACK_URL || (manifest.connector === 'slack' ? opts.upstream : undefined);
      if (opts.sandbox) {
        const { startSlackSandbox } = await import('../../slack/sandbox/index.js');
        const sb = await startSlackSandbox();
        keepSandbox(sb);
        credential = sb.issue(config.workspace, config.token_scopes, undefined, SANDBOX_APPROVALS_BOT);
        baseUrl = sb.url;
      } else {
        credential = await resolveCredential(config.credential, process.env);
      }
      redactor.add(credential);
      return { config, credential, baseUrl };
    })());
}

/**
 * The Slack approvals identity, when a grant asks for Slack approval: its config is checked now
 * (a missing or broken fleet.yaml block stops the start), the connection opens on first need.
 */
export function slackApprovalsFor(manifest: Manifest, opts: ServeOptions, slack: ApprovalsSlack, log: { warn(message: string): void }): (() => Promise<ApprovalChannel>) | undefined {
  const wanted = Object.values(manifest.tools).some((g) => (g.approval as { via?: string } | undefined)?.via === 'slack');
  if (!wanted) return undefined;
  readApprovalsConfig(opts.scopes);
  let channel: Promise<ApprovalChannel> | undefined;
  return () =>
    (channel ??= (async () => {
      const { config, credential, baseUrl } = await slack();
      return openSlackApprovals({ config, credential, baseUrl, timeoutMs: manifest.timeoutMs, pollMs: approvalPollMs(), warn: log.warn });
    })());
}

/** How often a pending approval's thread is read (and withdrawn requests' threads, for late answers). */
export const approvalPollMs = () => Number(process.env.FLEET_APPROVAL_POLL_MS) || 2000;
