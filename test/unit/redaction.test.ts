// The redactor on its own (shared/base/redaction.ts): what it registers, what it replaces, and
// that a deep scrub copies only what needs it. Written for what the mutation check
// (docs/mutation.md) found unpinned: the e2e secrets suites see its effect, not its edges.
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../shared/base/redaction.js';

const R = '[redacted]';

describe('Redactor', () => {
  it('scrubs every occurrence of a registered value, longest values first', () => {
    const r = new Redactor();
    r.add('abcd');
    r.add('abcdefgh');
    r.add('abcd'); // once is enough
    expect(r.scrub('x abcdefgh y abcd z abcd')).toBe(`x ${R} y ${R} z ${R}`);
  });

  it('ignores values too short to scrub safely, and nothing at all', () => {
    const r = new Redactor();
    r.add('abc');
    r.add('');
    r.add(undefined);
    expect(r.scrub('abc abc')).toBe('abc abc');
    r.add('wxyz');
    expect(r.scrub('wxyz')).toBe(R);
  });

  it('scrubs Slack and Doppler token shapes nobody registered, and leaves near-misses', () => {
    const r = new Redactor();
    for (const t of [
      'xoxb-123456-abcdef',
      'xoxp-abcdef',
      'xoxa-1-2-3-4',
      'dp.st.dev.ABCDEFGH12',
      'dp.sa.abcdefgh',
      'dp.audit.abcdefgh_1',
    ]) {
      expect(r.scrub(`token ${t} here`), t).toBe(`token ${R} here`);
    }
    for (const t of ['xoxb-12345', 'xoxz-abcdefgh', 'dp.st.short', 'dp.xx.abcdefghij']) expect(r.scrub(t), t).toBe(t);
  });

  it('deep: returns the very value when nothing needs scrubbing', () => {
    const r = new Redactor();
    r.add('s3cret-value');
    const v = { a: ['x', { b: 'y', n: 1, t: true, z: null }], c: 'plain' };
    expect(r.deep(v)).toBe(v);
    expect(r.deep('plain')).toBe('plain');
    expect(r.deep(42)).toBe(42);
    expect(r.deep(null)).toBe(null);
  });

  it('deep: copies and scrubs wherever a secret sits, leaving the original and other leaves as they were', () => {
    const r = new Redactor();
    r.add('s3cret-value');
    const v = {
      a: ['x', { b: 'has s3cret-value inside', n: 1, t: true, z: null }],
      c: 'plain',
      k: 'xoxb-123456-abcdef',
    };
    const out = r.deep(v);
    expect(out).not.toBe(v);
    expect(out).toStrictEqual({ a: ['x', { b: `has ${R} inside`, n: 1, t: true, z: null }], c: 'plain', k: R });
    expect(v.a[1]).toMatchObject({ b: 'has s3cret-value inside' });
    // one of several registered values is enough
    r.add('another-secret');
    expect(r.deep({ only: 'another-secret' })).toStrictEqual({ only: R });
    // only in an array, only in a nested object, only a token shape: each is found
    expect(r.deep(['a', ['s3cret-value']])).toStrictEqual(['a', [R]]);
    expect(r.deep({ x: { y: 's3cret-value' } })).toStrictEqual({ x: { y: R } });
    // the shapes are global regexps: their position must not carry over from one test to the next
    for (let i = 0; i < 3; i++) expect(r.deep({ k: 'xoxb-123456-abcdef' })).toStrictEqual({ k: R });
  });
});
