// The manifest-pair corpus for `fleet diff`: each folder under test/fixtures/diff holds a base/
// and a head/ version of some scopes files; each must classify into exactly the listed changes,
// escalations first, each with its instance, tool and file:line.
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { compareConstraint, compareSides } from '../../shared/review/diff.js';
import { formatDiff } from '../../shared/review/diff-format.js';
import { readSide } from '../../servers/fleet/commands/diff-sides.js';
import { beyond, overlap } from '../../shared/review/glob-sets.js';
import { globs, ids, max, oneOf, prefixes, flag } from '../../shared/connector/constraints.js';
import { globMatch } from '../../shared/base/glob.js';
import { ROOT } from '../helpers.js';
import { vault } from '../fixtures/vault-connector.js';

const CORPUS = join(ROOT, 'test', 'fixtures', 'diff');

function diff(name: string) {
  const dir = join(CORPUS, name);
  const changes = compareSides(readSide(join(dir, 'base'), 'scopes'), readSide(join(dir, 'head'), 'scopes'), {
    ...CONNECTORS,
    vault,
  });
  return changes.map((c) => ({ ...c, at: `${c.file.slice(dir.length + 1)}:${c.line}` }));
}

// [case, [class, instance, tool, file:line, phrase][]]
const CASES: [string, [string, string, string | undefined, string, string][]][] = [
  ['unchanged', []],
  [
    'channel-added',
    [['escalation', 'slack.prod', 'read_history', 'head/slack.prod.yaml:14', 'now also admits "C0NEWSROOM"']],
  ],
  [
    'channel-removed',
    [['reduction', 'slack.dev', 'get_permalink', 'head/slack.dev.yaml:18', 'no longer admits "C0DEVBOTTEST"']],
  ],
  // sneaky: one glob instead of two looks narrower, but "dev*" also matches configs like "devd"
  [
    'glob-looks-narrower',
    [['escalation', 'doppler.dev', 'set_secret', 'head/doppler.dev.yaml:21', 'widened, now also admits "devd"']],
  ],
  // sneaky: longer and more specific-looking, but `**` crosses "/" where `*` could not
  [
    'glob-longer-but-wider',
    [['escalation', 'vault.prod', 'read_secret', 'head/vault.prod.yaml:11', 'now also admits "release//final"']],
  ],
  ['glob-narrowed', [['reduction', 'doppler.dev', 'delete_secret', 'head/doppler.dev.yaml:22', 'narrowed']]],
  // sneaky: a channel leaves dev and lands in prod; the prod side is the escalation and says so
  [
    'moved-dev-to-prod',
    [
      [
        'escalation',
        'slack.prod',
        'post_message',
        'head/slack.prod.yaml:18',
        'moved from dev: channel "C0DEVSCRATCH" was granted to slack.dev in the base',
      ],
      ['reduction', 'slack.dev', 'post_message', 'head/slack.dev.yaml:22', 'no longer admits "C0DEVSCRATCH"'],
    ],
  ],
  // sneaky: the approver list now holds the bot that makes the request
  [
    'approver-is-bot',
    [
      [
        'escalation',
        'slack.prod',
        'delete_message',
        'head/slack.prod.yaml:25',
        "approvers now include U0PRODBOT, the fleet's own bot",
      ],
    ],
  ],
  [
    'approval-removed',
    [['escalation', 'slack.prod', 'delete_message', 'head/slack.prod.yaml:25', 'no longer needs an approval']],
  ],
  [
    'approval-added',
    [['reduction', 'slack.prod', 'delete_message', 'head/slack.prod.yaml:25', 'now needs an approval']],
  ],
  [
    'attribution-relaxed',
    [['escalation', 'slack.prod', undefined, 'head/slack.prod.yaml:10', 'attribution required → optional']],
  ],
  // a kind with its own notion of "more": the constraint itself says write admits what read did not
  [
    'sql-read-to-write',
    [
      [
        'escalation',
        'cloudflare.prod',
        'd1_query',
        'head/cloudflare.prod.yaml:31',
        'd1_query.sql "read" → "write": widened',
      ],
    ],
  ],
  [
    'reveal-on',
    [
      [
        'escalation',
        'doppler.dev',
        'get_secret',
        'head/doppler.dev.yaml:17',
        'get_secret.reveal false → true: widened',
      ],
    ],
  ],
  [
    'flag-and-limit',
    [
      ['escalation', 'slack.prod', 'post_message', 'head/slack.prod.yaml:18', 'post_message.mentions false → true'],
      ['reduction', 'slack.prod', 'reply_in_thread', 'head/slack.prod.yaml:19', 'max_length 3000 → 2000: narrowed'],
    ],
  ],
  [
    'tool-granted-and-revoked',
    [
      ['escalation', 'slack.prod', 'list_users', 'head/slack.prod.yaml:17', 'grants list_users (read)'],
      ['reduction', 'slack.prod', 'get_permalink', 'base/slack.prod.yaml:16', 'revokes get_permalink'],
    ],
  ],
  [
    'token-scope-added',
    [['escalation', 'slack.prod', undefined, 'head/slack.prod.yaml:9', 'upstream.token_scopes adds "files:write"']],
  ],
  // a minted credential turned standing: the token may then hold anything, for ever
  [
    'credential-unminted',
    [
      [
        'escalation',
        'cloudflare.prod',
        undefined,
        'head/cloudflare.prod.yaml:7',
        'credential is no longer minted: a standing token "env:CLOUDFLARE_API_TOKEN_PROD"',
      ],
    ],
  ],
  // a rotating Slack token (hours) turned standing (for ever)
  [
    'credential-unrotated',
    [
      [
        'escalation',
        'slack.prod',
        undefined,
        'head/slack.prod.yaml:7',
        'credential no longer rotates: a standing token "env:SLACK_BOT_TOKEN_PROD" that never expires',
      ],
    ],
  ],
  [
    'mint-ttl-raised',
    [
      [
        'escalation',
        'cloudflare.prod',
        undefined,
        'head/cloudflare.prod.yaml:7',
        'minted token ttl 30m → 4h: a leaked token stays valid longer',
      ],
    ],
  ],
  [
    'credential-changed',
    [
      [
        'neutral',
        'slack.prod',
        undefined,
        'head/slack.prod.yaml:6',
        '"env:SLACK_BOT_TOKEN_PROD" → "doppler:blogbot/prd/SLACK_BOT_TOKEN"',
      ],
    ],
  ],
  [
    'fleet-rule-removed',
    [
      [
        'escalation',
        'fleet',
        undefined,
        'base/fleet.yaml:3',
        'fleet rule prod-attribution (attribution-required) removed',
      ],
    ],
  ],
  ['rate-raised', [['escalation', 'slack.prod', 'post_message', 'head/slack.prod.yaml:18', 'rate 30/hour → 5/minute']]],
  [
    'surface-changed',
    [
      [
        'escalation',
        'slack.prod',
        'update_message',
        'head/surface/slack.prod.json:300',
        'now says destructiveHint: false',
      ],
      [
        'neutral',
        'slack.prod',
        'update_message',
        'head/surface/slack.prod.json:300',
        'changed what the model is told (annotations)',
      ],
      [
        'neutral',
        'slack.prod',
        'add_reaction',
        'head/surface/slack.prod.json:350',
        'changed what the model is told (description)',
      ],
    ],
  ],
];

describe('fleet diff: manifest-pair corpus', () => {
  it.each(CASES)('%s', (name, expected) => {
    const changes = diff(name);
    expect(changes.map((c) => [c.class, c.instance, c.tool, c.at])).toEqual(
      expected.map(([k, i, t, at]) => [k, i, t, at]),
    );
    for (const [n, c] of changes.entries()) expect(c.what).toContain(expected[n]![4]);
  });

  it('markdown for a pull request lists escalations first, each with instance, tool and file:line', () => {
    const dir = join(CORPUS, 'moved-dev-to-prod');
    const md = formatDiff(
      compareSides(readSide(join(dir, 'base'), 'scopes'), readSide(join(dir, 'head'), 'scopes'), CONNECTORS),
      'markdown',
      'main',
      'HEAD',
    );
    expect(md).toContain('**1 escalation(s), 1 reduction(s), 0 neutral**');
    expect(md.indexOf('Escalations')).toBeLessThan(md.indexOf('Reductions'));
    expect(md).toMatch(/\| slack\.prod \| `post_message` \| .*C0DEVSCRATCH.* \| `.*head\/slack\.prod\.yaml:18` \|/);
  });
});

describe('glob languages', () => {
  const names = ['dev', 'devd', 'dev_1', 'dev_a/b', 'release/x', 'release/a/final', 'release//final', 'prd', 'p', ''];
  const matches = (gs: string[], n: string) => gs.some((g) => globMatch(g, n));

  it.each([
    [['dev*'], ['dev', 'dev_*']],
    [['release/**/final'], ['release/*']],
    [['release/*'], ['release/**']],
    [['p*'], ['prd']],
    [['*'], ['**']],
    [['?'], ['p']],
  ])('beyond(%j, %j) finds a name only the first matches, or proves there is none', (a, b) => {
    const w = beyond(a, b);
    const brute = names.find((n) => matches(a, n) && !matches(b, n));
    if (w === undefined) expect(brute).toBeUndefined();
    else expect(matches(a, w) && !matches(b, w)).toBe(true);
  });

  it('agrees with the glob matcher on random globs and names', () => {
    const glob = fc.stringMatching(/^[ab/*?]{0,6}$/);
    const name = fc.stringMatching(/^[ab/c]{0,7}$/);
    fc.assert(
      fc.property(
        fc.array(glob, { minLength: 1, maxLength: 2 }),
        fc.array(glob, { minLength: 1, maxLength: 2 }),
        fc.array(name, { maxLength: 30 }),
        (a, b, probes) => {
          const w = beyond(a, b);
          if (w !== undefined) return matches(a, w) && !matches(b, w);
          return probes.every((n) => !(matches(a, n) && !matches(b, n)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('overlap finds a name both match', () => {
    expect(overlap(['dev_*'], ['prd'])).toBeUndefined();
    expect(globMatch('p*', overlap(['p*'], ['prd'])!)).toBe(true);
    expect(overlap(['a/*/c'], ['a/**'])).toBe('a//c');
  });
});

describe('compareConstraint uses each kind', () => {
  const wider = (c: Parameters<typeof compareConstraint>[0], a: unknown, b: unknown) =>
    compareConstraint(c, a, b)?.wider !== undefined;
  it('ids: adding a channel or "*" widens', () => {
    expect(wider(ids('channel'), ['C1'], ['C1', 'C2'])).toBe(true);
    expect(wider(ids('channel'), ['C1'], ['*'])).toBe(true);
    expect(wider(ids('channel'), ['C1', 'C2'], ['C1'])).toBe(false);
  });
  it('globs, prefixes, oneOf, flag and max', () => {
    expect(wider(globs('object'), ['blog-*'], ['blog-**-prod'])).toBe(true); // `**` crosses "/": blog-a/b-prod
    expect(wider(globs('object'), ['blog-*'], ['blog-*-prod'])).toBe(false);
    expect(wider(prefixes('key'), 'drafts/', 'd')).toBe(true);
    expect(wider(prefixes('key'), 'd', 'drafts/')).toBe(false);
    expect(wider(oneOf('emoji'), ['eyes'], ['eyes', 'tada'])).toBe(true);
    expect(wider(flag('reveal', ''), false, true)).toBe(true);
    expect(wider(max('length', 10), 100, 50)).toBe(false);
    expect(wider(max('length', 10), 50, 100)).toBe(true);
  });
});
