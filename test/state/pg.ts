// The PostgreSQL the suites use: FLEET_TEST_PG (a connection URL; .ci/run starts a throwaway cluster
// and sets it). Without it the PostgreSQL suites are skipped, with a notice saying so.
export const PG_URL = process.env.FLEET_TEST_PG ?? '';
if (!PG_URL) process.stderr.write('notice: FLEET_TEST_PG is not set, so the PostgreSQL state suites are skipped (bash .ci/run sets one up)\n');
