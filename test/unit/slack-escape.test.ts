// What the approvals identity posts from requester-controlled text (servers/slack/approvals.ts),
// against generated input built from Slack's markup: whatever a requester puts in an argument or
// the reason, the escaped text holds no live markup (no <…> link or mention, no bare broadcast),
// loses nothing (it unescapes to exactly the input), and the parts a long request is split into
// join back to the whole without cutting an entity. FLEET_ESCAPE_SEED replays a run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeRequest, argumentLines, type ApprovalRequest } from '../../shared/call/approval.js';
import { slackEscape, splitParts } from '../../servers/slack/approvals.js';

const SEED = Number(process.env.FLEET_ESCAPE_SEED) || Date.now() % 2 ** 31;
const RUNS = Math.max(100, Math.round((1000 * (Number(process.env.FLEET_FUZZ_RUNS) || 100)) / 100));

// pieces of Slack markup a requester could try, mixed with plain text and unicode
const PIECES = [
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<!subteam^S0EDITORS>',
  '<@U0EDITOR1>',
  '<#C0GENERAL>',
  '<https://evil.example|release notes>',
  '<mailto:a@b.example|x>',
  '@channel',
  '@here',
  '@everyone',
  '@Channel',
  '@HERE',
  '&',
  '&amp;',
  '&lt;',
  '&gt;',
  '<',
  '>',
  '|',
  '*bold*',
  '`code`',
  '\n',
  '\u2060',
  '\u202e',
  ' ',
];
const text = fc
  .array(
    fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 4 })),
    { maxLength: 30 },
  )
  .map((a) => a.join(''));

const unescapeSlack = (s: string) =>
  s
    .replace(/@\u2060(channel|here|everyone)/gi, '@$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
/** markup Slack would act on: an angle-bracket construct, or a bare broadcast word */
const live = (s: string) =>
  /[<>]/.test(s) || /(^|[^\u2060])@(channel|here|everyone)\b/i.test(s.replace(/@\u2060/g, '\u2060'));

const params = { seed: SEED, numRuns: RUNS };

describe(`slackEscape (seed ${SEED})`, () => {
  it('leaves no live markup and loses nothing', () => {
    fc.assert(
      fc.property(text, (s) => {
        const e = slackEscape(s);
        expect(live(e), JSON.stringify(e)).toBe(false);
        // (an input that already spells @⁠channel with a word joiner reads back as its plain form)
        expect(unescapeSlack(e)).toBe(s.replace(/@\u2060(channel|here|everyone)/gi, '@$1'));
      }),
      params,
    );
  });

  it('splits a long request into parts that join back exactly, each within the limit, no entity cut', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 40 }), fc.integer({ min: 40, max: 400 }), (texts, max) => {
        const whole = slackEscape(texts.join('\n'));
        const parts = splitParts(whole, max);
        expect(parts.join('')).toBe(whole);
        for (const p of parts) {
          expect(p.length).toBeLessThanOrEqual(max);
          // an entity is never split across two parts
          expect(/&(a|am|amp|l|lt|g|gt)?$/.test(p) && parts.at(-1) !== p).toBe(false);
        }
      }),
      params,
    );
  });

  it('escapes every requester-controlled field of the request as the approvals identity posts it', () => {
    fc.assert(
      fc.property(text, text, text, (reason, value, resource) => {
        const req: ApprovalRequest = {
          call: 'c',
          instance: 'slack.prod',
          tool: 'update_message',
          digest: 'd'.repeat(64),
          resources: [{ on: 'channels', value: resource }],
          lines: argumentLines({ text: value, blocks: [value] }, new Set()),
          requester: 'U0WRITER1',
          requesterKind: 'slack-user',
          proof: 'slack-message',
          thread: 'C0EDITORIAL/1767226320.000112',
          reason,
          approvers: ['U0EDITOR1'],
          executor: ['U0PRODBOT'],
          timeoutMs: 60_000,
          expiresAt: Date.now() + 60_000,
        };
        const posted = describeRequest(req, slackEscape).join('\n');
        expect(live(posted), posted).toBe(false);
      }),
      params,
    );
  });
});
