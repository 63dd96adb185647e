// Verifies one trail in a process of its own, so its peak memory (maxRSS) is its own.
const [lib, file] = /** @type {[string, string]} */ (process.argv.slice(2));
const { verifyFile } = await import(lib);
const t0 = performance.now();
const r = await verifyFile(file);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(`${JSON.stringify({ ...r, seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`);
