// The production Slack instance as the approvals and identity suites drive it: the Slack sandbox
// in the test process plays the people (an editor asks in #editorial, approvers answer in
// #approvals), a scopes folder holds copies of the shipped manifests edited per test, and the
// server is the real CLI over stdio with the bot's and the approvals identity's tokens.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import type { SlackSandbox } from '../servers/slack/sandbox/index.js';
import { approvalsIdentity, SCOPES, serve, tempDir, type Served, type ServeArgs } from './helpers.js';

/** slack.prod's declared token scopes (scopes/slack.prod.yaml upstream.token_scopes) */
export const PROD_SCOPES = ['channels:read', 'channels:history', 'chat:write', 'reactions:write', 'users:read'];
/** a message the prod bot posted in C0EDITORIAL: what update_message edits */
export const BOT_MESSAGE = '1767226320.000112';

/** A scopes folder with copies of the shipped Slack manifests and fleet.yaml, each passed through `edit`. */
export function slackScopes(edit: (name: string, text: string) => string = (_n, t) => t): string {
  const dir = tempDir('fleet-scopes-');
  for (const f of ['slack.dev.yaml', 'slack.prod.yaml', 'fleet.yaml'])
    writeFileSync(join(dir, f), edit(f, readFileSync(join(SCOPES, f), 'utf8')));
  return dir;
}

/** The same, with slack.prod's update_message approval timing out after `timeout`. */
export const approvalTimeout = (timeout: string, edit: (text: string) => string = (t) => t) =>
  slackScopes((f, t) => (f === 'slack.prod.yaml' ? edit(t.replace('timeout: 15m }', `timeout: ${timeout} }`)) : t));

/** `fleet serve slack --env prod` against the sandbox, with its bot token and the approvals identity. */
export function serveSlackProd(
  sb: SlackSandbox,
  o: Partial<Pick<ServeArgs, 'scopes' | 'stateDir' | 'auditDir'>> & { vars?: Record<string, string> } = {},
): Promise<Served> {
  return serve({
    connector: 'slack',
    env: 'prod',
    upstream: sb.url,
    scopes: o.scopes ?? approvalTimeout('20s'),
    stateDir: o.stateDir,
    auditDir: o.auditDir,
    vars: {
      SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', PROD_SCOPES),
      ...approvalsIdentity(sb),
      FLEET_APPROVAL_POLL_MS: '50',
      ...o.vars,
    },
  });
}

/** The people of the sandbox's production workspace, and what they see. */
export function workspace(sb: SlackSandbox) {
  const channel = (id: string) =>
    sb.workspace(id.startsWith('C0DEV') ? 'T0BLOGDEV' : 'T0BLOGPROD').channels.find((c) => c.id === id)!;
  return {
    channel,
    /** `actor` asks in a request channel; the bot's call carries that message as its proof */
    asks: (actor: string, where = 'C0EDITORIAL') => ({
      'fleet/actor': actor,
      'fleet/thread': sb.say('T0BLOGPROD', where, actor, 'please edit the release notes'),
    }),
    /** a Slack client acting as `user` (to answer approvals) */
    as: (user: string) =>
      new WebClient(sb.issue('T0BLOGPROD', ['chat:write', 'reactions:write'], undefined, user), {
        slackApiUrl: sb.url,
        retryConfig: { retries: 0 },
      }),
    /** the text of the bot's message that update_message edits */
    edited: () => channel('C0EDITORIAL').messages.find((m) => m.ts === BOT_MESSAGE)!.text,
  };
}
