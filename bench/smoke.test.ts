// The bench is not part of `npm test` (it takes minutes and measures, never asserts, speed); this
// runs it end to end with tiny counts so that it cannot rot: every fleet instance in scopes/ and
// every peer must start and list, the per-call and audit sections must run, the chain must hold.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, tempDir } from '../test/helpers.js';

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'run.mjs'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench (smoke, tiny counts)', () => {
  // It starts every instance and peer one after another: its length is the machine's load, not a
  // property of the code, so it gets room beyond the suite's default (it took 23-30 s on a quiet 2-core machine).
  it('measures every instance and peer, per-call overhead and audit throughput', async () => {
    const dir = tempDir('fleet-bench-smoke-');
    const out = join(dir, 'benchmarks.md');
    const json = join(dir, 'bench.json');
    const r = await runBench([
      '--starts',
      '1',
      '--calls',
      '3',
      '--warmup',
      '1',
      '--audit',
      '40',
      '--verify-mb',
      '1',
      '--durability',
      '5',
      '--cli',
      CLI,
      '--out',
      out,
      '--readme',
      join(dir, 'README.md'),
      '--json',
      json,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(out, 'utf8');
    expect(r.stdout.trim()).toBe(md.trim());
    expect(md).toMatch(/Machine: \d+ cores .* GiB memory, Node v\d+/);

    const result = JSON.parse(readFileSync(json, 'utf8'));
    const fleet = result.targets.filter((t: { kind: string }) => t.kind === 'fleet');
    const slackScopes = readdirSync(join(ROOT, 'scopes')).filter((f) => /^slack\.[a-z0-9-]+\.yaml$/.test(f));
    expect(slackScopes.length).toBeGreaterThan(0);
    expect(fleet.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(slackScopes.map((f) => `fleet ${f.replace(/\.yaml$/, '')}`)),
    );
    // The Doppler server needs its API (the sandbox) to answer before it serves: its row may
    // carry the reason instead; every other server must start and list.
    const mustStart = result.targets.filter(
      (x: { name: string; kind: string }) => x.kind !== 'floor' && x.name !== 'Doppler server',
    );
    expect(mustStart.length).toBeGreaterThanOrEqual(fleet.length + 3);
    for (const t of mustStart) {
      expect(t.error, t.name).toBeUndefined();
      expect(t.runs, t.name).toHaveLength(1);
      expect(t.runs[0].listMs).toBeGreaterThan(t.runs[0].initMs);
      // settled RSS (a fleet instance's once its upstream is open) and start-up through the SDK Client are measured too
      expect(t.runs[0].settledMB, t.name).toBeGreaterThan(0);
      expect(t.runs[0].clientMs, t.name).toBeGreaterThan(0);
      expect(t.surface.tools, t.name).toBeGreaterThan(0);
    }
    for (const t of fleet) {
      expect([...t.listed].sort(), t.name).toEqual([...t.granted].sort());
      // its own milestones (FLEET_TRACE_START), by which "Where a start goes" splits each start
      const tr = t.runs[0].trace;
      expect([tr.main, tr.listed, tr.open].every(Number.isFinite), `${t.name}: ${JSON.stringify(tr)}`).toBe(true);
      expect(tr.from, t.name).toMatch(/^(snapshot[a-z0-9-]*\.blob|bundle)$/);
    }
    expect(md).toContain('### Where a start goes');
    expect(result.calls.fleet.n).toBe(3);
    expect(result.audit.map((a: { processes: number; intact: boolean }) => [a.processes, a.intact])).toEqual([
      [1, true],
      [4, true],
    ]);
    expect(md).toContain('## Goals, as ratios to references measured in this run');
    expect(md).toMatch(/load \d+\.\d+ → \d+\.\d+/);
  }, 180_000);

  it('runs the HTTP bench: fleet serve --http and the SDK server, every level, RSS after the calls', async () => {
    const dir = tempDir('fleet-bench-http-smoke-');
    const json = join(dir, 'http.json');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          join(ROOT, 'bench', 'http.mjs'),
          '--seconds',
          '0.2',
          '--rss-calls',
          '20',
          '--paired',
          '20',
          '--pg',
          '',
          '--levels',
          '1,4',
          '--cli',
          CLI,
          '--json',
          json,
          '--no-write',
        ],
        { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.resume();
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    expect(result.levels.map((l: { clients: number }) => l.clients)).toEqual([1, 4]);
    for (const level of result.levels) {
      for (const [name, m] of Object.entries(level))
        if (name !== 'clients') expect((m as { calls: number; errors: number }).errors, name).toBe(0);
    }
    for (const m of Object.values(result.rss) as { after: number; errors: number }[]) {
      expect(m.after).toBeGreaterThan(0);
      expect(m.errors).toBe(0);
    }
  }, 280_000);

  it('refuses a bad count with a clear message and writes nothing', async () => {
    const dir = tempDir('fleet-bench-smoke-');
    const r = await runBench(['--starts', 'zero', '--out', join(dir, 'b.md')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--starts must be an integer');
  });
});
