// Verifies one instance's trail streamed from PostgreSQL (what `fleet audit verify --instance` does)
// in a process of its own, so its peak memory (maxRSS) is its own (bench/state.mjs).
import { pathToFileURL } from 'node:url';

const [libFile, url, instance] = /** @type {[string, string, string]} */ (process.argv.slice(2));
const lib = await import(pathToFileURL(libFile).href);
const store = new lib.PostgresState(instance, async () => url, 1);
const t0 = performance.now();
const r = await lib.verifyLines(store.audit.lines(), { instance });
const seconds = (performance.now() - t0) / 1000;
await store.close();
process.stdout.write(
  `${JSON.stringify({ ok: r.ok, records: r.records, seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`,
);
process.exit(r.ok ? 0 : 1);
