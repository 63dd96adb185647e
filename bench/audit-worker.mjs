// One appending process of the audit throughput bench: loads the bundled bench library, waits
// for "go" on stdin so that every worker starts together, appends, and reports when done.
const [lib, file, count] = /** @type {[string, string, string]} */ (process.argv.slice(2));
const { appendSerially } = await import(lib);
process.stdin.once('data', async () => {
  await appendSerially(file, Number(count));
  process.stdout.write('done\n');
  process.exit(0);
});
process.stdout.write('ready\n');
