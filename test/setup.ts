// Every fast-check property in the suite runs from one seed: FLEET_SEED when given (to replay a
// failure), else a fresh one per test file. A failing test prints the seed that reproduces it.
import fc from 'fast-check';
import { beforeEach, onTestFailed } from 'vitest';

const given = Number(process.env.FLEET_SEED);
export const SEED = Number.isInteger(given) ? given : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
fc.configureGlobal({ seed: SEED });

beforeEach(() => {
  onTestFailed(() => {
    process.stderr.write(`\nfast-check seed of this file: replay with FLEET_SEED=${SEED} npx vitest run <file>\n`);
  });
});
