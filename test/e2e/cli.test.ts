// The CLI as people meet it: --help, refused options, a missing manifest, `fleet sandbox --port`,
// and `fleet audit` on trails and on files that are not trails.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fleetCommand, ROOT, runCli, serve, tempDir } from '../helpers.js';

/** Every FLEET_* variable the code reads. */
function fleetVars(): string[] {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        // code, not comments (a comment may show an example variable of the user's); a `const FLEET_…` is a name, not a variable
        const code = readFileSync(p, 'utf8')
          .split('\n')
          .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
          .join('\n');
        for (const m of code.matchAll(/(?<!const )\bFLEET_[A-Z_]+\b/g)) found.add(m[0]);
      }
    }
  };
  walk(join(ROOT, 'servers'));
  walk(join(ROOT, 'shared'));
  return [...found].sort();
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe('fleet --help', () => {
  it('names the connectors and every environment variable fleet reads', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Connectors: slack, doppler, cloudflare/);
    const vars = fleetVars();
    expect(vars).toContain('FLEET_ACTOR');
    for (const v of [...vars, 'DOPPLER_TOKEN', 'DOPPLER_API_URL'])
      expect(r.stdout, v).toMatch(new RegExp(`^  ${v} `, 'm'));
  });
});

describe('refused options', () => {
  it.each([
    [
      ['serve', 'slack', '--env', 'dev', '--sandbox', '--upstream', 'http://127.0.0.1:1'],
      "option '--sandbox' cannot be used with option '--upstream <url>'",
    ],
    [['serve', 'slack', '--env', 'dev', '--upstream', 'slack.com'], 'the upstream is an http:// or https:// URL'],
    [['sandbox', 'slack', '--port', 'abc'], 'a port is a whole number from 0 to 65535'],
    [['sandbox', 'slack', '--port', '70000'], 'a port is a whole number from 0 to 65535'],
  ])('%j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  it('a missing manifest names the environments the connector has', async () => {
    const r = await runCli(['serve', 'slack', '--env', 'staging']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /no manifest .*slack\.staging\.yaml for slack --env staging; slack has: --env dev, --env prod/,
    );
  });

  it('outside any project, says where it looked for scopes/', async () => {
    const r = await runCli(['serve', 'slack', '--env', 'dev'], { cwd: tempDir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no scopes folder at .*: run fleet in your project .* or pass --scopes DIR/);
  });
});

describe('fleet sandbox --port', () => {
  it('listens on the port asked for', async () => {
    const port = await freePort();
    const cmd = fleetCommand(['sandbox', 'slack', '--port', String(port)]);
    const child = spawn(cmd.command, cmd.args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      expect(first).toBe(`slack sandbox listening at http://127.0.0.1:${port}/api/`);
      expect((await fetch(`http://127.0.0.1:${port}/api/auth.test`, { method: 'POST' })).status).toBeLessThan(500);
    } finally {
      child.kill();
    }
  });
});

describe('fleet audit', () => {
  it('show labels its time zone and filters on every decision it prints', async () => {
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true });
    const key = { 'fleet/idempotency-key': 'cli-test-1' };
    await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'once' }, key);
    await s.call('post_message', { channel: 'C0DEVBOTTEST', text: 'once' }, key);
    await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'refused' });
    await s.close();

    const all = await runCli(['audit', 'show', s.auditFile]);
    expect(all.stdout.split('\n')[0]).toMatch(/^time \(UTC\)\s+actor/);
    const printed = new Set(
      all.stdout
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(/\s{2,}/)[4]),
    );
    expect([...printed].sort()).toEqual(['allow', 'deny', 'replay']);
    for (const d of printed) {
      const r = await runCli(['audit', 'show', s.auditFile, '--decision', d!, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).decision),
      ).toEqual([d]);
    }
    const bad = await runCli(['audit', 'show', s.auditFile, '--decision', 'maybe']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      "argument 'maybe' is invalid. Allowed choices are allow, deny, replay, pending, failed, error, mint, renew, revoke, sweep, rotate, suspend, resume.",
    );
  });

  it.each(['show', 'verify'])('%s on a file that is not a trail says so and exits 1', async (cmd) => {
    const r = await runCli(['audit', cmd, join(ROOT, 'package.json')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('package.json is not a fleet audit trail');
  });
});
