// One replica appending audit records to PostgreSQL (bench/state.mjs): says "ready", waits for
// "go", appends N records one after another (each awaited), says "done".
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [libFile, url, instance, count] = process.argv.slice(2);
const lib = await import(pathToFileURL(libFile).href);
const store = new lib.PostgresState(instance, async () => url, 2);
await store.audit.head(); // connected before the clock starts
process.stdout.write('ready\n');
const rl = createInterface({ input: process.stdin });
for await (const line of rl) if (line === 'go') break;
for (let i = 0; i < Number(count); i++) await store.audit.append({ call: `${process.pid}-${i}`, phase: 'intent', decision: 'allow', tool: 'post_message' });
process.stdout.write('done\n');
await store.close();
process.exit(0);
