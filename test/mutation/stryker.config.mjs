// The mutation check (`npm run mutation`, run from the project's root; Stryker and its vitest runner
// are installed in test/mutation/ by that script, not by `npm install`): Stryker changes the code under test one small edit at a
// time and reruns the tests that cover that line; a mutant that no test notices ("survived") is a
// line the suite does not really check. Kept out of `npm test` (it reruns tests hundreds of times).
// Scope (a scoped run, chosen to finish in ~15 min on a shared 2-core machine): the policy and
// constraint kinds, the call path's composition, fault and redaction code, the audit chain and its
// verifier in shared/, and one connector's tools (doppler). Not mutated: shared/call/steps.ts and
// shared/audit/log.ts (the steps' bodies and the JSONL writer are exercised mostly by e2e suites).
// Tests: the unit and contract files that cover them, never the e2e suites (they spawn the built
// CLI, which mutation switching cannot reach, and they are slow).
// One process at a time (the machine is shared); incremental, so a rerun only tests what changed.
// Surviving mutants in policy, constraints and audit are explained in docs/mutation.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'test/mutation/vitest.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'shared/call/policy.ts',
    'shared/connector/constraints.ts',
    'shared/call/covers.ts',
    'shared/call/call.ts',
    'shared/call/faults.ts',
    'shared/base/redaction.ts',
    'shared/audit/chain.ts',
    'shared/audit/verify.ts',
    'servers/doppler/common.ts',
    'servers/doppler/tools/*.ts',
  ],
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  concurrency: 1,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  ignorePatterns: ['dist', 'reports', '.fleet', 'bench', 'examples', 'docs', 'test/mutation/node_modules'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
