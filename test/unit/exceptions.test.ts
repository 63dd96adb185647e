// Time-boxed exceptions as data: which are active when, what the effective manifest grants (and
// where its lines point), and how `fleet diff` classes adding, extending and removing one.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { effective, isActive, nextChange, withAllExceptions } from '../../shared/manifest/exceptions.js';
import { compareSides, type Side } from '../../shared/review/diff.js';
import { SCOPES } from '../helpers.js';

const BASE = readFileSync(join(SCOPES, 'slack.dev.yaml'), 'utf8').replace(/^ {2}get_permalink:.*\n/m, '');
const EXC = (expires: string, extra = '') => `exceptions:
  - id: perma
    tool: get_permalink
    grant: { channels: [C0DEVGENERAL] }
    owner: U0DEVALICE
    reason: incident report
    approver: U0DEVBOB
    expires: ${expires}${extra}
  - id: general
    tool: post_message
    grant: { channels: [C0DEVGENERAL] }
    owner: U0DEVALICE
    reason: one announcement
    approver: U0DEVBOB
    starts: 2026-12-01T10:00:00Z
    expires: 2026-12-01T14:00:00Z
`;

function load(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-exc-'));
  writeFileSync(join(dir, 'slack.dev.yaml'), text);
  return loadManifest(join(dir, 'slack.dev.yaml'), CONNECTORS);
}

const at = (s: string) => Date.parse(s);

describe('time-boxed exceptions', () => {
  const m = load(BASE + EXC('2026-12-01T12:00:00Z'));

  it('apply only inside their window: a tool added whole, a list united with the grant', () => {
    const before = effective(m, at('2026-12-01T09:00:00Z'));
    expect(before.tools.get_permalink).toEqual({ channels: ['C0DEVGENERAL'] });
    expect(before.tools.post_message!.channels).toEqual(['C0DEVBOTTEST', 'C0DEVSCRATCH']);
    const both = effective(m, at('2026-12-01T11:00:00Z'));
    expect(both.tools.post_message).toMatchObject({
      channels: ['C0DEVBOTTEST', 'C0DEVSCRATCH', 'C0DEVGENERAL'],
      mentions: false,
      max_length: 4000,
    });
    // lines of exception-granted keys point into the exception
    expect(both.line('tools.get_permalink.channels')).toBe(m.line('exceptions.0.grant.channels'));
    expect(both.line('tools.post_message.channels')).toBe(m.line('exceptions.1.grant.channels'));
    expect(both.line('tools.post_message.rate')).toBe(m.line('tools.post_message.rate'));
    const after = effective(m, at('2026-12-01T12:00:00Z'));
    expect(after.tools.get_permalink).toBeUndefined();
    expect(after.tools.post_message!.channels).toEqual(['C0DEVBOTTEST', 'C0DEVSCRATCH', 'C0DEVGENERAL']);
    expect(effective(m, at('2026-12-01T14:00:00Z')).tools.post_message!.channels).toEqual([
      'C0DEVBOTTEST',
      'C0DEVSCRATCH',
    ]);
    expect(nextChange(m, at('2026-12-01T09:00:00Z'))).toBe(at('2026-12-01T10:00:00Z'));
    expect(nextChange(m, at('2026-12-01T11:00:00Z'))).toBe(at('2026-12-01T12:00:00Z'));
    expect(nextChange(m, at('2026-12-01T15:00:00Z'))).toBeUndefined();
    expect(Object.keys(withAllExceptions(m).tools)).toContain('get_permalink');
  });

  it('one with no expiry or approved by its own owner is never active', () => {
    const e = m.exceptions![0]!;
    expect(isActive(e, at('2026-12-01T11:00:00Z'))).toBe(true);
    expect(isActive({ ...e, expires: undefined }, at('2026-12-01T11:00:00Z'))).toBe(false);
    expect(isActive({ ...e, approver: 'U0DEVALICE' }, at('2026-12-01T11:00:00Z'))).toBe(false);
  });

  it('the schema refuses an unknown tool, a constraint the tool lacks, and an instant without a zone', () => {
    expect(() => load(BASE + EXC('2026-12-01T12:00:00Z').replace('tool: get_permalink', 'tool: kick_user'))).toThrow(
      /exceptions\.0\.tool/,
    );
    expect(() =>
      load(
        BASE +
          EXC('2026-12-01T12:00:00Z').replace(
            'grant: { channels: [C0DEVGENERAL] }',
            'grant: { channels: [C0DEVGENERAL], users: [U1] }',
          ),
      ),
    ).toThrow(/exceptions\.0\.grant/);
    expect(() => load(BASE + EXC('2026-12-01 12:00'))).toThrow(/an instant is YYYY-MM-DDTHH:MM:SSZ/);
  });

  it('fleet diff: a new or extended exception is an escalation, a removed one a reduction', () => {
    const side = (label: string, text: string): Side => ({
      label,
      files: new Map([['slack.dev.yaml', text]]),
      display: (n) => `${label}/${n}`,
    });
    const none = side('a', BASE);
    const one = side('b', BASE + EXC('2026-12-01T12:00:00Z'));
    const longer = side('c', BASE + EXC('2026-12-03T12:00:00Z'));
    const cls = (a: Side, b: Side) =>
      compareSides(a, b, CONNECTORS)
        .filter((c) => c.what.startsWith('exception'))
        .map((c) => [c.class, c.what.split(':')[0]]);
    expect(cls(none, one)).toEqual([
      ['escalation', 'exception perma grants get_permalink with channels'],
      ['escalation', 'exception general grants post_message with channels'],
    ]);
    expect(cls(one, longer)).toEqual([['escalation', 'exception perma changed']]);
    expect(cls(one, none)).toEqual([
      ['reduction', 'exception perma removed (get_permalink)'],
      ['reduction', 'exception general removed (post_message)'],
    ]);
  });
});
