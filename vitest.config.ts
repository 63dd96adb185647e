import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // the package's own export (examples import it as a bot would); tests run its source
  resolve: { alias: { 'mcp-fleet-client': fileURLToPath(new URL('./client/index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    // seeds every fast-check property from FLEET_SEED (or a fresh seed, printed on failure)
    setupFiles: ['test/setup.ts'],
    // says when the PostgreSQL suites are skipped (no FLEET_TEST_PG)
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // most files wait on child processes (the CLI, sandboxes), so three at a time beat the default
    // of one per spare core on a 2-core machine: 9 min → 7 min for the suite under load
    maxWorkers: 3,
  },
});
