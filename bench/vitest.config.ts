// The bench's smoke run (`npm run bench:smoke`, and CI after `npm test`): kept out of `npm test`
// because it starts every instance and peer several times over and, on a loaded machine, takes
// well over the suite's 30 s per test. Its own budget: 5 minutes per test.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/smoke.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
