// One replica appending audit records to PostgreSQL (bench/state.mjs): says "ready", waits for
// "go", appends N records from `inflight` callers at once (each caller awaits its append before
// the next, as a call awaits its intent), says "done".
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [libFile, url, instance, count, inflight = '1'] = process.argv.slice(2);
const lib = await import(pathToFileURL(libFile).href);
const store = new lib.PostgresState(instance, async () => url, 2);
await store.audit.head(); // connected before the clock starts
process.stdout.write('ready\n');
const rl = createInterface({ input: process.stdin });
for await (const line of rl) if (line === 'go') break;
let next = 0;
const caller = async () => {
  for (let i = next++; i < Number(count); i = next++)
    await store.audit.append(
      { call: `${process.pid}-${i}`, phase: 'intent', decision: 'allow', tool: 'post_message' },
      true,
    );
};
await Promise.all(Array.from({ length: Number(inflight) }, caller));
process.stdout.write('done\n');
await store.close();
process.exit(0);
