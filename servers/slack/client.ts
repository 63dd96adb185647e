// The only module that loads @slack/web-api; imported on first need so `serve` starts fast.
import { LogLevel, WebClient, type Logger } from '@slack/web-api';
import { StartupError } from '../../shared/base/errors.js';
import type { OpenOptions, Upstream } from '../../shared/connector/tool.js';
import { countingFetch } from '../../shared/connector/sent.js';

// The SDK's default logger writes to stdout, which belongs to JSON-RPC.
function stderrLogger(): Logger {
  let level = LogLevel.ERROR;
  const write = (lvl: string) => (...msg: unknown[]) => process.stderr.write(`slack-sdk ${lvl}: ${msg.map(String).join(' ')}\n`);
  return {
    debug: () => {},
    info: () => {},
    warn: write('warning'),
    error: write('error'),
    setLevel: (l) => (level = l),
    getLevel: () => level,
    setName: () => {},
  };
}

export function webClient(token: string, baseUrl: string | undefined, timeoutMs: number, fetch?: typeof globalThis.fetch): WebClient {
  return new WebClient(token, {
    ...(fetch ? { fetch } : {}),
    ...(baseUrl ? { slackApiUrl: baseUrl } : {}),
    timeout: timeoutMs,
    // Writes must never be sent twice on their own: no automatic retries; a 429 comes back at
    // once with its Retry-After for the caller to decide.
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: stderrLogger(),
    logLevel: LogLevel.ERROR,
  });
}

export async function openSlack(opts: OpenOptions): Promise<Upstream<WebClient>> {
  const counted = countingFetch();
  const client = webClient(opts.credential, opts.baseUrl, opts.timeoutMs, counted.fetch);
  const who = await client.auth.test().catch((e: { data?: { error?: string }; message?: string }) => {
    throw new StartupError(`auth.test failed: ${e.data?.error ?? e.message ?? 'unknown error'}`);
  });
  const workspace = opts.manifest.upstream.workspace as string;
  if (who.team_id !== workspace) {
    throw new StartupError(`the token belongs to workspace ${who.team_id}, but the manifest pins ${workspace}`);
  }
  return {
    client,
    identity: { home: who.team_id!, user: who.user_id, bot: who.bot_id },
    held: who.response_metadata?.scopes,
    sent: counted.sent,
    ...(who.response_metadata?.scopes ? {} : { unchecked: "Slack did not report the token's scopes (no x-oauth-scopes header on auth.test)" }),
  };
}
