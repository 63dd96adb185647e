// A call's signal must not outlive the call: Node 20's AbortSignal.any keeps every combined signal
// (and the call state its listeners hold) alive as long as the longest-lived source, which leaked
// each HTTP call's state through the server's stop signal.
import { getEventListeners } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linkSignals } from '../../shared/base/signals.js';

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });

describe('linkSignals', () => {
  it('aborts with the reason of whichever source aborts first', () => {
    const a = new AbortController();
    const b = new AbortController();
    const { signal } = linkSignals(a.signal, undefined, b.signal);
    expect(signal.aborted).toBe(false);
    b.abort(new Error('stopping'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('stopping');
  });

  it('starts aborted when a source already is', () => {
    const a = new AbortController();
    a.abort('gone');
    expect(linkSignals(new AbortController().signal, a.signal).signal.reason).toBe('gone');
  });

  it('lets go of its sources: a long-lived signal keeps no listener per call once the call ends', () => {
    const stop = new AbortController();
    for (let i = 0; i < 1000; i++) linkSignals(new AbortController().signal, stop.signal).unlink();
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
    const open = linkSignals(stop.signal);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(1);
    open.unlink();
    stop.abort();
    expect(open.signal.aborted).toBe(false);
  });

  it('is the only way the fleet combines signals: no AbortSignal.any in shared/ or servers/', () => {
    const users = ['shared', 'servers']
      .flatMap(sourceFiles)
      .filter((f) => /AbortSignal\.any\(/.test(readFileSync(f, 'utf8')));
    expect(users).toEqual([]);
  });
});
