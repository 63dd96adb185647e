// A Doppler production instance whose credential is minted at start from a broker: one service
// token per config its grants name, read-only as its grants need, with an expiry, revoked on exit
// and swept after a crash. The real CLI over stdio; the Doppler sandbox in this process judges.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { askedInSlack, auditRecords, scopesCopy, serve, tempDir, text, type Served } from '../helpers.js';

let sb: DopplerSandbox;
let slack: SlackSandbox;
let scopes: string;

/** The shipped scopes, doppler.prod's minted tokens living 10s (timeout 3s) so renewals come quickly. */
const mintedScopes = () =>
  scopesCopy({
    'doppler.prod.yaml': (y) =>
      y.replace('mint: { ttl: 1h }', 'mint: { ttl: 10s }').replace(/^timeout: .*$/m, 'timeout: 3s'),
  });

/** Service tokens the fleet minted for doppler.prod, live in the sandbox. */
const minted = () =>
  sb.registry.all().filter((g) => g.kind === 'service_token' && g.name.startsWith('fleet doppler.prod '));
const credentialRecords = (s: Served) => auditRecords(s.auditFile).filter((r) => r.phase === 'credential');
const start = (broker: string, auditDir = tempDir('fleet-audit-')) =>
  serve({
    connector: 'doppler',
    env: 'prod',
    scopes,
    upstream: sb.url,
    auditDir,
    vars: { DOPPLER_BROKER_TOKEN_PROD: broker, ...askedInSlack(slack) },
  });

beforeAll(async () => {
  sb = await startDopplerSandbox();
  slack = await startSlackSandbox();
  scopes = mintedScopes();
});
afterAll(() => Promise.all([sb.close(), slack?.close()]));

describe('minted Doppler credentials', () => {
  it('mints one read-only service token per granted config, used per config, revoked on exit; the broker never shows', async () => {
    const broker = sb.issueBroker('blogbot');
    const s = await start(broker);
    let keys: string[] = [];
    try {
      const r = await s.call('list_secret_names', { config: 'prd' });
      expect(r.isError, text(r)).toBeFalsy();
      expect((await s.call('compare_configs', { from: 'stg', to: 'prd' })).isError).toBeFalsy();
      const tokens = minted();
      expect(tokens.map((g) => [g.configs, g.write]).sort()).toEqual([
        [['prd'], false],
        [['stg'], false],
      ]);
      for (const g of tokens) expect(g.expires_at! - Date.now()).toBeLessThanOrEqual(10_000);
      // the sandbox refuses what the tokens were not given: writes, and other configs
      keys = tokens.map((g) => sb.keyOf(g.slug!)!);
      const prd = sb.keyOf(tokens.find((g) => (g.configs as string[])[0] === 'prd')!.slug!)!;
      const post = await fetch(`${sb.url}/v3/configs/config/secrets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${prd}`, 'content-type': 'application/json' },
        body: JSON.stringify({ project: 'blogbot', config: 'prd', secrets: { X: '1' } }),
      });
      expect(post.status).toBe(403);
      const dev = await fetch(`${sb.url}/v3/configs/config/secrets/names?project=blogbot&config=dev`, {
        headers: { authorization: `Bearer ${prd}` },
      });
      expect(dev.status).toBe(403);
      const [mint] = credentialRecords(s);
      expect(mint).toMatchObject({
        action: 'mint',
        outcome: 'ok',
        permissions: ['prd: read', 'stg: read'],
        resources: ['blogbot/prd', 'blogbot/stg'],
      });
      expect(mint!.policy_digest).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await s.close();
    }
    await expect.poll(() => minted().length, { timeout: 10_000 }).toBe(0);
    await expect.poll(() => credentialRecords(s).map((r) => r.action), { timeout: 10_000 }).toEqual(['mint', 'revoke']);
    const seen = readFileSync(s.auditFile, 'utf8') + s.stderr();
    for (const secret of [broker, ...keys]) expect(seen).not.toContain(secret);
  });

  it('revokes the set on SIGINT (Ctrl-C in a terminal), as on SIGTERM and a closed stdin', async () => {
    const a = await start(sb.issueBroker('blogbot'));
    expect((await a.call('list_secret_names', { config: 'stg' })).isError).toBeFalsy();
    expect(minted()).toHaveLength(2);
    process.kill(a.pid, 'SIGINT');
    await expect.poll(() => minted().length, { timeout: 10_000 }).toBe(0);
    await expect
      .poll(() => credentialRecords(a).at(-1), { timeout: 10_000 })
      .toMatchObject({ action: 'revoke', reason: 'SIGINT', outcome: 'ok' });
    await a.close().catch(() => {});
  });

  it('renews the set before it expires; after SIGKILL the next start sweeps what was left', async () => {
    const auditDir = tempDir('fleet-audit-');
    const a = await start(sb.issueBroker('blogbot'), auditDir);
    expect((await a.call('list_secret_names', { config: 'stg' })).isError).toBeFalsy();
    await expect
      .poll(() => credentialRecords(a).some((r) => r.action === 'renew' && r.outcome === 'ok'), {
        timeout: 20_000,
        interval: 250,
      })
      .toBe(true);
    expect((await a.call('list_secret_names', { config: 'stg' })).isError).toBeFalsy();
    await expect.poll(() => minted().length, { timeout: 15_000, interval: 250 }).toBe(2); // the old set is gone
    const left = minted().map((g) => g.slug);
    process.kill(a.pid, 'SIGKILL');
    await a.close().catch(() => {});
    await expect
      .poll(
        () => {
          try {
            process.kill(a.pid, 0);
            return true;
          } catch {
            return false;
          }
        },
        { timeout: 10_000 },
      )
      .toBe(false);
    expect(minted().map((g) => g.slug)).toEqual(left);

    const b = await start(sb.issueBroker('blogbot'), auditDir);
    try {
      expect((await b.call('list_secret_names', { config: 'prd' })).isError).toBeFalsy();
      expect(
        minted()
          .map((g) => g.slug)
          .filter((x) => left.includes(x)),
      ).toEqual([]);
      expect(
        credentialRecords(b)
          .filter((r) => r.action === 'sweep')
          .map((r) => r.outcome),
      ).toEqual(['ok', 'ok']);
    } finally {
      await b.close();
    }
    await expect.poll(() => minted().length, { timeout: 10_000 }).toBe(0);
  }, 60_000);
});
