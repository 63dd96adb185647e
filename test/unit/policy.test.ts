import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../shared/manifest/load.js';
import { decide } from '../../shared/call/policy.js';
import { attribute, BadAttribution } from '../../shared/call/attribution.js';
import { globMatch } from '../../shared/base/glob.js';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { messageFacts } from '../../servers/slack/common.js';
import { SCOPES } from '../helpers.js';

const dev = loadManifest(join(SCOPES, 'slack.dev.yaml'), CONNECTORS);
const prod = loadManifest(join(SCOPES, 'slack.prod.yaml'), CONNECTORS);
const tool = (name: string) => CONNECTORS.slack!.tools.find((t) => t.name === name)!;
const alice = { actor: 'alice', via: 'meta' as const };
const nobody = { via: 'none' as const };

describe('policy', () => {
  it('allows a granted channel and denies others, naming rule, line and alternatives', () => {
    expect(decide(tool('post_message'), dev, messageFacts('C0DEVBOTTEST', 'hi'), alice)).toEqual({ allow: true });
    const d = decide(tool('post_message'), prod, messageFacts('C0999999999', 'hi'), alice);
    expect(d).toMatchObject({ allow: false, rule: 'tools.post_message.channels' });
    if (d.allow) return;
    expect(d.message).toBe(
      `denied: channel C0999999999 is not in post_message.channels of slack.prod (${prod.file}:${prod.line('tools.post_message.channels')}); allowed channels: C0EDITORIAL`,
    );
  });

  it.each([
    ['<!channel> ship it', '@channel'],
    ['<!here|here> look', '@here'],
    ['hey <!everyone>', '@everyone'],
    ['ping <!subteam^S0123ABC|@editors>', '@subteam'],
    ['@channel plain text', '@channel'],
    ['end with @here', '@here'],
    ['the legacy <!group> of a private channel', '@group'],
    ['<!group|group> with a label', '@group'],
    ['plain @group', '@group'],
    ['<!GROUP> in capitals', '@group'],
    ['fullwidth ＠channel', '@channel'],
    ['a special command Slack may add later: <!all>', '@all'],
  ])('refuses broadcast mentions: %s', (body, what) => {
    const d = decide(tool('post_message'), dev, messageFacts('C0DEVBOTTEST', body), alice);
    expect(d).toMatchObject({ allow: false, rule: 'tools.post_message.mentions' });
    if (!d.allow) expect(d.message).toContain(what);
  });

  it('does not mistake an email address, a user or channel mention or a date for a broadcast', () => {
    expect(
      decide(
        tool('post_message'),
        dev,
        messageFacts(
          'C0DEVBOTTEST',
          'mail erin@here.com or <@U0EDITOR1> in <#C0DEVBOTTEST> at <!date^1767225600^{date_short}|Jan 1>, mygroup@group.org',
        ),
        alice,
      ),
    ).toEqual({ allow: true });
  });

  it('enforces max_length, and the default when the grant sets none', () => {
    const d = decide(tool('post_message'), prod, messageFacts('C0EDITORIAL', 'x'.repeat(3001)), alice);
    expect(d).toMatchObject({ allow: false, rule: 'tools.post_message.max_length' });
    const def = decide(tool('update_message'), prod, messageFacts('C0EDITORIAL', 'x'.repeat(4001)), alice);
    expect(def).toMatchObject({ allow: false, rule: 'tools.update_message.max_length' });
    if (!def.allow) expect(def.message).toContain('default');
  });

  it('checks the emoji allowlist', () => {
    const facts = (emoji: string) => [
      { on: 'channels', value: 'C0EDITORIAL' },
      { on: 'emoji', value: emoji },
    ];
    expect(decide(tool('add_reaction'), prod, facts('eyes'), alice)).toEqual({ allow: true });
    expect(decide(tool('add_reaction'), prod, facts('skull'), alice)).toMatchObject({
      allow: false,
      rule: 'tools.add_reaction.emoji',
    });
  });

  it('requires attribution where the manifest says so', () => {
    const d = decide(tool('read_history'), prod, [{ on: 'channels', value: 'C0EDITORIAL' }], nobody);
    expect(d).toMatchObject({ allow: false, rule: 'attribution' });
    if (!d.allow) expect(d.message).toContain('fleet/actor');
    expect(decide(tool('read_history'), dev, [{ on: 'channels', value: 'C0DEVGENERAL' }], nobody)).toEqual({
      allow: true,
    });
  });

  it('denies a tool the manifest does not grant', () => {
    expect(decide(tool('delete_message'), prod, [], alice)).toMatchObject({ allow: false, rule: 'tools' });
  });
});

describe('attribution', () => {
  const client = { name: 'claude-code', version: '2.0' };
  it('prefers _meta, then the environment', () => {
    expect(
      attribute(
        { 'fleet/actor': 'U0EDITOR1', 'fleet/thread': 'C0EDITORIAL/1767226200.000110', 'fleet/reason': 'r' },
        { FLEET_ACTOR: 'env@example.com' },
        client,
      ),
    ).toEqual({
      actor: 'U0EDITOR1',
      actorKind: 'slack-user',
      thread: 'C0EDITORIAL/1767226200.000110',
      reason: 'r',
      via: 'meta',
      clientInfo: client,
      client: { id: 'local', via: 'stdio-default' },
      token: undefined,
    });
    expect(attribute({ 'fleet/actor': 'Erin@Example.COM' }, {}, client)).toMatchObject({
      actor: 'erin@example.com',
      actorKind: 'email',
    });
    expect(attribute(undefined, { FLEET_ACTOR: 'dev@example.com' }, client)).toMatchObject({
      actor: 'dev@example.com',
      via: 'env',
    });
    expect(attribute({}, {}, undefined)).toMatchObject({ actor: undefined, via: 'none' });
  });
  it.each([
    [42],
    [''],
    ['a\u202eb'],
    ['x'.repeat(300)],
    ['line\nbreak'],
    ['U0EDITOR1\u200b'],
    ['U0EDIT\u041eR1'],
    ['\uff350EDITOR1'],
    [' U0EDITOR1'],
    ['u0editor1'],
    ['erin@example.com.'],
    ['someone'],
  ])('refuses a malformed actor %j', (v) => {
    expect(() => attribute({ 'fleet/actor': v }, {}, undefined)).toThrow(BadAttribution);
  });
});

describe('globs', () => {
  it('matches within a segment with *, across with **, and treats the rest literally', () => {
    expect(globMatch('blogbot-*', 'blogbot-dev')).toBe(true);
    expect(globMatch('blogbot-*', 'blogbot-dev/x')).toBe(false);
    expect(globMatch('drafts/**', 'drafts/a/b')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('(x)+', '(x)+')).toBe(true);
    expect(globMatch('Blog', 'blog')).toBe(false);
  });
});
