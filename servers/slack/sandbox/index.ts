// A Slack Web API emulator on loopback. The official SDK talks to it over real HTTP: form-encoded
// POSTs with a Bearer token, answers with x-oauth-scopes headers, 429 + Retry-After when a fault
// asks for it. Tokens are issued per workspace with exactly the scopes asked for. Token rotation:
// an app with rotation on exchanges a single-use refresh token for an access token that answers
// `token_expired` once its `expires_in` has passed (oauth.v2.access, grant_type=refresh_token).
// Slack's rate tiers hold per app and workspace (./tiers.ts): each issued token is an app of its
// own, the tokens an app with rotation hands out share its budget.
import { randomBytes } from 'node:crypto';
import { Emulator, type EmulatorRequest } from '../../../shared/connector/emulator.js';
import { METHODS, nextTs, SlackError, type Params } from './methods.js';
import { seedWorkspaces, type Workspace } from './seed.js';
import { RateTiers } from './tiers.js';
import { Callbacks, type CallbackTarget } from './callbacks.js';
import { SocketHub } from './socket.js';

export class SlackSandbox {
  readonly workspaces: Workspace[] = seedWorkspaces();
  private tokens = new Map<string, { team: string; scopes: string[]; user?: string; expires?: number; app: string }>();
  private revoked = new Set<string>();
  /** apps with token rotation on: client id → secret, the installation's scopes, its access tokens' lifetime */
  private apps = new Map<string, { secret: string; team: string; scopes: string[]; ttlSeconds: number }>();
  /** live refresh tokens → the app they belong to; each works once */
  private refreshTokens = new Map<string, string>();
  /** how many token exchanges (oauth.v2.access with a refresh token) succeeded */
  exchanges = 0;
  readonly emulator = new Emulator({
    route: (req) => req.path.replace(/^\/api\//, ''),
    params: (req) => redactToken(parseParams(req)),
    handle: (req) => this.handle(req),
    faultBody: (status) =>
      status === 429 ? { ok: false, error: 'ratelimited' } : { ok: false, error: 'internal_error' },
  });
  url = '';
  readonly tiers: RateTiers;
  /** events and button presses delivered to an app's request URLs (./callbacks.ts), once `deliverTo` names them */
  readonly callbacks = new Callbacks();

  /** `speedup` shortens Slack's rate windows by that factor (default: FLEET_SANDBOX_SPEEDUP, else 1, Slack's own) */
  constructor(opts: { speedup?: number } = {}) {
    this.tiers = new RateTiers(opts.speedup ?? (Number(process.env.FLEET_SANDBOX_SPEEDUP) || 1));
  }

  async start(port = 0): Promise<this> {
    this.url = `${await this.emulator.listen(port)}/api/`;
    return this;
  }

  /**
   * A token for `team` holding exactly `scopes`, acting as the workspace's bot or as `user` (a
   * human, e.g. an approver, or another bot). Tests may choose the value, e.g. a canary.
   */
  issue(team: string, scopes: string[], token?: string, user?: string): string {
    const ws = this.workspace(team);
    if (user && !ws.users.some((u) => u.id === user)) throw new Error(`sandbox workspace ${team} has no user ${user}`);
    token ??= `${user && !ws.users.find((u) => u.id === user)!.is_bot ? 'xoxp' : 'xoxb'}-sandbox-${team}-${randomBytes(12).toString('hex')}`;
    this.tokens.set(token, { team, scopes: [...scopes], user, app: token });
    return token;
  }

  /**
   * A person writes in a channel, as they would in the Slack client (e.g. an editor asking the bot
   * for something); returns the message's `<channel>/<ts>`, what a bot passes as `fleet/thread`.
   */
  say(team: string, channel: string, user: string, text: string): string {
    const ws = this.workspace(team);
    const u = ws.users.find((x) => x.id === user);
    if (!u) throw new Error(`sandbox workspace ${team} has no user ${user}`);
    const ch = ws.channels.find((c) => c.id === channel);
    if (!ch) throw new Error(`sandbox workspace ${team} has no channel ${channel}`);
    const ts = nextTs();
    ch.messages.push({ type: 'message', ts, user: u.id, text, ...(u.bot_id ? { bot_id: u.bot_id } : {}) });
    return `${channel}/${ts}`;
  }

  /**
   * The app's Event Subscriptions and Interactivity request URLs and signing secret: from now on a
   * message or reaction in `team` is delivered as an event, and `press` delivers a button press.
   */
  deliverTo(target: CallbackTarget): void {
    this.callbacks.target = target;
  }

  /**
   * The app turns Socket Mode on in `team`: returns its app-level token (xapp-, connections:write)
   * for apps.connections.open; from now on events and button presses go over its WebSocket
   * connections (./socket.ts), not to request URLs.
   */
  socketMode(team: string, appToken = `xapp-1-A0APPROVALS-${randomBytes(12).toString('hex')}`): string {
    this.workspace(team);
    this.callbacks.socket = new SocketHub(appToken, team);
    return appToken;
  }

  /**
   * `user` presses the button `actionId` on message `ts`, as in the Slack client: the app's
   * Interactivity URL gets the block_actions payload; resolves to the status it answered.
   */
  press(team: string, user: string, channel: string, ts: string, actionId: string): Promise<number> {
    const ws = this.workspace(team);
    const u = ws.users.find((x) => x.id === user);
    if (!u) throw new Error(`sandbox workspace ${team} has no user ${user}`);
    const m = ws.channels.find((c) => c.id === channel)?.messages.find((x) => x.ts === ts);
    if (!m) throw new Error(`sandbox has no message ${channel}/${ts}`);
    const block = m.blocks?.find((b) => b.elements?.some((e) => e.type === 'button' && e.action_id === actionId));
    if (!block) throw new Error(`message ${channel}/${ts} has no button ${actionId}`);
    const actionTs = nextTs();
    return this.callbacks.action({
      type: 'block_actions',
      user: { id: u.id, username: u.name, name: u.name, team_id: ws.id },
      api_app_id: 'A0APPROVALS',
      token: 'deprecated-verification-token',
      container: { type: 'message', message_ts: ts, channel_id: channel, is_ephemeral: false },
      trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
      team: { id: ws.id, domain: ws.domain },
      channel: { id: channel },
      message: { type: 'message', ts, user: m.user, text: m.text, blocks: m.blocks },
      response_url: `${this.url}response/${randomBytes(8).toString('hex')}`,
      actions: [
        {
          action_id: actionId,
          block_id: (block as { block_id?: string }).block_id ?? '',
          type: 'button',
          action_ts: actionTs,
          value: (block.elements!.find((e) => e.action_id === actionId) as { value?: string }).value,
        },
      ],
    });
  }

  /**
   * An app with token rotation on, installed in `team` with `scopes` (bot): its client id and
   * secret and a first refresh token. Access tokens it hands out live `ttlSeconds` (Slack: 12 hours).
   */
  rotating(
    team: string,
    scopes: string[],
    opts: { ttlSeconds?: number } = {},
  ): { client_id: string; client_secret: string; refresh_token: string } {
    this.workspace(team);
    const client_id = `${Math.floor(1e9 + Math.random() * 9e9)}.${Math.floor(1e9 + Math.random() * 9e9)}`;
    const client_secret = randomBytes(16).toString('hex');
    this.apps.set(client_id, {
      secret: client_secret,
      team,
      scopes: [...scopes],
      ttlSeconds: opts.ttlSeconds ?? 43_200,
    });
    const refresh_token = `xoxe-1-${randomBytes(24).toString('hex')}`;
    this.refreshTokens.set(refresh_token, client_id);
    return { client_id, client_secret, refresh_token };
  }

  /** Changes what an app with rotation is installed with (an admin reinstalling it): the next exchange hands out tokens holding `scopes`. */
  rescope(clientId: string, scopes: string[]): void {
    const app = this.apps.get(clientId);
    if (!app) throw new Error(`sandbox has no app ${clientId}`);
    app.scopes = [...scopes];
  }

  /** Whether a refresh token can still be exchanged (each works once). */
  refreshable(token: string): boolean {
    return this.refreshTokens.has(token);
  }

  /** oauth.v2.access with grant_type=refresh_token, authenticated by the app's client id and secret. */
  private exchange(p: Params) {
    const app = p.client_id ? this.apps.get(p.client_id) : undefined;
    if (!app) return { ok: false, error: 'invalid_client_id' };
    if (p.client_secret !== app.secret) return { ok: false, error: 'bad_client_secret' };
    if (p.grant_type !== 'refresh_token') return { ok: false, error: 'invalid_grant_type' };
    if (!p.refresh_token || this.refreshTokens.get(p.refresh_token) !== p.client_id)
      return { ok: false, error: 'invalid_refresh_token' };
    this.refreshTokens.delete(p.refresh_token);
    const ws = this.workspace(app.team);
    const access = `xoxe.xoxb-1-${randomBytes(24).toString('hex')}`;
    this.tokens.set(access, {
      team: app.team,
      scopes: [...app.scopes],
      expires: Date.now() + app.ttlSeconds * 1000,
      app: p.client_id!,
    });
    const refresh = `xoxe-1-${randomBytes(24).toString('hex')}`;
    this.refreshTokens.set(refresh, p.client_id!);
    this.exchanges++;
    return {
      ok: true,
      app_id: 'A0FLEETBOT',
      authed_user: { id: ws.users.find((u) => !u.is_bot)?.id ?? '' },
      scope: app.scopes.join(','),
      token_type: 'bot',
      access_token: access,
      bot_user_id: ws.bot.id,
      refresh_token: refresh,
      expires_in: app.ttlSeconds,
      team: { id: ws.id, name: ws.name },
      enterprise: null,
      is_enterprise_install: false,
    };
  }

  /** Revokes a token, as an admin would: Slack then answers `token_revoked`. */
  revoke(token: string): void {
    this.tokens.delete(token);
    this.revoked.add(token);
  }

  workspace(team: string): Workspace {
    const ws = this.workspaces.find((w) => w.id === team);
    if (!ws) throw new Error(`sandbox has no workspace ${team}`);
    return ws;
  }

  async close(): Promise<void> {
    await this.callbacks.socket?.close();
    return this.emulator.close();
  }

  /** What an app subscribed to message.channels and reaction_added hears of a call that succeeded. */
  private announce(
    ws: Workspace,
    user: Workspace['users'][number],
    method: string,
    p: Params,
    out: Record<string, unknown>,
  ): void {
    if (!this.callbacks.target && !this.callbacks.socket) return;
    const bot = user.bot_id ? { bot_id: user.bot_id } : {};
    if (method === 'chat.postMessage') {
      const ts = String(out.ts);
      this.callbacks.event(ws.id, {
        type: 'message',
        channel: p.channel,
        user: user.id,
        ...bot,
        text: p.text ?? '',
        ts,
        ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}),
        event_ts: ts,
        channel_type: 'channel',
      });
    } else if (method === 'reactions.add') {
      const item = ws.channels.find((c) => c.id === p.channel)?.messages.find((m) => m.ts === p.timestamp);
      this.callbacks.event(ws.id, {
        type: 'reaction_added',
        user: user.id,
        reaction: p.name,
        item_user: item?.user,
        item: { type: 'message', channel: p.channel, ts: p.timestamp },
        event_ts: nextTs(),
      });
    }
  }

  /** apps.connections.open: only the Socket Mode app's app-level token opens a connection. */
  private async connectionsOpen(auth: string | undefined) {
    if (!auth) return { json: { ok: false, error: 'not_authed' } };
    const hub = this.callbacks.socket;
    if (!auth.startsWith('xapp-')) return { json: { ok: false, error: 'not_allowed_token_type' } };
    if (!hub || hub.appToken !== auth) return { json: { ok: false, error: 'invalid_auth' } };
    return { json: { ok: true, url: await hub.url() } };
  }

  /** Slack's answer to a call over its tier, or undefined when the call may go (and is counted). */
  private limit(app: string, team: string, method: string, channel?: string) {
    const wait = this.tiers.take(app, team, method, channel);
    return wait
      ? { status: 429, headers: { 'retry-after': String(wait) }, json: { ok: false, error: 'ratelimited' } }
      : undefined;
  }

  private handle(req: EmulatorRequest) {
    const method = req.path.replace(/^\/api\//, '');
    let params: Params;
    try {
      params = parseParams(req);
    } catch {
      return { json: { ok: false, error: 'invalid_form_data' } };
    }
    // the one method authenticated by the app's credentials, not a token
    if (method === 'oauth.v2.access')
      return this.limit(params.client_id ?? '', '', method) ?? { json: this.exchange(params) };
    const auth = req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? params.token;
    if (method === 'apps.connections.open') return this.connectionsOpen(auth);
    const m = METHODS[method];
    if (!m) return { json: { ok: false, error: 'unknown_method' } };
    if (!auth) return { json: { ok: false, error: 'not_authed' } };
    const grant = this.tokens.get(auth);
    if (!grant) return { json: { ok: false, error: this.revoked.has(auth) ? 'token_revoked' : 'invalid_auth' } };
    if (grant.expires !== undefined && Date.now() >= grant.expires)
      return { json: { ok: false, error: 'token_expired' } };
    const limited = this.limit(grant.app, grant.team, method, params.channel);
    if (limited) return limited;
    const headers = { 'x-oauth-scopes': grant.scopes.join(','), 'x-accepted-oauth-scopes': m.scope };
    if (m.scope && !grant.scopes.includes(m.scope)) {
      return {
        headers,
        json: { ok: false, error: 'missing_scope', needed: m.scope, provided: grant.scopes.join(',') },
      };
    }
    try {
      const ws = this.workspace(grant.team);
      const user = ws.users.find((u) => u.id === grant.user) ?? ws.bot;
      const out = m.run({ ws, scopes: grant.scopes, user }, params);
      this.announce(ws, user, method, params, out);
      return { headers, json: { ok: true, ...out } };
    } catch (e) {
      if (e instanceof SlackError) return { headers, json: { ok: false, error: e.error, ...e.extra } };
      throw e;
    }
  }
}

function parseParams(req: EmulatorRequest): Params {
  const out: Params = Object.fromEntries(req.query);
  const type = req.headers['content-type'] ?? '';
  const text = req.body.toString('utf8');
  if (!text) return out;
  if (type.includes('application/json')) Object.assign(out, JSON.parse(text));
  else Object.assign(out, Object.fromEntries(new URLSearchParams(text)));
  return out;
}

function redactToken(p: Params): Params {
  const { token: _t, refresh_token: _r, client_secret: _s, ...rest } = p;
  return rest;
}

export async function startSlackSandbox(port = 0, opts: { speedup?: number } = {}): Promise<SlackSandbox> {
  return new SlackSandbox(opts).start(port);
}
