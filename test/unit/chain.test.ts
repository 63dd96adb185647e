// The hash chain's pure functions on their own (shared/audit/chain.ts), at the edges the mutation
// check (docs/mutation.md) found unpinned: which lines `open` refuses as not a sealed record, and
// that `sealAll` and `openVerified` agree with `seal` line by line.
import { describe, expect, it } from 'vitest';
import { emptyHead, genesis, open, openVerified, seal, sealAll, sha256 } from '../../shared/audit/chain.js';

/** A line with a well-formed hash suffix around any JSON body (the hash need not match). */
const withSuffix = (body: string, hash = 'a'.repeat(64)) => `${body.slice(0, -1)},"hash":"${hash}"}`;

describe('open', () => {
  it('opens a sealed line into its body, stated hash and record', () => {
    const { line, hash } = seal({ tool: 'x' }, 1, genesis('s.dev'));
    const o = open(line.trimEnd())!;
    expect(o.hash).toBe(hash);
    expect(sha256(o.body)).toBe(hash);
    expect(o.record).toMatchObject({ tool: 'x', seq: 1, prev: genesis('s.dev'), hash });
  });

  it.each([
    ['an empty line', ''],
    ['the suffix alone', `,"hash":"${'a'.repeat(64)}"}`],
    ['no hash member', '{"seq":1,"prev":"p"}'],
    ['a hash that is not 64 hex', withSuffix('{"seq":1,"prev":"p"}', 'A'.repeat(64))],
    ['broken JSON', withSuffix('{"seq":1,"prev":"p"')],
    ['seq 0', withSuffix('{"seq":0,"prev":"p"}')],
    ['a negative seq', withSuffix('{"seq":-3,"prev":"p"}')],
    ['a fractional seq', withSuffix('{"seq":1.5,"prev":"p"}')],
    ['seq as a string', withSuffix('{"seq":"1","prev":"p"}')],
    ['no seq', withSuffix('{"prev":"p"}')],
    ['prev not a string', withSuffix('{"seq":1,"prev":7}')],
    ['no prev', withSuffix('{"seq":1}')],
  ])('refuses %s', (_what, line) => {
    expect(open(line)).toBeUndefined();
  });

  it('openVerified accepts only a line whose hash is that of its text', () => {
    const { line } = seal({ tool: 'x' }, 1, 'p');
    expect(openVerified(line.trimEnd())).toBeDefined();
    expect(openVerified(line.trimEnd().replace('"tool":"x"', '"tool":"y"'))).toBeUndefined();
    expect(openVerified(withSuffix('{"seq":1,"prev":"p"}'))).toBeUndefined();
    expect(openVerified('not a record')).toBeUndefined();
  });
});

describe('sealAll', () => {
  it('seals records one after another from a head, as seal does', () => {
    const head = emptyHead('s.dev');
    const a = seal({ n: 1 }, 1, head.hash);
    const b = seal({ n: 2 }, 2, a.hash);
    expect(sealAll([{ n: 1 }, { n: 2 }], head)).toEqual({ text: a.line + b.line, head: { seq: 2, hash: b.hash } });
    expect(sealAll([], head)).toEqual({ text: '', head });
  });

  it("replaces seq, prev and hash a record brings with the chain's own", () => {
    const s = seal({ n: 1, seq: 99, prev: 'forged', hash: 'x' }, 3, 'p');
    expect(open(s.line.trimEnd())!.record).toEqual({ n: 1, seq: 3, prev: 'p', hash: s.hash });
  });

  it('binds the first record to its instance', () => {
    expect(genesis('a.dev')).not.toBe(genesis('a.prod'));
    expect(emptyHead('a.dev')).toEqual({ seq: 0, hash: genesis('a.dev') });
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
