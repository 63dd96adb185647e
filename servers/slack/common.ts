// What the Slack tools share: argument schemas, constraints, and the message shape they return.
import { z } from 'zod';
import type { WebClient } from '@slack/web-api';
import { flag, ids, max, oneOf } from '../../shared/connector/constraints.js';
import { on, type Fact, type ToolDef } from '../../shared/connector/tool.js';

export type Slack = WebClient;

// Patterns are checked by refine (not `regex`) so they stay out of the listed schema: the
// description tells the model the same thing in fewer bytes.
/** A Slack channel ID: public (C), private (G) or direct (D). */
export const CHANNEL_ID = /^[CGD][A-Z0-9]{8,}$/;

export const channelId = z
  .string()
  .refine((s) => CHANNEL_ID.test(s), 'must be a channel ID such as C0123ABCD, not a #name')
  .describe('Channel ID (C…)');
export const messageTs = z
  .string()
  .refine((s) => /^\d{10}\.\d{6}$/.test(s), 'must be a message ts such as 1767225600.000100')
  .describe('Message ts');
export const text = z.string().min(1).max(40_000).describe('mrkdwn text');
export const pageSize = (fallback: number, top: number) => z.number().int().min(1).max(top).default(fallback);

export const C = {
  channels: ids('channel', 'channels', { pattern: CHANNEL_ID, example: 'C0123ABCD' }),
  mentions: flag(
    'broadcast mention',
    'write the message without @channel, @here, @everyone, @group or user-group mentions',
  ),
  max_length: max('message length', 4000, ' characters'),
  emoji: oneOf('emoji'),
};
export const writeConstraints = { channels: C.channels, mentions: C.mentions, max_length: C.max_length };

// Broadcasts, every spelling. Slack's special commands are `<!name>`, `<!name|label>` and
// `<!name^arg|label>`: <!channel>, <!here>, <!everyone>, the legacy <!group> (what @channel was in a
// private channel, still honoured), <!subteam^S…> (a user group). All of them notify many people
// except <!date^…>, which only formats a time, so every special command but date counts as a
// broadcast: one Slack adds later is refused until it is known harmless. In plain text (with
// link_names) @channel, @here, @everyone and @group broadcast too; `_@here_` is italic @here: only a
// letter or digit next to it makes it something else.
const SPECIAL = /<!([^>|^]*)[^>]*>/g;
const PLAIN = /(?:^|[^A-Za-z0-9])[@\uFF20](channel|here|everyone|group)(?![A-Za-z0-9])/gi;
const HARMLESS = new Set(['date']);

/** Every broadcast mention in a message body, as `@name` (special commands first, then plain text). */
export function mentionsIn(body: string): string[] {
  const out: string[] = [];
  for (const m of body.matchAll(SPECIAL)) {
    const what = m[1]!.trim().toLowerCase();
    if (!HARMLESS.has(what)) out.push(`@${what || 'special'}`);
  }
  for (const m of body.matchAll(PLAIN)) out.push(`@${m[1]!.toLowerCase()}`);
  return out;
}

/** What governs a message body: its broadcast mentions and its length. */
export const bodyCovers = [on('mentions', mentionsIn), on('max_length', (t: string) => t.length)];

/** The facts of a message a tool is about to send: its channel, every broadcast mention, its length. */
export function messageFacts(channel: string, body: string): Fact[] {
  return [
    { on: 'channels', value: channel },
    ...mentionsIn(body).map((value) => ({ on: 'mentions', value })),
    { on: 'max_length', value: body.length },
  ];
}

export const message = z.object({
  ts: z.string(),
  user: z.string().optional(),
  text: z.string(),
  thread_ts: z.string().optional(),
  replies: z.number().int().optional(),
});
export type Message = z.infer<typeof message>;

export function toMessage(m: {
  ts?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  thread_ts?: string;
  reply_count?: number;
}): Message {
  return {
    ts: m.ts ?? '',
    user: m.user ?? m.bot_id,
    text: m.text ?? '',
    ...(m.thread_ts && m.thread_ts !== m.ts ? { thread_ts: m.thread_ts } : {}),
    ...(m.reply_count ? { replies: m.reply_count } : {}),
  };
}

export const renderMessages = (msgs: Message[]) =>
  msgs.map((m) => `${m.ts} ${m.user ?? '?'}: ${m.text}${m.replies ? ` [${m.replies} replies]` : ''}`).join('\n') ||
  '(no messages)';

export { DESTROY, READ, WRITE } from '../../shared/connector/tool.js';

/** A ToolDef with the Slack client type fixed, so arguments and results stay typed. */
export const slackTool = <I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<Slack, I, O>) => def;
