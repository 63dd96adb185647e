// The seqs owed to an OTLP collector: merged into ranges, bounded (the oldest given up first), kept in
// a file that a take empties.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addSeqs, newestSeqs, countOf, inRanges, OwedFile } from '../../shared/audit/owed.js';
import { tempDir } from '../helpers.js';

describe('owed seqs', () => {
  it('merges seqs into sorted, disjoint ranges', () => {
    expect(addSeqs([[5, 7]], [1, 2, 3, 8, 10, 3])).toEqual([
      [1, 3],
      [5, 8],
      [10, 10],
    ]);
    expect(addSeqs([], [0, -1, 1.5])).toEqual([]);
    expect(
      countOf([
        [1, 3],
        [5, 8],
      ]),
    ).toBe(7);
    expect(
      [0, 1, 4, 5, 8, 9].map((s) =>
        inRanges(
          [
            [1, 3],
            [5, 8],
          ],
          s,
        ),
      ),
    ).toEqual([false, true, false, true, true, false]);
  });

  it('keeps the newest within the bound and says how many it gave up', () => {
    expect(
      newestSeqs(
        [
          [1, 3],
          [5, 8],
          [10, 10],
        ],
        3,
      ),
    ).toEqual({
      ranges: [
        [7, 8],
        [10, 10],
      ],
      gaveUp: 5,
    });
    expect(newestSeqs([[1, 3]], 5)).toEqual({ ranges: [[1, 3]], gaveUp: 0 });
  });

  it('persists what is owed until it is taken', async () => {
    const file = join(tempDir('fleet-owed-'), 'state', 'slack.dev.otlp-owed.json');
    const owed = new OwedFile(file, 4);
    expect(await owed.add([3, 1, 2])).toBe(0);
    expect(await owed.add([9, 10])).toBe(1);
    expect(new OwedFile(file).read()).toEqual([
      [2, 3],
      [9, 10],
    ]);
    expect(await owed.take()).toEqual([
      [2, 3],
      [9, 10],
    ]);
    expect(existsSync(file)).toBe(false);
    expect(await owed.take()).toEqual([]);
  });
});
