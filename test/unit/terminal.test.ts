// What a terminal user sees beside output: progress and colour only on a terminal (and colour only
// without NO_COLOR), and a custody table cut to the terminal's width.
import { describe, expect, it } from 'vitest';
import { colourOn, counted, painter, progress, type Stream } from '../../shared/base/terminal.js';

function fakeStream(isTTY: boolean, columns = 100): Stream & { text: string } {
  const s = {
    isTTY,
    columns,
    text: '',
    write: (t: string) => {
      s.text += t;
      return true;
    },
  };
  return s;
}

describe('progress', () => {
  it('is silent when stderr is not a terminal', async () => {
    const s = fakeStream(false);
    let now = 0;
    const p = progress('verifying', 10_000_000, s, () => (now += 1000));
    for await (const _ of counted(Array.from({ length: 5000 }, () => 'x'.repeat(1000)), p)) void _;
    expect(s.text).toBe('');
  });

  it('on a terminal shows records, MB, rate and an ETA, then clears its line', async () => {
    const s = fakeStream(true);
    let now = 0;
    const p = progress('verifying slack.prod', 20 * 1024 * 1024, s, () => (now += 1000));
    for await (const _ of counted(Array.from({ length: 5000 }, () => 'x'.repeat(1024)), p)) void _;
    expect(s.text).toMatch(/verifying slack\.prod: [\d,]+ records, [\d.]+\/20\.0 MB \d+%, [\d.]+ MB\/s, ETA \d+ s/);
    expect(s.text.endsWith('\r\u001b[K')).toBe(true);
  });
});

describe('colour', () => {
  it('only on a terminal, never with NO_COLOR set or TERM=dumb', () => {
    expect(colourOn(fakeStream(true), {})).toBe(true);
    expect(colourOn(fakeStream(false), {})).toBe(false);
    expect(colourOn(fakeStream(true), { NO_COLOR: '1' })).toBe(false);
    expect(colourOn(fakeStream(true), { TERM: 'dumb' })).toBe(false);
    expect(painter(fakeStream(true), {})('TAMPERED', 'red')).toBe('\u001b[31mTAMPERED\u001b[0m');
    expect(painter(fakeStream(true), { NO_COLOR: 'x' })('TAMPERED', 'red')).toBe('TAMPERED');
  });
});
