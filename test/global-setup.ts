// Said once per `npm test`, before the run and again after it (where the summary is read): without
// FLEET_TEST_PG the PostgreSQL suites (state contract on PostgreSQL, the replica test) are skipped.
const NOTICE =
  'notice: FLEET_TEST_PG is not set, so the PostgreSQL suites (test/state/postgres.test.ts, test/e2e/replicas.test.ts) are skipped; bash .ci/run sets one up, or point it at a database: FLEET_TEST_PG=postgresql://user@/db?host=/socket/dir\n';

export default function setup(): () => void {
  if (process.env.FLEET_TEST_PG) return () => {};
  process.stderr.write(NOTICE);
  return () => void process.stderr.write(`\n${NOTICE}`);
}
