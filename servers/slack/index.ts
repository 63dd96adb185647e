// The Slack connector: its tools, its manifest `upstream:` block, and how to open the upstream.
import { slackExtensions } from './extensions.js';
import { z } from 'zod';
import type { Connector, UpstreamError } from '../../shared/connector/tool.js';
import { attributionRule } from '../../shared/manifest/attribution.js';
import type { Slack } from './common.js';
import { listChannels } from './tools/channels.js';
import { getPermalink, readHistory, readThread, searchMessages } from './tools/read.js';
import { deleteMessage, postMessage, replyInThread, updateMessage } from './tools/write.js';
import { addReaction } from './tools/reactions.js';
import { getUser, listUsers } from './tools/users.js';

const HINTS: Record<string, string> = {
  channel_not_found: 'the channel does not exist or the bot is not a member',
  not_in_channel: 'invite the bot to the channel first',
  missing_scope: "the token lacks a scope this tool needs; compare the app's scopes with the manifest's token_scopes",
  invalid_auth: 'the token is invalid or revoked',
  token_expired:
    'the rotated access token expired before it was renewed; see the instance log for why its renewal failed',
  ratelimited: 'Slack is rate limiting this token',
  message_not_found: 'no message with that ts in that channel',
  cant_update_message: 'only messages posted by this bot can be edited',
  cant_delete_message: 'only messages posted by this bot can be deleted',
  already_reacted: 'the bot already added that reaction',
  invalid_name: 'no such emoji',
};

function describeError(err: unknown): UpstreamError | undefined {
  const e = err as {
    code?: string;
    data?: { error?: string; needed?: string };
    retryAfter?: number;
    statusCode?: number;
    original?: { code?: string; message?: string };
    message?: string;
    name?: string;
  };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
    return { code: 'timeout', message: 'Slack did not answer within the instance timeout' };
  switch (e?.code) {
    case 'slack_webapi_platform_error': {
      const code = e.data?.error ?? 'error';
      // Slack's codes are snake_case words; anything else is a body that was not Slack's (a proxy
      // page, a cut-off answer) and may quote anything: say that, not what it said
      if (!/^[a-z0-9_]{1,80}$/.test(code)) {
        return {
          code: 'bad_response',
          message:
            'Slack answered with a body that is not a Slack API response (an outage or proxy page?); if this was a write, check before retrying',
        };
      }
      const hint = HINTS[code];
      return {
        code,
        message: `${hint ?? 'Slack refused the request'}${e.data?.needed ? ` (needs ${e.data.needed})` : ''}`,
        definite: true,
      };
    }
    case 'slack_webapi_rate_limited_error':
      return { code: 'ratelimited', message: HINTS.ratelimited!, retryAfter: e.retryAfter, definite: true };
    case 'slack_webapi_http_error':
      return {
        code: `http_${e.statusCode}`,
        message: `Slack answered HTTP ${e.statusCode}`,
        definite: (e.statusCode ?? 500) < 500,
      };
    case 'slack_webapi_request_error':
      return {
        code: e.original?.code === 'ECONNABORTED' ? 'timeout' : 'request_failed',
        message: `the request to Slack failed: ${e.original?.message ?? 'network error'}`,
      };
    default:
      // another of the SDK's own errors (slack_webapi_*); anything else is a fault of the fleet's own
      return typeof e?.code === 'string' && e.code.startsWith('slack_')
        ? { code: e.code, message: 'the Slack SDK failed' }
        : undefined;
  }
}

export const slack: Connector<Slack> = {
  name: 'slack',
  tools: [
    listChannels,
    readHistory,
    readThread,
    postMessage,
    replyInThread,
    updateMessage,
    deleteMessage,
    addReaction,
    listUsers,
    getUser,
    searchMessages,
    getPermalink,
  ],
  upstream: z.strictObject({
    workspace: z
      .string()
      .regex(/^T[A-Z0-9]{2,}$/, 'workspace must be a Slack team ID such as T0123ABCD')
      .describe('the Slack team ID (T…) the token must belong to'),
    token_scopes: z
      .array(z.string().regex(/^[a-z]+(:[a-z.]+)+$/, 'an OAuth scope such as chat:write'))
      .min(1)
      .describe('the OAuth scopes the bot token holds, exactly'),
  }),
  declared: (u) => u.token_scopes,
  // a slack-message proof read with the instance's own token (servers/slack/reader.ts):
  // conversations.replies for the message, users.info for its author
  pathNeeds: (m) => {
    const rule = attributionRule(m.attribution);
    return rule.proof === 'slack-message' && rule.reader !== 'approvals' ? ['channels:history', 'users:read'] : [];
  },
  async open(opts) {
    const { openSlack } = await import('./client.js');
    return openSlack(opts);
  },
  async rotate(opts) {
    const { rotateSlack } = await import('./client.js');
    return rotateSlack(opts);
  },
  async sandbox(port = 0) {
    const { startSlackSandbox } = await import('./sandbox/index.js');
    const sb = await startSlackSandbox(port);
    return {
      url: sb.url,
      issueToken: (m) => sb.issue(m.upstream.workspace, m.upstream.token_scopes),
      // what a person can do in the Slack client: write, react, read; deleted accounts cannot sign in
      people: () =>
        sb.workspaces.flatMap((ws) =>
          ws.users
            .filter((u) => !u.is_bot && !u.deleted)
            .map((u) => ({
              id: u.id,
              name: `${u.real_name}${u.is_restricted ? ' (guest)' : ''}`,
              home: ws.id,
              token: sb.issue(
                ws.id,
                ['chat:write', 'reactions:write', 'channels:history', 'channels:read', 'users:read'],
                undefined,
                u.id,
              ),
            })),
        ),
      issueAs: (home, permissions, identity) => sb.issue(home, permissions, undefined, identity),
      // an app with token rotation on, installed with exactly the declared scopes
      issueRotation: (m) => sb.rotating(m.upstream.workspace, m.upstream.token_scopes),
      close: () => sb.close(),
    };
  },
  describeError,
  extensions: slackExtensions,
};
