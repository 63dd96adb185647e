// Instance.revokeCredential: the hook suspension calls to kill an instance's minted token at once.
// It has no command of its own, so this builds the instance in process with `composeInstance` (what
// `fleet serve` runs), against the Cloudflare sandbox over loopback: the sandbox says what is left.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT } from '../../servers/cloudflare/sandbox/seed.js';
import { composeInstance, type Running } from '../../servers/fleet/compose/instance.js';
import { auditRecords, SCOPES, tempDir, waitFor } from '../helpers.js';

let sb: CloudflareSandbox;
let running: Running | undefined;
const saved = { ...process.env };
const minted = () => sb.registry.all().filter((g) => g.name.startsWith('fleet cloudflare.prod '));

beforeAll(async () => {
  sb = await startCloudflareSandbox();
});
afterEach(async () => {
  await running?.close('test over');
  process.env = { ...saved };
});
afterAll(() => sb.close());

describe('Instance.revokeCredential', () => {
  it('deletes the minted token now, with the reason on the record; closing later revokes nothing twice', async () => {
    const audit = tempDir('fleet-audit-');
    Object.assign(process.env, {
      FLEET_AUDIT_DIR: audit,
      FLEET_STATE_DIR: tempDir('fleet-state-'),
      CLOUDFLARE_BROKER_TOKEN_PROD: sb.issue(ACCOUNT, ['Account API Tokens Write'], { name: 'fleet broker' }),
    });
    running = await composeInstance({ connector: 'cloudflare', env: 'prod', scopes: SCOPES, upstream: sb.url });
    let failed: Error | undefined;
    running.openNow((e) => (failed = e));
    await waitFor(() => minted().length === 1 || failed);
    expect(failed).toBeUndefined();
    await running.inst.revokeCredential!('suspended: test');
    expect(minted()).toEqual([]);
    const records = auditRecords(`${audit}/cloudflare.prod.jsonl`).filter((r) => r.phase === 'credential');
    expect(records.map((r) => [r.action, r.reason ?? null, r.outcome])).toEqual([
      ['mint', null, 'ok'],
      ['revoke', 'suspended: test', 'ok'],
    ]);
    // closing afterwards revokes nothing twice
    await running.close('exit');
    running = undefined;
    expect(auditRecords(`${audit}/cloudflare.prod.jsonl`).filter((r) => r.phase === 'credential')).toHaveLength(2);
  });

  it('is a no-op for a standing credential', async () => {
    Object.assign(process.env, {
      FLEET_AUDIT_DIR: tempDir('fleet-audit-'),
      FLEET_STATE_DIR: tempDir('fleet-state-'),
      CLOUDFLARE_API_TOKEN_DEV: sb.issue(ACCOUNT, ['Workers Scripts Read']),
    });
    running = await composeInstance({ connector: 'cloudflare', env: 'dev', scopes: SCOPES, upstream: sb.url });
    await expect(running.inst.revokeCredential!('suspended')).resolves.toBeUndefined();
  });
});
