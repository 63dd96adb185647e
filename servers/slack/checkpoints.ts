// Signed audit checkpoints in Slack: each one is posted to the approvals channel by the approvals
// identity (scopes/fleet.yaml `approvals.slack`, its own app and credential), where the instance's
// own bot cannot edit or delete it, and read back by `fleet audit verify --checkpoints slack`
// through a read-only credential (`checkpoints.slack.reader`).
// Posting is off the call path: a checkpoint is queued (bounded; the oldest is dropped first, the
// newest says the most) and posted in the background; failures and drops are counted, told on
// stderr, and recorded in the trail when the instance stops. A call never waits for Slack.
import type { WebClient } from '@slack/web-api';
import type { Checkpoint, CheckpointSink } from '../../shared/audit/checkpoint.js';
import { ORIGIN_PREFIX } from '../../shared/audit/checkpoint.js';
import type { SlackApprovalsConfig } from './approvals.js';

export interface SlackConnection {
  config: SlackApprovalsConfig;
  credential: string;
  baseUrl?: string;
}

export interface SlackCheckpointSink extends CheckpointSink {
  /** checkpoints Slack took */
  posted: number;
  /** checkpoints Slack refused or never answered for */
  failed: number;
  /** checkpoints dropped from a full queue, or still queued when the instance stopped */
  dropped: number;
  /** waits (at most ms) for what is queued to be posted; what is left counts as dropped */
  flush(ms: number): Promise<void>;
}

const MAX_QUEUE = 32;

const slackError = (e: unknown) =>
  (e as { data?: { error?: string } }).data?.error ??
  (e as { code?: string }).code ??
  (e as Error).message ??
  'request failed';

export function slackCheckpointSink(o: {
  open: () => Promise<SlackConnection>;
  timeoutMs: number;
  warn(message: string): void;
  maxQueue?: number;
}): SlackCheckpointSink {
  const queue: { note: string; c: Checkpoint }[] = [];
  let web: Promise<{ web: WebClient; channel: string }> | undefined;
  let running: Promise<void> | undefined;
  let inflight = false;
  let closed = false;
  let where = 'the approvals channel';
  const connect = () =>
    (web ??= (async () => {
      const { config, credential, baseUrl } = await o.open();
      where = `the approvals channel ${config.channel}`;
      const { webClient } = await import('./client.js');
      return { web: webClient(credential, baseUrl, o.timeoutMs), channel: config.channel };
    })().catch((e) => {
      web = undefined; // the next checkpoint tries again
      throw e;
    }));
  const sink: SlackCheckpointSink = {
    name: 'Slack (the approvals channel)',
    posted: 0,
    failed: 0,
    dropped: 0,
    write(note, c) {
      if (queue.length >= (o.maxQueue ?? MAX_QUEUE)) {
        queue.shift();
        sink.dropped++;
      }
      queue.push({ note, c });
      running ??= pump().finally(() => (running = undefined));
    },
    async flush(ms) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
      // what Slack has not confirmed by now never counts as posted: the queued and the one in flight
      closed = true;
      sink.dropped += queue.splice(0).length + (inflight ? 1 : 0);
    },
  };
  async function pump(): Promise<void> {
    for (let next = queue.shift(); next && !closed; next = queue.shift()) {
      inflight = true;
      try {
        const { web: w, channel } = await connect();
        // the note's exact text, unformatted: verify reads it back byte for byte
        await w.chat.postMessage({ channel, text: next.note, mrkdwn: false, unfurl_links: false, unfurl_media: false });
        if (!closed) sink.posted++;
      } catch (e) {
        if (closed) return;
        sink.failed++;
        o.warn(
          `audit checkpoint ${next.c.seq} of ${next.c.instance} was not posted to ${where}: ${slackError(e)} (${sink.failed} failed so far; the trail and the other checkpoint places are unaffected)`,
        );
      } finally {
        inflight = false;
      }
    }
  }
  return sink;
}

/** A checkpoint read back from the channel: its text and where it was found. */
export interface PostedNote {
  where: string;
  text: string;
  /** the message was edited after it was posted (Slack marks it) */
  edited?: string;
  /** who posted it: the member (or bot) ID */
  author?: string;
}

/** Scopes a reader may hold: reading only. */
const READ_ONLY = /^(?:[a-z.]+:(?:read|history))$/;

/**
 * Reads every checkpoint note in the approvals channel, through a read-only credential: a reader
 * token holding any scope that writes is refused (it could rewrite what it reads).
 */
export async function readPostedCheckpoints(o: {
  config: SlackApprovalsConfig;
  credential: string;
  baseUrl?: string;
  timeoutMs: number;
}): Promise<PostedNote[]> {
  const { webClient } = await import('./client.js');
  const web = webClient(o.credential, o.baseUrl, o.timeoutMs);
  const me = await web.auth.test().catch((e: unknown) => {
    throw new Error(`the checkpoint reader failed auth.test: ${slackError(e)}`);
  });
  if (me.team_id !== o.config.workspace)
    throw new Error(`the checkpoint reader's token belongs to ${me.team_id}, not ${o.config.workspace}`);
  const scopes = (me.response_metadata as { scopes?: string[] } | undefined)?.scopes ?? [];
  const writes = scopes.filter((s) => !READ_ONLY.test(s));
  if (writes.length)
    throw new Error(
      `the checkpoint reader's token holds ${writes.join(', ')}: verify reads checkpoints with a read-only token (channels:history), never one that could post, edit or delete them`,
    );
  const notes: PostedNote[] = [];
  let cursor: string | undefined;
  do {
    const page = await web.conversations
      .history({ channel: o.config.channel, limit: 200, ...(cursor ? { cursor } : {}) })
      .catch((e: unknown) => {
        throw new Error(`cannot read ${o.config.channel}: ${slackError(e)}`);
      });
    for (const m of page.messages ?? []) {
      if (!m.text?.startsWith(ORIGIN_PREFIX)) continue;
      const edited = (m as { edited?: { user?: string } }).edited;
      const author = m.user ?? m.bot_id;
      notes.push({
        where: `slack:${o.config.channel}/${m.ts}`,
        text: m.text,
        ...(edited ? { edited: edited.user ?? 'someone' } : {}),
        ...(author ? { author } : {}),
      });
    }
    cursor = page.response_metadata?.next_cursor || undefined;
  } while (cursor);
  return notes.reverse(); // oldest first, as a file holds them
}
