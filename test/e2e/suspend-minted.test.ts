// `fleet suspend` revokes minted credentials: Cloudflare and Doppler production instances whose
// tokens are minted per run (the real CLI over stdio, each sandbox in this process as the judge). Once the
// instance is suspended the serving process deletes its token at the sandbox and mints none while
// the suspension lasts; `fleet resume` has it mint a fresh one and calls work again; the trail holds
// the suspension, the deletion (with its reason), the refusals and the new token.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT } from '../../servers/cloudflare/sandbox/seed.js';
import { startDopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { SUSPENSION_CACHE_MS } from '../../shared/state/suspension.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { askedInSlack, auditRecords, runCli, SCOPES, serve, tempDir, text, waitFor, type Served } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** a manifest's whole credential: block, on one line or several (a standing or a minted one) */
const CREDENTIAL = /^credential:.*\n(?:[ \t]+.*\n)*/m;

describe('fleet suspend of an instance with a minted credential', () => {
  let sb: CloudflareSandbox;
  let slack: SlackSandbox;
  let s: Served;
  const scopes = join(tempDir('fleet-susp-minted-'), 'scopes');
  const stateDir = tempDir('fleet-state-');
  const auditDir = tempDir('fleet-audit-');
  const env = { FLEET_STATE_DIR: stateDir, FLEET_AUDIT_DIR: auditDir, FLEET_ACTOR: 'U0SECOPS' };
  /** the fleet's live tokens for cloudflare.prod at the sandbox */
  const minted = () => sb.registry.all().filter((g) => g.name.startsWith('fleet cloudflare.prod '));
  const credentialRecords = () => auditRecords(s.auditFile).filter((r) => r.phase === 'credential');
  /** the sandbox's own answer to a token: is it still a credential? */
  const accepted = async (value: string) =>
    (await fetch(`${sb.url}/accounts/${ACCOUNT}/workers/scripts`, { headers: { authorization: `Bearer ${value}` } }))
      .status;

  beforeAll(async () => {
    sb = await startCloudflareSandbox();
    cpSync(SCOPES, scopes, { recursive: true });
    const file = join(scopes, 'cloudflare.prod.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        CREDENTIAL,
        'credential:\n  broker: env:CLOUDFLARE_BROKER_TOKEN_PROD\n  mint: { ttl: 10m }\n',
      ),
    );
    const broker = sb.issue(ACCOUNT, ['Account API Tokens Write'], { name: 'fleet broker' });
    // production proves its actor by the Slack message that asked
    slack = await startSlackSandbox();
    s = await serve({
      connector: 'cloudflare',
      env: 'prod',
      scopes,
      upstream: sb.url,
      stateDir,
      auditDir,
      vars: { CLOUDFLARE_BROKER_TOKEN_PROD: broker, ...askedInSlack(slack) },
    });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await sb?.close();
    await slack?.close();
  });

  it('deletes the token at the upstream, mints none while suspended, and a fresh one on resume', async () => {
    expect((await s.call('list_workers')).isError).toBeFalsy();
    const [first, ...more] = minted();
    expect(more).toEqual([]);
    const value = sb.valueOf(first!.id)!;
    expect(await accepted(value)).toBe(200);

    const sus = await runCli(
      ['suspend', 'cloudflare.prod', '--reason', 'incident 7: broker may have leaked', '--scopes', scopes],
      { env },
    );
    expect(sus.code, sus.stderr).toBe(0);
    expect(sus.stdout).toContain(
      `minted credentials: every process serving cloudflare.prod deletes its minted upstream token within ${(2 * SUSPENSION_CACHE_MS) / 1000} s and mints none until resumed`,
    );
    const suspendedAt = Date.now();
    await waitFor(() => minted().length === 0 || undefined);
    const took = Date.now() - suspendedAt;
    // the record follows the deletion at the upstream
    await waitFor(() => credentialRecords().some((r) => r.action === 'revoke') || undefined);
    // the token itself is dead at the upstream, not just forgotten by the fleet
    expect(await accepted(value)).toBe(401);
    expect(credentialRecords().find((r) => r.action === 'revoke')).toMatchObject({
      token_id: first!.id,
      reason: 'suspended: incident 7: broker may have leaked (by U0SECOPS)',
      outcome: 'ok',
    });
    // calls are refused naming the suspension, and nothing is minted while it lasts
    const refused = await s.call('list_workers');
    expect(text(refused)).toMatch(/^refused: instance cloudflare\.prod is suspended since \S+ by U0SECOPS: incident 7/);
    await sleep(2 * SUSPENSION_CACHE_MS + 200);
    expect(minted()).toEqual([]);
    expect(credentialRecords().filter((r) => r.action === 'mint')).toHaveLength(1);

    const res = await runCli(['resume', 'cloudflare.prod', '--reason', 'broker rotated', '--scopes', scopes], { env });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('a fresh token is minted');
    await sleep(SUSPENSION_CACHE_MS + 50);
    // the first call after the bound runs, on a fresh token (minted by then, or by this call)
    const back = await s.call('list_workers');
    expect(back.isError, text(back)).toBeFalsy();
    const [second, ...others] = minted();
    expect(others).toEqual([]);
    expect(second!.id).not.toBe(first!.id);
    expect(await accepted(sb.valueOf(second!.id)!)).toBe(200);

    const recs = auditRecords(s.auditFile);
    expect(
      recs
        .filter((r) => r.phase === 'admin' || r.phase === 'credential' || r.rule === 'suspension')
        .map((r) =>
          r.phase === 'credential'
            ? `${r.action}${r.reason ? ` (${r.reason.split(':')[0]})` : ''}`
            : r.phase === 'admin'
              ? r.decision
              : `refused ${r.tool}`,
        ),
    ).toEqual(['mint', 'suspend', 'revoke (suspended)', 'refused list_workers', 'resume', 'mint (resumed)']);
    expect(recs.filter((r) => r.action === 'mint').map((r) => r.token_id)).toEqual([first!.id, second!.id]);
    expect((await runCli(['audit', 'verify', s.auditFile])).code).toBe(0);
    // fleet review dates the credential by the newest token the trail shows minted
    const review = await runCli(['review', 'cloudflare.prod', '--scopes', scopes, '--format', 'json'], { env });
    expect(JSON.parse(review.stdout).instances[0].credential).toMatchObject({
      age_days: 0,
      source: `minted per run (ttl 10m): the newest token in the trail, ${second!.id}`,
    });
    process.stderr.write(`suspend → token deleted at the sandbox: ${took} ms\n`);
  }, 60_000);
});

describe('fleet suspend of a Doppler instance with minted service tokens', () => {
  it('deletes every minted service token at the sandbox while suspended and mints new ones on resume', async () => {
    const sb = await startDopplerSandbox();
    const scopes = join(tempDir('fleet-susp-doppler-'), 'scopes');
    cpSync(SCOPES, scopes, { recursive: true });
    const file = join(scopes, 'doppler.prod.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        CREDENTIAL,
        'credential: { broker: env:DOPPLER_BROKER_TOKEN_PROD, mint: { ttl: 10m } }\n',
      ),
    );
    const stateDir = tempDir('fleet-state-');
    const auditDir = tempDir('fleet-audit-');
    const env = { FLEET_STATE_DIR: stateDir, FLEET_AUDIT_DIR: auditDir, FLEET_ACTOR: 'U0SECOPS' };
    const minted = () =>
      sb.registry.all().filter((g) => g.kind === 'service_token' && g.name.startsWith('fleet doppler.prod '));
    const slack = await startSlackSandbox();
    const s = await serve({
      connector: 'doppler',
      env: 'prod',
      scopes,
      upstream: sb.url,
      stateDir,
      auditDir,
      vars: { DOPPLER_BROKER_TOKEN_PROD: sb.issueBroker('blogbot'), ...askedInSlack(slack) },
    });
    try {
      expect((await s.call('list_secret_names', { config: 'prd' })).isError).toBeFalsy();
      const before = minted();
      expect(before.length).toBe(2);
      const keys = before.map((g) => sb.keyOf(g.slug!)!);
      expect(
        (await runCli(['suspend', 'doppler.prod', '--reason', 'incident 8', '--scopes', scopes], { env })).code,
      ).toBe(0);
      await waitFor(() => minted().length === 0 || undefined);
      for (const k of keys)
        expect((await fetch(`${sb.url}/v3/me`, { headers: { authorization: `Bearer ${k}` } })).status).toBe(401);
      expect(text(await s.call('list_secret_names', { config: 'prd' }))).toContain(
        'refused: instance doppler.prod is suspended',
      );
      expect((await runCli(['resume', 'doppler.prod', '--scopes', scopes], { env })).code).toBe(0);
      await sleep(SUSPENSION_CACHE_MS + 50);
      const back = await s.call('list_secret_names', { config: 'prd' });
      expect(back.isError, text(back)).toBeFalsy();
      expect(
        minted()
          .map((g) => g.slug)
          .filter((x) => before.some((b) => b.slug === x)),
      ).toEqual([]);
      expect(minted()).toHaveLength(2);
      const creds = auditRecords(s.auditFile)
        .filter((r) => r.phase === 'credential')
        .map((r) => `${r.action}${r.reason ? ` (${String(r.reason).split(':')[0]})` : ''}`);
      expect(creds).toEqual(['mint', 'revoke (suspended)', 'mint (resumed)']);
    } finally {
      await s.close();
      await sb.close();
      await slack.close();
    }
  }, 60_000);
});
