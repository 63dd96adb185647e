// What a terminal user sees beside output: progress and colour only on a terminal (and colour only
// without NO_COLOR), and a custody table cut to the terminal's width.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cell, colourOn, counted, fitColumns, painter, progress, type Stream } from '../../shared/base/terminal.js';
import { custodyLine, type CustodyRow } from '../../servers/fleet/commands/audit.js';

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
    for await (const _ of counted(
      Array.from({ length: 5000 }, () => 'x'.repeat(1000)),
      p,
    ))
      void _;
    expect(s.text).toBe('');
  });

  it('on a terminal shows records, MB, rate and an ETA, then clears its line', async () => {
    const s = fakeStream(true);
    let now = 0;
    const p = progress('verifying slack.prod', 20 * 1024 * 1024, s, () => (now += 1000));
    for await (const _ of counted(
      Array.from({ length: 5000 }, () => 'x'.repeat(1024)),
      p,
    ))
      void _;
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

describe('columns that fit the terminal', () => {
  const col = fc
    .record({
      width: fc.integer({ min: 1, max: 40 }),
      min: fc.integer({ min: 1, max: 12 }),
      drop: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
    })
    .map((c) => ({ ...c, width: Math.max(c.width, c.min) }));

  it('fit whenever the columns that cannot be left out fit at their narrowest; none below it; left out highest rank first', () => {
    fc.assert(
      fc.property(fc.array(col, { minLength: 2, maxLength: 12 }), fc.integer({ min: 20, max: 300 }), (cols, total) => {
        const w = fitColumns(
          cols.map(({ drop, ...c }) => (drop === undefined ? c : { ...c, drop })),
          total,
        );
        const last = cols.length - 1;
        const kept = w.map((x, i) => ({ x, i })).filter(({ x, i }) => x > 0 || i === last);
        const line = kept.reduce((a, { x }) => a + x, 0) + 2 * (kept.length - 1);
        const must = cols.reduce((a, c, i) => a + (c.drop === undefined || i === last ? c.min + 2 : 0), -2);
        if (must <= total) expect(line).toBeLessThanOrEqual(Math.max(total, must));
        for (const { x, i } of kept) expect(x).toBeGreaterThanOrEqual(cols[i]!.min);
        for (let i = 0; i < last; i++) if (w[i] === 0) expect(cols[i]!.drop).toBeDefined();
        // a column is left out only when every column of a higher rank is out too
        for (let i = 0; i < last; i++)
          for (let j = 0; j < last; j++)
            if (w[i] === 0 && cols[j]!.drop !== undefined && cols[j]!.drop! > cols[i]!.drop! && w[j]! > 0)
              expect.fail(`column ${i} left out before ${j}`);
      }),
    );
  });

  it('are the given widths where the output is no terminal', () => {
    expect(
      fitColumns(
        [
          { width: 10, min: 2 },
          { width: 5, min: 2 },
        ],
        undefined,
      ),
    ).toEqual([10, 5]);
  });

  it('cut a long value with an ellipsis, pad a short one', () => {
    expect(cell('C0EDITORIAL/1796662700.578000', 12)).toBe('C0EDITORIAL…');
    expect(cell('ok', 4)).toBe('ok  ');
  });

  const row: CustodyRow = {
    time: '2026-12-07T10:00:00.000Z',
    call: 'c1',
    instance: 'cloudflare.prod',
    tool: 'create_dns_record',
    client: 'blogbot-publish',
    actor: 'U0EDITOR1',
    proof: 'slack-message',
    thread: 'C0EDITORIAL/1796662700.578000',
    approver: 'U0EDITOR2',
    approved_at: '2026-12-07T10:01:00.000Z',
    executor: 'U0PRODBOT',
    credential: 'env:CLOUDFLARE_API_TOKEN',
    manifest: 'f'.repeat(64),
    result: 'ok',
    task: '-',
  };

  it.each([80, 100, 140, 220])('a custody row at %i columns keeps time, actor, approver, result and tool', (width) => {
    const line = custodyLine(row, width);
    expect(line.length).toBeLessThanOrEqual(width);
    expect(line).toMatch(/^2026-12-07 10:00:00 .*U0EDITOR1 .*U0EDITOR2.* ok .*cloudflare\.prod\.cr/);
  });

  it('a custody row on no terminal is never cut', () => {
    const line = custodyLine(row);
    expect(line).toContain('C0EDITORIAL/1796662700.578000');
    expect(line).toContain('U0PRODBOT (env:CLOUDFLARE_API_TOKEN)');
    expect(line).not.toContain('…');
  });

  it('colours the result only through the painter it is given', () => {
    const paint = painter(fakeStream(true), {});
    expect(custodyLine(row, 120, paint)).toContain('\u001b[32mok');
    expect(custodyLine({ ...row, result: 'denied (channels)' }, 120, paint)).toContain('\u001b[31mdenied');
    expect(custodyLine(row, 120)).not.toContain('\u001b[');
  });
});
