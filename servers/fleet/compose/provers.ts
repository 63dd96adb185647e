// What proves an actor beyond the client's word: for a slack-message proof, the reader of the
// request message and its author's membership.
import { attributionRule } from '../../../shared/manifest/attribution.js';
import type { MessageReader } from '../../../shared/call/proof.js';
import type { Upstream } from '../../../shared/connector/tool.js';
import type { Manifest } from '../../../shared/manifest/schema.js';
import type { WebClient } from '@slack/web-api';
import { readApprovalsConfig } from '../../slack/approvals.js';
import { slackReader } from '../../slack/reader.js';
import type { ApprovalsSlack } from './approvals.js';
import type { ServeOptions } from './options.js';

/**
 * Where a slack-message proof reads the request message: a Slack instance's own identity, or (any
 * other connector, or `reader: approvals`) the approvals identity of scopes/fleet.yaml, whose token
 * then needs channels:history and users:read.
 */
export function messageReaderFor(manifest: Manifest, opts: ServeOptions, upstream: () => Promise<Upstream<unknown>>, slack: ApprovalsSlack): (() => Promise<MessageReader>) | undefined {
  const rule = attributionRule(manifest.attribution);
  if (rule.proof !== 'slack-message') return undefined;
  let reader: Promise<MessageReader> | undefined;
  if (manifest.connector === 'slack' && rule.reader !== 'approvals') {
    return () => (reader ??= upstream().then((u) => slackReader(u.client as WebClient)));
  }
  readApprovalsConfig(opts.scopes); // a missing approvals identity stops the start, at its file:line
  return () =>
    (reader ??= (async () => {
      const { credential, baseUrl } = await slack();
      const { webClient } = await import('../../slack/client.js');
      return slackReader(webClient(credential, baseUrl, manifest.timeoutMs));
    })());
}
