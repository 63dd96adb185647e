// The only module that loads @slack/web-api; imported on first need so `serve` starts fast.
import { LogLevel, WebClient, type Logger } from '@slack/web-api';
import { StartupError } from '../../shared/base/errors.js';
import type { OpenOptions, RotateOptions, RotatedToken, Upstream } from '../../shared/connector/tool.js';
import { countingFetch } from '../../shared/connector/sent.js';

// The SDK's default logger writes to stdout, which belongs to JSON-RPC.
function stderrLogger(): Logger {
  let level = LogLevel.ERROR;
  const write =
    (lvl: string) =>
    (...msg: unknown[]) =>
      process.stderr.write(`slack-sdk ${lvl}: ${msg.map(String).join(' ')}\n`);
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

export function webClient(
  token: string,
  baseUrl: string | undefined,
  timeoutMs: number,
  fetch?: typeof globalThis.fetch,
): WebClient {
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

/**
 * A fetch that sends the current token: a rotated token is renewed while the client lives, and the
 * SDK fixes its Authorization header when the client is made.
 */
function bearerFetch(base: typeof fetch, token: () => string): typeof fetch {
  return ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token()}`);
    return base(input, { ...init, headers });
  }) as typeof fetch;
}

export async function openSlack(opts: OpenOptions): Promise<Upstream<WebClient>> {
  let token = opts.credential;
  const counted = countingFetch(bearerFetch(globalThis.fetch, () => token));
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
    rebind: (credential) => void (token = credential),
    ...(who.response_metadata?.scopes
      ? {}
      : { unchecked: "Slack did not report the token's scopes (no x-oauth-scopes header on auth.test)" }),
  };
}

/**
 * Slack's token rotation: `oauth.v2.access` with `grant_type=refresh_token` answers a new access
 * token (12 hours), its lifetime in `expires_in`, and the next refresh token (the one sent is
 * revoked). No token authenticates the call: the app's client id and secret do.
 */
export async function rotateSlack(opts: RotateOptions): Promise<RotatedToken> {
  const web = webClient('', opts.baseUrl, opts.timeoutMs);
  let r;
  try {
    r = await web.oauth.v2.access({
      client_id: opts.clientId,
      client_secret: opts.clientSecret,
      grant_type: 'refresh_token',
      refresh_token: opts.refreshToken,
    });
  } catch (e) {
    const err = e as { data?: { error?: string }; code?: string };
    throw new Error(`oauth.v2.access: ${err.data?.error ?? err.code ?? 'request failed'}`);
  }
  if (!r.access_token || !r.refresh_token || !r.expires_in) {
    throw new Error(
      'oauth.v2.access answered without access_token, refresh_token and expires_in: is token rotation enabled for the app?',
    );
  }
  return {
    access: r.access_token,
    refresh: r.refresh_token,
    expiresAt: Date.now() + r.expires_in * 1000,
    ...(r.scope ? { scopes: r.scope.split(',').filter(Boolean) } : {}),
  };
}
