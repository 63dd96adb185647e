// Answers that Slack delivers over Socket Mode, where the instance has no URL Slack can reach
// (stdio, or `serve --http` behind a firewall): fleet.yaml gives the approvals app's app-level
// token (`approvals.slack.app_token`), and the official client (@slack/socket-mode) opens the
// WebSocket with apps.connections.open, reconnects, and answers Slack's pings. Each envelope is
// acked first (Slack redelivers what is not acked within 3 s), then read by the parsers of
// ./events.ts, the same as a delivery to /slack/events or /slack/actions; no signature is checked
// because the connection itself was opened with the app's token.
import type { Logger } from '@slack/web-api';
import { forward, parseAction, parseEvent, type ActionPayload, type Delivered, type EventBody } from './events.js';

export interface SocketOptions {
  appToken: string;
  /** the Web API's base URL (the sandbox's), where apps.connections.open is called */
  baseUrl?: string;
  workspace: string;
  channel: string;
  deliver(d: Delivered): void;
  warn(message: string): void;
}

/** Opens the Socket Mode connection; resolves once Slack said hello, to the function that closes it. */
export async function openSocket(o: SocketOptions): Promise<() => Promise<void>> {
  const { SocketModeClient, LogLevel } = await import('@slack/socket-mode');
  // the client's own logger writes to stdout, which belongs to JSON-RPC; its errors name no token
  let level = LogLevel.ERROR;
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (...m: unknown[]) => o.warn(`Socket Mode: ${m.map(String).join(' ')}`),
    error: (...m: unknown[]) => o.warn(`Socket Mode: ${m.map(String).join(' ')}`),
    setLevel: (l) => (level = l),
    getLevel: () => level,
    setName: () => {},
  };
  const client = new SocketModeClient({
    appToken: o.appToken,
    logger,
    clientOptions: o.baseUrl ? { slackApiUrl: o.baseUrl } : {},
  });
  client.on('slack_event', async ({ ack, type, body }: { ack: () => Promise<void>; type: string; body: unknown }) => {
    await ack().catch(() => undefined);
    try {
      if (type === 'events_api') forward(parseEvent(body as EventBody), o);
      else if (type === 'interactive') forward(parseAction(body as ActionPayload), o);
    } catch {
      // not an envelope these parsers know: nothing to hand on
    }
  });
  await client.start();
  return () => client.disconnect();
}
