// The state contract on PostgreSQL, plus what only a database has: its schema migration.
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, PostgresState, SCHEMA_VERSION } from '../../shared/state/postgres.js';
import { stateContract } from './contract.js';
import { freshDatabase, PG_URL, pgParts, TcpProxy } from './pg.js';

if (PG_URL) {
  // a database of this file's own: nothing another suite (or branch) migrated there can leak in
  const fresh = await freshDatabase('fleet_state_contract');
  afterAll(() => fresh.drop());
  const DB_URL = fresh.url;
  const first = await migrate(DB_URL);
  stateContract({
    name: 'postgres',
    open: (id) => new PostgresState(id, async () => DB_URL),
    worker: (id) => JSON.stringify({ engine: 'postgres', url: DB_URL, instance: id }),
    broken: async (id) =>
      new PostgresState(id, async () => 'postgresql://fleet@/fleet?host=/nonexistent-fleet-socket-dir'),
    brokenWhere: (id) => `PostgreSQL state store of ${id}`,
  });

  describe('an outage of the database', () => {
    it('a key refused while the database was away is released once it answers, not left running', async () => {
      const { user, database, connect } = pgParts(DB_URL);
      const proxy = new TcpProxy(connect);
      await proxy.start();
      const id = `outage-${process.pid}-${Date.now()}`;
      const cut = new PostgresState(id, async () => `postgresql://${user}@127.0.0.1:${proxy.port}/${database}`);
      const other = new PostgresState(id, async () => DB_URL);
      try {
        expect(await cut.keys.claim('k', 'fp')).toEqual({ kind: 'claimed' });
        await proxy.cut();
        await expect(cut.keys.release('k')).rejects.toThrow(/PostgreSQL state store of/);
        await proxy.start();
        // the release is written by itself once the database answers: a retry elsewhere may run it
        await expect
          .poll(() => other.keys.claim('k', 'fp'), { timeout: 10_000, interval: 200 })
          .toEqual({ kind: 'claimed' });
        // and an outcome that could not be kept is kept once it can: the retry replays it
        expect(await cut.keys.claim('d', 'fp')).toEqual({ kind: 'claimed' });
        await proxy.cut();
        const result = { content: [{ type: 'text' as const, text: 'posted' }] };
        await expect(cut.keys.done('d', result)).rejects.toThrow(/PostgreSQL state store of/);
        await proxy.start();
        await expect
          .poll(() => other.keys.claim('d', 'fp'), { timeout: 10_000, interval: 200 })
          .toEqual({ kind: 'replay', result });
      } finally {
        await cut.close();
        await other.close();
        await proxy.cut();
      }
    }, 30_000);
  });

  describe('signals between the processes of a store (LISTEN/NOTIFY)', () => {
    it('a message published by one reaches every subscriber of its topic, and a listener that lost its connection listens again', async () => {
      const { user, database, connect } = pgParts(DB_URL);
      const proxy = new TcpProxy(connect);
      await proxy.start();
      const a = new PostgresState('signals-a', async () => DB_URL);
      const b = new PostgresState('signals-b', async () => `postgresql://${user}@127.0.0.1:${proxy.port}/${database}`);
      try {
        const got: string[] = [];
        const other: string[] = [];
        b.signals.subscribe('answers', (m) => void got.push(m));
        b.signals.subscribe('elsewhere', (m) => void other.push(m));
        await b.signals.listening();
        await a.signals.publish('answers', 'one');
        await expect.poll(() => got, { timeout: 10_000 }).toEqual(['one']);
        expect(other).toEqual([]);
        // the listening connection is cut: once the database answers again, b listens again by itself
        await proxy.cut();
        await proxy.start();
        await expect
          .poll(
            async () => {
              await a.signals.publish('answers', 'two');
              return got.includes('two');
            },
            { timeout: 15_000, interval: 300 },
          )
          .toBe(true);
        await expect(a.signals.publish('answers', 'x'.repeat(9000))).rejects.toThrow(/over NOTIFY's limit/);
      } finally {
        await a.close();
        await b.close();
        await proxy.cut();
      }
    }, 30_000);
  });

  describe('fleet state migrate', () => {
    it('is idempotent and records its version', async () => {
      expect(first).toEqual({ from: 0, to: SCHEMA_VERSION });
      expect(await migrate(DB_URL)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
      expect(await migrate(DB_URL)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    });
  });
} else {
  describe.skip('state contract: postgres (FLEET_TEST_PG not set)', () => {
    it('needs a database', () => {});
  });
}
