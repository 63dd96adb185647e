// Slack's request signing as the fleet checks it (servers/slack/events.ts), against Slack's own
// documented example, and what a delivered body becomes: the same Seen a read of the thread gives.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseDelivery, refuseSignature } from '../../servers/slack/events.js';
import { seenIn } from '../../servers/slack/answers.js';

// https://api.slack.com/authentication/verifying-requests-from-slack (its worked example)
const DOC = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  ts: '1531420618',
  body: 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};
const at = (ts: string) => Number(ts) * 1000;
const sign = (secret: string, ts: string, body: string) =>
  `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;

describe('Slack request signatures', () => {
  const headers = (sig: string, ts = DOC.ts) => ({ 'x-slack-signature': sig, 'x-slack-request-timestamp': ts });
  it("accepts Slack's documented example", () => {
    expect(
      refuseSignature(DOC.secret, headers(DOC.signature), Buffer.from(DOC.body), at(DOC.ts) + 10_000),
    ).toBeUndefined();
  });
  it('refuses another secret, another body, a missing or malformed signature', () => {
    expect(refuseSignature('another-secret', headers(DOC.signature), Buffer.from(DOC.body), at(DOC.ts))).toMatch(
      /does not match/,
    );
    expect(refuseSignature(DOC.secret, headers(DOC.signature), Buffer.from(`${DOC.body}&x=1`), at(DOC.ts))).toMatch(
      /does not match/,
    );
    expect(
      refuseSignature(DOC.secret, { 'x-slack-request-timestamp': DOC.ts }, Buffer.from(DOC.body), at(DOC.ts)),
    ).toMatch(/no v0 X-Slack-Signature/);
    expect(refuseSignature(DOC.secret, headers('v1=abc'), Buffer.from(DOC.body), at(DOC.ts))).toMatch(
      /no v0 X-Slack-Signature/,
    );
    expect(
      refuseSignature(DOC.secret, headers(DOC.signature.toUpperCase()), Buffer.from(DOC.body), at(DOC.ts)),
    ).toMatch(/no v0/);
  });
  it('refuses a timestamp more than 5 minutes from now, either way, and a missing one', () => {
    const now = at(DOC.ts);
    expect(refuseSignature(DOC.secret, headers(DOC.signature), Buffer.from(DOC.body), now + 300_000)).toBeUndefined();
    expect(refuseSignature(DOC.secret, headers(DOC.signature), Buffer.from(DOC.body), now + 301_000)).toMatch(
      /301 s from now/,
    );
    const future = String(Number(DOC.ts) + 400);
    expect(
      refuseSignature(DOC.secret, headers(sign(DOC.secret, future, DOC.body), future), Buffer.from(DOC.body), now),
    ).toMatch(/400 s from now/);
    expect(refuseSignature(DOC.secret, { 'x-slack-signature': DOC.signature }, Buffer.from(DOC.body), now)).toMatch(
      /no X-Slack-Request-Timestamp/,
    );
  });
});

describe('what a delivery says', () => {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  it('a thread reply is the answer a read of the thread sees', () => {
    const reply = {
      type: 'message',
      channel: 'C0APPROVALS',
      user: 'U0EDITOR1',
      text: ' Approve ',
      ts: '1767226400.000200',
      thread_ts: '1767226400.000100',
    };
    const d = parseDelivery(json({ type: 'event_callback', team_id: 'T0BLOGPROD', event: reply }), 'application/json');
    const read = seenIn({ ts: reply.thread_ts }, [{ ts: reply.thread_ts }, reply], 0, 0);
    expect(d).toEqual({
      delivered: { team: 'T0BLOGPROD', channel: 'C0APPROVALS', ts: reply.thread_ts, seen: read[0] },
    });
  });
  it("a bot's message, an edit and a message outside a thread are no answers", () => {
    const base = {
      type: 'message',
      channel: 'C0APPROVALS',
      user: 'U0EDITOR1',
      text: 'approve',
      ts: '1767226400.000200',
      thread_ts: '1767226400.000100',
    };
    for (const e of [
      { ...base, bot_id: 'B1' },
      { ...base, subtype: 'message_changed' },
      { ...base, thread_ts: undefined },
    ]) {
      expect(parseDelivery(json({ type: 'event_callback', event: e }), 'application/json')).toHaveProperty('other');
    }
  });
  it('a reaction is dated by its event_ts; a button by its action_ts', () => {
    const r = parseDelivery(
      json({
        type: 'event_callback',
        event: {
          type: 'reaction_added',
          user: 'U0EDITOR2',
          reaction: 'x',
          item: { type: 'message', channel: 'C0APPROVALS', ts: '1767226400.000100' },
          event_ts: '1767226401.000007',
        },
      }),
      'application/json',
    );
    expect(r).toMatchObject({
      delivered: {
        ts: '1767226400.000100',
        seen: { via: 'reaction', approve: false, lo: 1767226401000007, hi: 1767226401000007 },
      },
    });
    const payload = {
      type: 'block_actions',
      user: { id: 'U0EDITOR1' },
      team: { id: 'T0BLOGPROD' },
      container: { channel_id: 'C0APPROVALS', message_ts: '1767226400.000100' },
      actions: [{ action_id: 'fleet_approve', action_ts: '1767226402.123456' }],
    };
    const b = parseDelivery(
      Buffer.from(new URLSearchParams({ payload: JSON.stringify(payload) }).toString()),
      'application/x-www-form-urlencoded',
    );
    expect(b).toMatchObject({
      delivered: {
        channel: 'C0APPROVALS',
        seen: { via: 'button', user: 'U0EDITOR1', approve: true, lo: 1767226402123456 },
      },
    });
    const other = parseDelivery(
      Buffer.from(
        new URLSearchParams({
          payload: JSON.stringify({ ...payload, actions: [{ action_id: 'something_else', action_ts: '1' }] }),
        }).toString(),
      ),
      'application/x-www-form-urlencoded',
    );
    expect(other).toMatchObject({ delivered: { seen: { via: 'button', approve: undefined } } });
  });
  it('url_verification gives its challenge back', () => {
    expect(parseDelivery(json({ type: 'url_verification', challenge: 'abc', token: 't' }), 'application/json')).toEqual(
      { challenge: 'abc' },
    );
  });
});
