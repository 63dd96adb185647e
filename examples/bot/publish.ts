// The blog bot's publish step, as it runs on Cloudflare Workers (a Workflow step or a plain
// Worker): it posts an approved draft to the editorial channel through the fleet's slack.prod
// instance, on behalf of the editor who asked in a Slack thread. The bot holds no Slack token; it
// holds its own fleet client credential (FLEET_TOKEN), which scopes/clients.yaml lists for
// slack.prod only.
import { fleetClient, FleetError } from 'mcp-fleet-client';

export interface Env {
  /** the fleet's public URL, e.g. https://fleet.example.com (a Cloudflare Tunnel hostname) */
  FLEET_URL: string;
  /** this routine's bearer token, minted by `fleet clients mint bot-publish` (a Worker secret) */
  FLEET_TOKEN: string;
  /** Cloudflare Access service token in front of the tunnel, when Access protects it */
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
}

export interface Draft {
  id: string;
  channel: string;
  text: string;
  /** the editor who asked (Slack user ID) and the thread where they asked */
  editor: string;
  thread: string;
}

export type Published =
  | { posted: true; ts: string; replayed: boolean }
  | { posted: false; status: string; why: string };

/** One step: post the draft once, however often the step is retried. */
export async function publishDraft(env: Env, draft: Draft, fetchImpl?: typeof fetch): Promise<Published> {
  const slack = fleetClient('slack.prod', {
    url: `${env.FLEET_URL.replace(/\/$/, '')}/mcp/slack/prod`,
    token: env.FLEET_TOKEN,
    headers: env.CF_ACCESS_CLIENT_ID
      ? { 'CF-Access-Client-Id': env.CF_ACCESS_CLIENT_ID, 'CF-Access-Client-Secret': env.CF_ACCESS_CLIENT_SECRET ?? '' }
      : {},
    fetch: fetchImpl,
  });
  const r = await slack.post_message(
    { channel: draft.channel, text: draft.text },
    // the key is the draft: a retried step (or a retry on another replica) replays, never reposts
    {
      actor: draft.editor,
      thread: draft.thread,
      reason: `publish draft ${draft.id}`,
      idempotencyKey: `publish-${draft.id}`,
    },
  );
  if (!r.ok) return { posted: false, status: r.status, why: r.message };
  return { posted: true, ts: r.data.ts!, replayed: r.data.status === 'replayed' };
}

/** The Worker: POST a draft as JSON, get what happened. */
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (request.method !== 'POST') return new Response('POST a draft', { status: 405 });
    try {
      return Response.json(await publishDraft(env, (await request.json()) as Draft));
    } catch (e) {
      const status = e instanceof FleetError && e.httpStatus ? 502 : 500;
      return Response.json({ posted: false, status: 'error', why: (e as Error).message }, { status });
    }
  },
};
