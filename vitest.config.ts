import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // the package's own export (examples import it as a bot would); tests run its source
  resolve: { alias: { 'mcp-fleet/client': fileURLToPath(new URL('./client/index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    // seeds every fast-check property from FLEET_SEED (or a fresh seed, printed on failure)
    setupFiles: ['test/setup.ts'],
    // says when the PostgreSQL suites are skipped (no FLEET_TEST_PG)
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
