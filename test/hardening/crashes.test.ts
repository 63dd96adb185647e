// Crashes and an audit trail that cannot be written. A server killed (SIGKILL) between a call's
// audit intent and its outcome, and servers killed while several processes append to one file:
// `fleet audit verify` passes on everything written and `fleet audit show` marks the call whose
// outcome is unknown. An audit file that cannot be written (a path through a regular file:
// ENOTDIR; a file on a full device, /dev/full: ENOSPC) makes every call fail closed, with no
// request reaching the upstream.
import { symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRecords, runCli, serve, tempDir, text, type Served } from '../helpers.js';
import { credentialVar, manifestOf, SAMPLES, startLive, upstreamFor, type Upstream } from './instances.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const killed = (pid: number) => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
};

describe('SIGKILL between the audit intent and the outcome', () => {
  it.each(['slack', 'cloudflare', 'doppler'])(
    '%s: verify passes, show marks the call UNKNOWN',
    async (connector) => {
      const live = await startLive(connector, 'dev');
      try {
        const tool = { slack: 'post_message', cloudflare: 'kv_put', doppler: 'set_secret' }[connector]!;
        const route = { slack: 'chat.postMessage', cloudflare: 'kv.values.update', doppler: 'secrets.update' }[
          connector
        ]!;
        live.up.emulator.inject({ route, hang: true });
        // what the trail held at the instant the upstream got the request: the intent must be there
        // already (its append resolved only after fdatasync: test/unit/audit.test.ts), so a kill from
        // then on, before any answer, leaves it on disk
        const atRequest: string[] = [];
        const seen = live.up.emulator.requests;
        const record = seen.push.bind(seen);
        seen.push = (...r) => {
          if (r.some((q) => q.route === route)) atRequest.push(readFileSync(live.server.auditFile, 'utf8'));
          return record(...r);
        };
        const pending = live.server
          .call(tool, SAMPLES[`${connector}.dev`]![tool]!, { 'fleet/thread': 'doomed' })
          .catch((e: Error) => e);
        await until('the intent record', () =>
          auditRecords(live.server.auditFile).find((r) => r.thread === 'doomed' && r.phase === 'intent'),
        );
        await until('the request at the upstream', () => live.up.emulator.requests.some((q) => q.route === route));
        killed(live.server.pid);
        expect(await pending).toBeInstanceOf(Error);
        expect(atRequest).toHaveLength(1);
        const before = atRequest[0]!
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l));
        expect(before.filter((r) => r.thread === 'doomed').map((r) => r.phase)).toContain('intent');
        expect(
          auditRecords(live.server.auditFile)
            .filter((r) => r.thread === 'doomed')
            .map((r) => r.phase),
        ).toEqual(before.filter((r) => r.thread === 'doomed').map((r) => r.phase));

        const verify = await runCli(['audit', 'verify', live.server.auditFile]);
        expect(verify.code, verify.stdout + verify.stderr).toBe(0);
        expect(verify.stdout).toMatch(/chain intact/);
        const show = await runCli(['audit', 'show', live.server.auditFile]);
        expect(show.code).toBe(0);
        const row = show.stdout.split('\n').find((l) => l.includes(tool));
        expect(row).toMatch(/UNKNOWN \(no outcome recorded\)/);
        const json = await runCli(['audit', 'show', live.server.auditFile, '--json']);
        const calls = json.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(calls.filter((c) => c.outcome === 'unknown').map((c) => c.tool)).toEqual([tool]);
      } finally {
        await live.up.close();
      }
    },
    30_000,
  );
});

describe('SIGKILL while several processes append to one audit file', () => {
  let up: Upstream;
  beforeAll(async () => {
    up = await upstreamFor(manifestOf('slack', 'dev'));
  });
  afterAll(() => up?.close());

  it('the chain of everything written verifies, and each killed call shows as UNKNOWN or not at all', async () => {
    const auditDir = tempDir('fleet-shared-audit-');
    const servers: Served[] = [];
    for (let i = 0; i < 4; i++) {
      servers.push(
        await serve({
          connector: 'slack',
          env: 'dev',
          upstream: up.url,
          auditDir,
          vars: { SLACK_BOT_TOKEN_DEV: up.token },
        }),
      );
    }
    const CALLS = 60;
    const work = servers.map(async (s, i) => {
      for (let n = 0; n < CALLS; n++) {
        const args = n % 3 === 0 ? { channel: 'C0DEVPRIVATE' } : { channel: 'C0DEVGENERAL' };
        try {
          await s.call('read_history', args, { 'fleet/thread': `p${i}-${n}` });
        } catch {
          return n; // this process was killed
        }
      }
      return CALLS;
    });
    // kill two of them mid-stream, at different points
    await until('some records', () => auditRecords(servers[0]!.auditFile).length > 40 || undefined);
    killed(servers[1]!.pid);
    await sleep(15);
    killed(servers[3]!.pid);
    const done = await Promise.all(work);
    expect(done[0]).toBe(CALLS);
    expect(done[2]).toBe(CALLS);
    await Promise.all([servers[0]!.close(), servers[2]!.close()]);

    const file = servers[0]!.auditFile;
    const verify = await runCli(['audit', 'verify', file]);
    expect(verify.code, verify.stdout).toBe(0);
    const records = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    // every call of the two survivors left at least one record (a call past Slack's rate tier, which
    // all four share, is refused with one; an allowed one has two): how many were allowed is timing
    expect(records.length).toBeGreaterThanOrEqual(2 * CALLS);
    const json = await runCli(['audit', 'show', file, '--json']);
    const calls = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // the survivors' calls are all complete; only the killed processes may leave one call open each
    const open = calls.filter((c) => c.outcome === 'unknown');
    expect(open.every((c) => /^p[13]-/.test(c.thread))).toBe(true);
    expect(open.length).toBeLessThanOrEqual(2);
    for (const i of [0, 2]) expect(calls.filter((c) => c.thread?.startsWith(`p${i}-`)).length).toBe(CALLS);
  }, 60_000);
});

describe('an audit trail that cannot be written fails closed', () => {
  const blockers: Record<string, () => string> = {
    'ENOTDIR (a path through a file)': () => {
      const f = join(tempDir(), 'not-a-dir');
      writeFileSync(f, '');
      return join(f, 'audit');
    },
    'ELOOP (the trail is a link, here to /dev/full)': () => {
      const dir = tempDir('fleet-full-');
      for (const id of ['slack.dev', 'cloudflare.dev', 'doppler.dev'])
        symlinkSync('/dev/full', join(dir, `${id}.jsonl`));
      return dir;
    },
  };
  const cases = ['slack', 'cloudflare', 'doppler'].flatMap((c) => Object.keys(blockers).map((b) => [c, b] as const));

  it.each(cases)(
    '%s, %s: every call is refused, none reaches the upstream',
    async (connector, blocker) => {
      const m = manifestOf(connector, 'dev');
      const up = await upstreamFor(m);
      const s = await serve({
        connector,
        env: 'dev',
        upstream: up.url,
        auditDir: blockers[blocker]!(),
        vars: { [credentialVar(m)]: up.token },
      });
      try {
        const samples = SAMPLES[m.id]!;
        // the first call opens the upstream (identity check); from then on nothing may reach it
        await s.call(Object.keys(samples)[0]!, Object.values(samples)[0]!);
        const before = up.emulator.requests.length;
        for (const [tool, args] of Object.entries(samples)) {
          const r = await s.call(tool, args);
          expect(r.isError, `${tool}: ${text(r)}`).toBe(true);
          expect(text(r)).toMatch(
            /^refused: audit trail .* cannot be written: (ENOTDIR|ELOOP \(it is a symbolic link; the trail must be a regular file\)); no upstream call was made$/,
          );
        }
        expect(up.emulator.requests.slice(before).map((q) => q.route)).toEqual([]);
        expect(s.stderr()).toMatch(/cannot be written/);
      } finally {
        await s.close();
        await up.close();
      }
    },
    30_000,
  );
});
