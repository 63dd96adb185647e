// Every constraint kind and the policy's decision on it, at the edges the mutation check
// (docs/mutation.md) found unpinned: exact refusal texts (what a model is told), boundaries (a
// length equal to the limit, a level above the grant), a constraint the grant leaves unset with no
// fallback, and the list predicate that filters results. Tool and manifest are built here, so each
// case names exactly the grant it is judged against.
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { choice, flag, globs, ids, max, oneOf, prefixes, type Constraint } from '../../shared/connector/constraints.js';
import { allows, decide } from '../../shared/call/policy.js';
import type { ToolDef } from '../../shared/connector/tool.js';
import type { Manifest } from '../../shared/base/manifest.js';

const LINES: Record<string, number> = { tools: 10, attribution: 4, 'tools.t': 11, 'tools.t.on': 12 };
function manifest(grant: Record<string, unknown> | undefined, attribution?: string): Manifest {
  return {
    id: 'x.dev',
    file: 'scopes/x.dev.yaml',
    attribution,
    tools: grant ? { t: grant } : {},
    line: (p: string) => LINES[p] ?? 99,
  } as unknown as Manifest;
}
const tool = (c: Constraint<any>, name = 't'): ToolDef => ({ name, constraints: { on: c } }) as unknown as ToolDef;
const who = { actor: 'alice' };
const denied = (c: Constraint<any>, grant: Record<string, unknown>, value: string | number) => {
  const d = decide(tool(c), manifest(grant), [{ on: 'on', value }], who);
  if (d.allow) throw new Error(`allowed ${value}`);
  return d;
};
const ok = (c: Constraint<any>, grant: Record<string, unknown>, value: string | number) =>
  decide(tool(c), manifest(grant), [{ on: 'on', value }], who).allow;

describe('constraint kinds', () => {
  it('ids: exact identifiers or *, with the refusal and the allowed list spelled out', () => {
    const c = ids('channel');
    expect(ok(c, { on: ['C1', 'C2'] }, 'C2')).toBe(true);
    expect(ok(c, { on: ['*'] }, 'C9')).toBe(true);
    expect(ok(c, { on: ['C1'] }, '')).toBe(false);
    expect(denied(c, { on: ['C1', 'C2'] }, 'C9')).toEqual({
      allow: false,
      rule: 'tools.t.on',
      message: 'denied: channel C9 is not in t.on of x.dev (scopes/x.dev.yaml:12); allowed channels: C1, C2',
    });
    expect(c.instead(['*'])).toBe('any channel');
    expect(ids('zone', 'zone IDs').instead(['Z1'])).toBe('allowed zone IDs: Z1');
    expect(c.resources!(['C1'])).toEqual(['C1']);
  });

  it('lists at most eight granted values, then an ellipsis', () => {
    const c = ids('channel');
    const eight = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    expect(c.instead(eight)).toBe('allowed channels: a, b, c, d, e, f, g, h');
    expect(c.instead([...eight, 'i'])).toBe('allowed channels: a, b, c, d, e, f, g, h, …');
  });

  it('globs: a name matching a pattern, quoted in the refusal', () => {
    const c = globs('script');
    expect(ok(c, { on: ['blog-*'] }, 'blog-api')).toBe(true);
    expect(denied(c, { on: ['blog-*', 'x'] }, 'shop-api').message).toBe(
      'denied: script "shop-api" matches nothing in t.on of x.dev (scopes/x.dev.yaml:12); allowed scripts: blog-*, x',
    );
    expect(c.resources!(['blog-*'])).toEqual(['blog-*']);
  });

  it('prefixes: a key must start with one of them; absent, any key', () => {
    const c = prefixes('key');
    expect(ok(c, { on: 'drafts/' }, 'drafts/1')).toBe(true);
    expect(ok(c, { on: ['a/', 'b/'] }, 'b/1')).toBe(true);
    // startsWith, not endsWith or contains
    expect(ok(c, { on: ['b/'] }, 'x/b/')).toBe(false);
    expect(ok(c, {}, 'anything')).toBe(true);
    expect(denied(c, { on: ['a/', 'b/'] }, 'c/1').message).toBe(
      'denied: key "c/1" is outside the prefix of t.on of x.dev (scopes/x.dev.yaml:12); use keys starting with "a/" or "b/"',
    );
  });

  it('oneOf: an allowlist, * for all, and the fallback when the grant sets none', () => {
    const c = oneOf('emoji', ['eyes']);
    expect(ok(c, {}, 'eyes')).toBe(true);
    expect(ok(c, { on: ['*'] }, 'tada')).toBe(true);
    expect(ok(c, { on: ['tada'] }, '')).toBe(false);
    expect(denied(c, {}, 'fire').message).toBe(
      'denied: emoji "fire" is not in t.on of x.dev (default, scopes/x.dev.yaml:11); allowed: eyes',
    );
    expect(oneOf('type').required).toBe(true);
    expect(c.required).toBe(false);
  });

  it('flag: off unless the grant turns it on', () => {
    const c = flag('mention', 'drop the broadcast');
    expect(ok(c, {}, '@here')).toBe(false);
    expect(ok(c, { on: true }, '@here')).toBe(true);
    expect(denied(c, { on: false }, '@here').message).toBe(
      'denied: mention @here is not allowed by t.on of x.dev (scopes/x.dev.yaml:12); drop the broadcast',
    );
  });

  it('max: the limit itself is allowed, one more is not; the default applies when unset', () => {
    const c = max('length', 100, ' characters');
    expect(ok(c, { on: 5 }, 5)).toBe(true);
    expect(ok(c, { on: 5 }, 6)).toBe(false);
    expect(ok(c, {}, 100)).toBe(true);
    expect(ok(c, {}, 101)).toBe(false);
    expect(denied(c, { on: 5 }, 6).message).toBe(
      'denied: length 6 characters exceeds t.on of x.dev (scopes/x.dev.yaml:12); keep length at most 5 characters',
    );
    expect(max('size', 1).instead(3)).toBe('keep size at most 3');
  });

  it('choice: each level admits the ones before it, nothing unknown', () => {
    const c = choice('sql', ['read', 'write'] as const);
    expect(ok(c, {}, 'read')).toBe(true);
    expect(ok(c, {}, 'write')).toBe(false);
    expect(ok(c, { on: 'write' }, 'read')).toBe(true);
    expect(ok(c, { on: 'write' }, 'write')).toBe(true);
    expect(ok(c, { on: 'write' }, 'drop')).toBe(false);
    expect(ok(c, { on: 'read' }, 'drop')).toBe(false);
    expect(denied(c, { on: 'read' }, 'write').message).toBe(
      'denied: sql "write" is not allowed by t.on of x.dev (scopes/x.dev.yaml:12); only read sql is allowed here',
    );
    expect(c.instead('write')).toBe('only read or write sql is allowed here');
    expect(choice('mode', ['a', 'b', 'c'] as const, 'b').fallback).toBe('b');
  });
});

describe('the decision', () => {
  it('denies a fact whose constraint the grant does not set and that has no fallback', () => {
    const d = decide(tool(ids('channel')), manifest({}), [{ on: 'on', value: 'C1' }], who);
    expect(d).toEqual({
      allow: false,
      rule: 'tools.t.on',
      message: 'denied: t has no on grant in x.dev (scopes/x.dev.yaml:11)',
    });
  });

  it('denies a fact no constraint of the tool declares, even when the grant names it', () => {
    const t = { name: 't', constraints: {} } as unknown as ToolDef;
    const d = decide(t, manifest({ on: ['C1'] }), [{ on: 'on', value: 'C1' }], who);
    expect(d).toEqual({
      allow: false,
      rule: 'tools.t.on',
      message: 'denied: t has no on grant in x.dev (scopes/x.dev.yaml:11)',
    });
    expect(decide(t, manifest({}), [{ on: 'on', value: 'C1' }], who)).toMatchObject({
      allow: false,
      rule: 'tools.t.on',
    });
  });

  it('checks every fact: one refused among allowed ones denies the call', () => {
    const t = { name: 't', constraints: { on: ids('channel'), len: max('length', 10) } } as unknown as ToolDef;
    expect(
      decide(
        t,
        manifest({ on: ['C1'] }),
        [
          { on: 'on', value: 'C1' },
          { on: 'len', value: 3 },
        ],
        who,
      ),
    ).toEqual({ allow: true });
    expect(
      decide(
        t,
        manifest({ on: ['C1'] }),
        [
          { on: 'on', value: 'C1' },
          { on: 'len', value: 11 },
        ],
        who,
      ),
    ).toMatchObject({ allow: false, rule: 'tools.t.len' });
  });

  it('names the ungranted tool and the attribution rule, with their lines', () => {
    expect(decide(tool(ids('channel'), 'other'), manifest({ on: ['C1'] }), [], who)).toEqual({
      allow: false,
      rule: 'tools',
      message: 'denied: other is not granted by x.dev (scopes/x.dev.yaml:10)',
    });
    expect(decide(tool(ids('channel')), manifest({ on: ['C1'] }, 'required'), [], {})).toEqual({
      allow: false,
      rule: 'attribution',
      message:
        'denied: x.dev requires attribution (scopes/x.dev.yaml:4); pass _meta "fleet/actor" (and "fleet/thread") with the call, or set FLEET_ACTOR for the server',
    });
    expect(decide(tool(ids('channel')), manifest({ on: ['C1'] }, 'required'), [], who)).toEqual({ allow: true });
  });

  it('the list predicate: granted value, fallback, and no grant or no constraint at all', () => {
    expect(allows(tool(ids('channel')), manifest({ on: ['C1'] }), 'on', 'C1')).toBe(true);
    expect(allows(tool(ids('channel')), manifest({ on: ['C1'] }), 'on', 'C2')).toBe(false);
    // unset with no fallback: nothing is listed
    expect(allows(tool(ids('channel')), manifest({}), 'on', 'C1')).toBe(false);
    // the tool not granted at all: nothing is listed
    expect(allows(tool(ids('channel')), manifest(undefined), 'on', 'C1')).toBe(false);
    // a constraint the tool does not declare: nothing is listed
    expect(allows(tool(ids('channel')), manifest({ other: ['C1'] }), 'other', 'C1')).toBe(false);
    expect(allows(tool(ids('channel')), manifest({}), 'other', 'C1')).toBe(false);
    // unset, with a fallback: the fallback decides
    expect(allows(tool(oneOf('emoji', ['eyes'])), manifest({}), 'on', 'eyes')).toBe(true);
    expect(allows(tool(oneOf('emoji', ['eyes'])), manifest({}), 'on', 'fire')).toBe(false);
    expect(allows(tool(max('length', 5)), manifest({ on: 2 }), 'on', 3)).toBe(false);
  });
});

// a schema per kind, so a manifest can state it (the loader checks grants against these), and
// whether a grant must set it (deny by default) or a fallback applies
it('each kind says whether a grant must set it', () => {
  expect([ids('c'), globs('c'), oneOf('c')].map((c) => c.required)).toEqual([true, true, true]);
  expect(
    [prefixes('k'), oneOf('e', ['x']), flag('f', ''), max('n', 1), choice('s', ['a'] as const)].map((c) => c.required),
  ).toEqual([false, false, false, false, false]);
});

it('each kind has a schema a manifest value is checked against', () => {
  expect(globs('c').schema.safeParse(['a*', 'b*']).success).toBe(true);
  expect(globs('c').schema.safeParse([]).success).toBe(false);
  expect(oneOf('c').schema.safeParse(['ab', 'cd']).success).toBe(true);
  expect(oneOf('c').schema.safeParse([]).success).toBe(false);
  expect(oneOf('c').schema.safeParse(['']).success).toBe(false);
  expect(ids('c').schema.safeParse([]).success).toBe(false);
  expect(ids('c').schema.safeParse(['']).success).toBe(false);
  expect(globs('c').schema.safeParse(['a*']).success).toBe(true);
  expect(prefixes('k').schema.safeParse('a/').success).toBe(true);
  expect(prefixes('k').schema.safeParse([]).success).toBe(false);
  expect(max('n', 1).schema.safeParse(0).success).toBe(false);
  expect(flag('f', '').schema.safeParse(true).success).toBe(true);
  expect((choice('s', ['read', 'write'] as const).schema as z.ZodType).safeParse('drop').success).toBe(false);
});
