import { describe, expect, it } from 'vitest';
import { countedAnswer, msEndUs, seenIn, slackUs } from '../../servers/slack/answers.js';

describe('Slack answers are ordered by their ts to the microsecond', () => {
  it('reads a ts exactly', () => {
    expect(slackUs('1700000000.000101')).toBe(1_700_000_000_000_101);
    expect(slackUs('1700000000.5')).toBe(1_700_000_000_500_000);
    expect(slackUs('1700000000.000101') < slackUs('1700000000.000102')).toBe(true);
  });

  it('an approval one microsecond before a decline in the same millisecond counts', () => {
    const parent = { ts: '1700000000.000100', user: 'U0BOT', bot_id: 'B0BOT' };
    const replies = [
      parent,
      { ts: '1700000000.000101', user: 'U0EDITOR2', text: '  APPROVE\n' },
      { ts: '1700000000.000102', user: 'U0EDITOR1', text: '\tdecline' },
    ];
    const d = countedAnswer(seenIn(parent, replies, slackUs(parent.ts), slackUs('1700000001.000000')));
    expect(d).toMatchObject({ status: 'approved', counted: { user: 'U0EDITOR2' } });
  });

  it('a decline one microsecond before an approval vetoes it', () => {
    const parent = { ts: '1700000000.000100', user: 'U0BOT', bot_id: 'B0BOT' };
    const replies = [
      parent,
      { ts: '1700000000.000101', user: 'U0EDITOR1', text: 'decline' },
      { ts: '1700000000.000102', user: 'U0EDITOR2', text: 'approve' },
    ];
    expect(countedAnswer(seenIn(parent, replies, slackUs(parent.ts), slackUs('1700000001.000000')))).toMatchObject({
      status: 'declined',
      counted: { user: 'U0EDITOR1' },
    });
  });
});

describe('a reaction seen by a read carries the whole millisecond of that read', () => {
  it('a decline replied within the read millisecond may have come before a ✅ it saw: the decline vetoes', () => {
    const readAt = 1_700_000_000_123; // ms, the local clock at the read
    const parent = {
      ts: '1700000000.000100',
      user: 'U0BOT',
      bot_id: 'B0BOT',
      reactions: [{ name: 'white_check_mark', users: ['U0EDITOR1'] }],
    };
    // Slack dated the reply 456 µs into the read's own millisecond
    const replies = [parent, { ts: '1700000000.123456', user: 'U0EDITOR2', text: '\tdecline' }];
    expect(countedAnswer(seenIn(parent, replies, slackUs(parent.ts), msEndUs(readAt)))).toMatchObject({
      status: 'declined',
      counted: { user: 'U0EDITOR2' },
    });
    // a reply in a later millisecond than the read came after the ✅: the approval stands
    const later = [parent, { ts: '1700000000.124001', user: 'U0EDITOR2', text: 'decline' }];
    expect(countedAnswer(seenIn(parent, later, slackUs(parent.ts), msEndUs(readAt)))).toMatchObject({
      status: 'approved',
      counted: { user: 'U0EDITOR1' },
    });
  });
});
