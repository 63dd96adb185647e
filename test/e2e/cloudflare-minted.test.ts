// A Cloudflare production instance whose token is minted at start from a broker credential: the
// real CLI over stdio, the Cloudflare sandbox in this process. The sandbox is the judge of what
// the minted token may do; the audit trail and every output are searched for the broker's value.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Cloudflare from 'cloudflare';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, IDS } from '../../servers/cloudflare/sandbox/seed.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import {
  askedInSlack,
  auditRecords,
  ROOT,
  runCli,
  scopesCopy,
  serve,
  tempDir,
  text,
  waitFor,
  type Served,
} from '../helpers.js';

const PROD_PERMS = [
  'Workers Scripts Read',
  'Workers Scripts Write',
  'Workers KV Storage Read',
  'Workers R2 Storage Read',
  'D1 Read',
  'Zone Read',
  'DNS Read',
];
const ZONE_GROUPS = ['DNS Read', 'Zone Read'];

let sb: CloudflareSandbox;
let slack: SlackSandbox;
let scopes: string;

/** The shipped scopes, cloudflare.prod's minted token living 10s (timeout 3s) so renewals and retirements come quickly. */
const mintedScopes = () =>
  scopesCopy({
    'cloudflare.prod.yaml': (y) =>
      y.replace('mint: { ttl: 1h }', 'mint: { ttl: 10s }').replace(/^timeout: .*$/m, 'timeout: 3s'),
  });

const broker = () => sb.issue(ACCOUNT, ['Account API Tokens Write'], { name: 'fleet broker' });
/** Tokens the fleet minted for cloudflare.prod, live in the sandbox. */
const minted = () => sb.registry.all().filter((g) => g.name.startsWith('fleet cloudflare.prod '));
const credentialRecords = (s: Served) => auditRecords(s.auditFile).filter((r) => r.phase === 'credential');

function start(brokerToken: string, auditDir = tempDir('fleet-audit-')) {
  return serve({
    connector: 'cloudflare',
    env: 'prod',
    scopes,
    upstream: sb.url,
    auditDir,
    vars: { CLOUDFLARE_BROKER_TOKEN_PROD: brokerToken, ...askedInSlack(slack) },
  });
}

beforeAll(async () => {
  sb = await startCloudflareSandbox();
  slack = await startSlackSandbox();
  scopes = mintedScopes();
});
afterAll(() => Promise.all([sb.close(), slack?.close()]));

describe('minted Cloudflare credentials', () => {
  it('mints exactly the declared permissions, on the pinned account and the named zones only; the sandbox refuses the rest', async () => {
    const b = broker();
    const s = await start(b);
    try {
      expect((await s.call('list_workers')).isError).toBeFalsy();
      const [t, ...more] = minted();
      expect(more).toEqual([]);
      expect(t!.name).toBe(`fleet cloudflare.prod ${t!.name.split(' ')[2]} ${s.pid}`);
      expect(t!.owner).toBe(ACCOUNT);
      expect([...t!.permissions].sort()).toEqual([...PROD_PERMS].sort());
      const acct = t!.policies.find((p) => p.groups.includes('Workers Scripts Read'))!;
      expect(acct.resources).toEqual({ [`com.cloudflare.api.account.${ACCOUNT}`]: '*' });
      const zone = t!.policies.find((p) => p.groups.includes('DNS Read'))!;
      expect([...zone.groups].sort()).toEqual(ZONE_GROUPS);
      expect(zone.resources).toEqual({ [`com.cloudflare.api.account.zone.${IDS.zone}`]: '*' }); // the zone the grants name
      expect(Date.parse(t!.expires_on!) - Date.now()).toBeLessThanOrEqual(10_000);

      // What the upstream itself allows the minted token: only what the manifest declares.
      const cf = new Cloudflare({
        apiToken: sb.valueOf(t!.id)!,
        apiKey: null,
        apiEmail: null,
        userServiceKey: null,
        baseURL: sb.url,
        maxRetries: 0,
        timeout: 5000,
      });
      await cf.kv.namespaces.list({ account_id: ACCOUNT }).then((p) => p.result); // KV Read: declared
      const raw = (method: string, path: string) =>
        fetch(`${sb.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${sb.valueOf(t!.id)}` },
          body: method === 'PUT' ? 'x' : undefined,
        }).then((r) => r.status);
      expect(await raw('PUT', `/accounts/${ACCOUNT}/storage/kv/namespaces/${IDS.prodKv}/values/k`)).toBe(403); // KV Write: not declared
      expect(await raw('DELETE', `/accounts/${ACCOUNT}/r2/buckets/blogbot-media/objects/published%2Fx`)).toBe(403);
      await expect(cf.dns.records.list({ zone_id: IDS.devZone }).then((p) => p.result)).rejects.toMatchObject({
        status: 403,
      }); // a zone no grant names
      await expect(cf.accounts.tokens.list({ account_id: ACCOUNT }).then((p) => p.result)).rejects.toMatchObject({
        status: 403,
      });

      // The trail: a mint record with id, expiry and policy digest; never a value.
      const [mint] = credentialRecords(s);
      expect(mint).toMatchObject({ action: 'mint', token_id: t!.id, outcome: 'ok', instance: 'cloudflare.prod' });
      expect(Date.parse(mint!.expires_on)).toBe(Date.parse(t!.expires_on!));
      expect(mint!.policy_digest).toMatch(/^[0-9a-f]{64}$/);
      expect(mint!.permissions).toEqual(PROD_PERMS);
    } finally {
      await s.close();
    }
    await expect.poll(() => minted().length, { timeout: 10_000 }).toBe(0);
    await expect
      .poll(() => credentialRecords(s).map((r) => [r.action, r.reason]), { timeout: 10_000 })
      .toEqual([
        ['mint', undefined],
        ['revoke', 'exit'],
      ]);
    const all = JSON.stringify(auditRecords(s.auditFile)) + s.stderr();
    expect(all).not.toContain(b);
  });

  it('renews the token before it expires, rebinds calls to the new one and deletes the old', async () => {
    const s = await start(broker());
    try {
      expect((await s.call('list_zones')).isError).toBeFalsy();
      const first = minted()[0]!.id;
      await expect
        .poll(() => credentialRecords(s).some((r) => r.action === 'renew' && r.outcome === 'ok'), {
          timeout: 20_000,
          interval: 250,
        })
        .toBe(true);
      const renewed = credentialRecords(s).find((r) => r.action === 'renew')!;
      expect(renewed.token_id).not.toBe(first);
      // the old token goes once calls on it have had their timeout
      await expect
        .poll(() => minted().map((g) => g.id), { timeout: 15_000, interval: 250 })
        .toEqual([renewed.token_id]);
      const before = sb.emulator.requests.length;
      expect((await s.call('list_workers')).isError).toBeFalsy();
      expect(sb.emulator.requests.slice(before).some((q) => q.route === 'workers.scripts.list')).toBe(true);
      await expect
        .poll(() => credentialRecords(s).find((r) => r.action === 'revoke'), { timeout: 10_000 })
        .toMatchObject({ token_id: first, reason: 'renewed', outcome: 'ok' });
    } finally {
      await s.close();
    }
  }, 45_000);

  it('deletes the token on SIGTERM; after SIGKILL the next start sweeps it', async () => {
    const auditDir = tempDir('fleet-audit-');
    const a = await start(broker(), auditDir);
    expect((await a.call('list_workers')).isError).toBeFalsy();
    process.kill(a.pid, 'SIGTERM');
    await expect.poll(() => minted().length, { timeout: 10_000 }).toBe(0);
    // the record follows the upstream's answer
    await expect
      .poll(() => credentialRecords(a).at(-1), { timeout: 10_000 })
      .toMatchObject({ action: 'revoke', reason: 'SIGTERM', outcome: 'ok' });
    await a.close().catch(() => {});

    const b = await start(broker(), auditDir);
    expect((await b.call('list_workers')).isError).toBeFalsy();
    const left = minted()[0]!.id;
    process.kill(b.pid, 'SIGKILL');
    await b.close().catch(() => {});
    await expect
      .poll(
        () => {
          try {
            process.kill(b.pid, 0);
            return true;
          } catch {
            return false;
          }
        },
        { timeout: 10_000 },
      )
      .toBe(false);
    expect(minted().map((g) => g.id)).toEqual([left]); // nothing ran to delete it

    // a live sibling's token is not swept; the dead process's is
    const c = await start(broker(), auditDir);
    const d = await start(broker(), auditDir);
    try {
      expect((await c.call('list_workers')).isError).toBeFalsy();
      expect((await d.call('list_workers')).isError).toBeFalsy();
      const ids = minted().map((g) => g.id);
      expect(ids).not.toContain(left);
      expect(ids).toHaveLength(2);
      const sweeps = credentialRecords(c).filter((r) => r.action === 'sweep');
      expect(sweeps).toEqual([expect.objectContaining({ token_id: left, outcome: 'ok' })]);
    } finally {
      await Promise.all([c.close(), d.close()]);
    }
    await expect.poll(() => minted().length, { timeout: 10_000 }).toBe(0);
  }, 60_000);

  it('never shows the broker or the minted value: not in results, errors, stderr or the trail', async () => {
    const canary = broker();
    const s = await start(canary);
    let value = '';
    try {
      expect((await s.call('list_workers')).isError).toBeFalsy();
      value = sb.valueOf(minted()[0]!.id)!;
      // an upstream error, a denial and a result
      sb.emulator.inject({ route: 'kv.namespaces.list', status: 500 });
      const outs = [
        await s.call('kv_list_namespaces'),
        await s.call('kv_get', { namespace_id: IDS.sessionsKv, key: 'x' }),
        await s.call('get_worker', { name: 'blogbot' }),
      ];
      for (const r of outs) {
        expect(text(r)).not.toContain(canary);
        expect(text(r)).not.toContain(value);
        expect(JSON.stringify(r.structuredContent ?? {})).not.toContain(canary);
      }
    } finally {
      await s.close();
    }
    const trail = readFileSync(s.auditFile, 'utf8');
    for (const secret of [canary, value]) {
      expect(trail).not.toContain(secret);
      expect(s.stderr()).not.toContain(secret);
    }
  });

  it('mints without the Cloudflare SDK: at rest, the serving process has not loaded it', async () => {
    // the chunk of the bundle that holds the `cloudflare` SDK's client (servers/cloudflare/client.ts)
    const chunks = join(ROOT, 'dist', 'chunks');
    const sdk = readdirSync(chunks).filter((f) => readFileSync(join(chunks, f), 'utf8').includes('cloudflare-sdk '));
    expect(sdk).toHaveLength(1);
    const log = join(tempDir(), 'loads.log');
    writeFileSync(log, '');
    const hook = pathToFileURL(join(ROOT, 'test', 'fixtures', 'load-log.mjs')).href;
    // --sandbox: its broker mints in this process, and the minted token is checked in a child process
    // the shipped scopes: an hour-long token and a 10 s timeout (this file's own scopes renew every 10 s with a 3 s timeout)
    // about the bundle's chunks, so through the bundle (the snapshot loads the SDK with require())
    const s = await serve({
      connector: 'cloudflare',
      env: 'prod',
      sandbox: true,
      door: 'bundle',
      vars: { NODE_OPTIONS: `--import=${hook}`, FLEET_LOAD_LOG: log, FLEET_TRACE_START: '1', FLEET_ACTOR: 'U0EDITOR1' },
    });
    try {
      await s.client.listTools();
      await waitFor(() => s.stderr().includes('fleet: upstream open'), 60_000);
      expect(credentialRecords(s).map((r) => r.action)).toEqual(['mint']);
      const loads = readFileSync(log, 'utf8').split('\n');
      expect(loads.some((l) => l.startsWith(`${s.pid} `))).toBe(true);
      expect(loads.filter((l) => l.startsWith(`${s.pid} `) && l.includes(sdk[0]!))).toEqual([]);
    } finally {
      await s.close();
    }
  }, 90_000);

  it('refuses to start when the broker cannot mint, naming what it needs', async () => {
    const weak = sb.issue(ACCOUNT, ['Account API Tokens Read']);
    const r = await runCli(['serve', 'cloudflare', '--env', 'prod', '--scopes', scopes, '--upstream', sb.url], {
      env: { FLEET_AUDIT_DIR: tempDir(), FLEET_ACTOR: 'x', CLOUDFLARE_BROKER_TOKEN_PROD: weak },
      keepStdin: true,
      timeoutMs: 15_000,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /minting a token for account 5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12 failed .*needs "Account API Tokens Write"/,
    );
    expect(r.stderr).not.toContain(weak);
  });
});
