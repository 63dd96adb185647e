// `fleet suspend` / `fleet resume` against two real server processes serving the same instance
// (same state and audit folders, as on one machine): both refuse calls within the stated bound,
// naming the suspension; resume restores service; all of it is in the trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUSPENSION_CACHE_MS } from '../../shared/state/suspension.js';
import { auditRecords, runCli, serve, tempDir, text, type Served } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// the stated bound: a process may use what it read for SUSPENSION_CACHE_MS; a call that starts
// after that must see the change
const BOUND = SUSPENSION_CACHE_MS + 50;

describe('fleet suspend and resume', () => {
  const stateDir = tempDir('fleet-state-');
  const auditDir = tempDir('fleet-audit-');
  const env = { FLEET_STATE_DIR: stateDir, FLEET_AUDIT_DIR: auditDir, FLEET_ACTOR: 'U0SECOPS' };
  let a: Served;
  let b: Served;
  const read = (s: Served) => s.call('read_history', { channel: 'C0DEVGENERAL' });

  beforeAll(async () => {
    [a, b] = await Promise.all([
      serve({
        connector: 'slack',
        env: 'dev',
        sandbox: true,
        stateDir,
        auditDir,
        vars: { FLEET_ACTOR: 'U0DEVALICE', FLEET_CLIENT: 'claude-dev' },
      }),
      serve({
        connector: 'slack',
        env: 'dev',
        sandbox: true,
        stateDir,
        auditDir,
        vars: { FLEET_ACTOR: 'U0DEVBOB', FLEET_CLIENT: 'docs-routine' },
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('both processes refuse calls after suspend, naming it; resume restores them; the trail holds it all', async () => {
    expect((await read(a)).isError).toBeFalsy();
    expect((await read(b)).isError).toBeFalsy();

    const s = await runCli(['suspend', 'slack.dev', '--reason', 'incident 42: token may have leaked'], { env });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('suspended slack.dev: incident 42');
    expect(s.stdout).toContain('minted credentials: none to revoke');
    await sleep(BOUND);
    for (const srv of [a, b]) {
      const r = await read(srv);
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(
        /^refused: instance slack\.dev is suspended since \S+ by U0SECOPS: incident 42: token may have leaked; nothing was done \(`fleet resume slack.dev` lifts it\)$/,
      );
      // an unknown tool is refused for the suspension too: it comes first
      expect(text(await srv.call('kick_user'))).toContain('is suspended');
    }

    const r = await runCli(['resume', 'slack.dev', '--reason', 'token rotated'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('resumed slack.dev');
    await sleep(BOUND);
    expect((await read(a)).isError).toBeFalsy();
    expect((await read(b)).isError).toBeFalsy();

    const recs = auditRecords(a.auditFile);
    expect(recs.filter((x) => x.phase === 'admin').map((x) => [x.decision, x.actor, x.reason])).toEqual([
      ['suspend', 'U0SECOPS', 'incident 42: token may have leaked'],
      ['resume', 'U0SECOPS', 'token rotated'],
    ]);
    const refused = recs.filter((x) => x.rule === 'suspension');
    expect(refused).toHaveLength(4);
    expect(new Set(refused.map((x) => x.actor))).toEqual(new Set(['U0DEVALICE', 'U0DEVBOB']));
    expect(refused[0]!.suspension).toMatchObject({
      target: 'slack.dev',
      by: 'U0SECOPS',
      reason: 'incident 42: token may have leaked',
    });
    const verify = await runCli(['audit', 'verify', a.auditFile]);
    expect(verify.code, verify.stdout).toBe(0);
    const show = await runCli(['audit', 'show', a.auditFile]);
    expect(show.stdout).toMatch(/fleet suspend\s+suspend\s+-/);
  }, 60_000);

  it('a suspended client is refused by every instance; other clients are not', async () => {
    const s = await runCli(['suspend', 'client:claude-dev', '--reason', 'agent misbehaving'], { env });
    expect(s.code, s.stderr).toBe(0);
    await sleep(BOUND);
    expect(text(await read(a))).toContain('refused: client claude-dev is suspended');
    expect((await read(b)).isError).toBeFalsy();
    expect((await runCli(['resume', 'client:claude-dev'], { env })).code).toBe(0);
    await sleep(BOUND);
    expect((await read(a)).isError).toBeFalsy();
  }, 30_000);

  it('refuses a suspension without a reason or of an unknown instance, and a resume of nothing', async () => {
    const noReason = await runCli(['suspend', 'slack.dev', '--reason', ' '], { env });
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain('--reason is required');
    const unknown = await runCli(['suspend', 'slack.nope', '--reason', 'x'], { env });
    expect(unknown.stderr).toContain('no instance "slack.nope"');
    const nothing = await runCli(['resume', 'slack.dev'], { env });
    expect(nothing.stderr).toContain('slack.dev is not suspended');
    expect((await read(b)).isError).toBeFalsy();
  });
});
