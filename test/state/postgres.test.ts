// The state contract on PostgreSQL, plus what only a database has: its schema migration.
import { describe, expect, it } from 'vitest';
import { migrate, PostgresState, SCHEMA_VERSION } from '../../shared/state/postgres.js';
import { stateContract } from './contract.js';
import { PG_URL } from './pg.js';

if (PG_URL) {
  await migrate(PG_URL);
  stateContract({
    name: 'postgres',
    open: (id) => new PostgresState(id, async () => PG_URL),
    worker: (id) => JSON.stringify({ engine: 'postgres', url: PG_URL, instance: id }),
    broken: async (id) => new PostgresState(id, async () => 'postgresql://fleet@/fleet?host=/nonexistent-fleet-socket-dir'),
    brokenWhere: (id) => `PostgreSQL state store of ${id}`,
  });

  describe('fleet state migrate', () => {
    it('is idempotent and records its version', async () => {
      expect(await migrate(PG_URL)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
      expect(await migrate(PG_URL)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    });
  });
} else {
  describe.skip('state contract: postgres (FLEET_TEST_PG not set)', () => {
    it('needs a database', () => {});
  });
}
