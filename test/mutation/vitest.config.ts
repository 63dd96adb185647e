// The tests the mutation check (test/mutation/stryker.config.mjs) reruns: the unit and contract files that cover
// the mutated code (policy, constraints, the call path, the audit chain, the doppler connector).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { 'mcp-fleet-client': fileURLToPath(new URL('../../client/index.ts', import.meta.url)) } },
  test: {
    include: [
      'test/unit/policy.test.ts',
      'test/unit/constraints.test.ts',
      'test/unit/chain.test.ts',
      'test/unit/verify.test.ts',
      'test/unit/redaction.test.ts',
      'test/unit/faults.test.ts',
      'test/unit/covers.test.ts',
      'test/unit/call-path.test.ts',
      'test/unit/audit.test.ts',
      'test/unit/doppler-manifest.test.ts',
      'test/contract/doppler.test.ts',
    ],
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
