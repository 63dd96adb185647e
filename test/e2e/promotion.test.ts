// Proof before promotion: a production deploy_worker whose grant says
// `promotion: { from: cloudflare.dev, within, smoke }` runs only when the dev instance's verified
// trail shows the same source and binding shape deployed there and a passing smoke check after it.
// The real CLI over stdio for three instances sharing one audit folder; the sandbox serves the
// deployed Workers' routes.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, IDS } from '../../servers/cloudflare/sandbox/seed.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { askedInSlack, auditRecords, runCli, SCOPES, serve, tempDir, text, type Served } from '../helpers.js';
import { findEvidence } from '../../shared/call/promotion.js';
import { deployWorker } from '../../servers/cloudflare/tools/workers.js';
import { auditKeygen } from '../../servers/fleet/commands/audit.js';
import { readAnchors } from '../../shared/audit/anchors.js';
import { seal } from '../../shared/audit/chain.js';

const DEV_PERMS = [
  'Workers Scripts Read',
  'Workers Scripts Write',
  'Workers KV Storage Read',
  'Workers KV Storage Write',
  'Workers R2 Storage Read',
  'Workers R2 Storage Write',
  'D1 Read',
  'D1 Write',
  'Zone Read',
  'DNS Read',
  'DNS Write',
  'Account API Tokens Read',
];

let sb: CloudflareSandbox;
let scopes: string;
let auditDir: string;
let dev: Served;
let devB: Served;
let prod: Served;
let stale: Served;

/**
 * The shipped scopes, plus: prod may deploy blogbot with evidence from cloudflare.dev; a second dev
 * instance; a prod with a 1s window; a checkpoint key of the test's own (evidence must be covered
 * by a signed checkpoint, which each instance writes to one file outside the trails' folder).
 */
let checkpoints: { FLEET_CHECKPOINT_KEY: string; FLEET_CHECKPOINT_FILE: string };
function promotionScopes(): string {
  const dir = join(tempDir('fleet-promo-'), 'scopes');
  cpSync(SCOPES, dir, { recursive: true });
  const keys = tempDir('fleet-promo-key-');
  checkpoints = {
    FLEET_CHECKPOINT_KEY: join(keys, 'checkpoint.pem'),
    FLEET_CHECKPOINT_FILE: join(keys, 'checkpoints.txt'),
  };
  expect(auditKeygen(checkpoints.FLEET_CHECKPOINT_KEY, 'fleet-promo', () => {}, dir)).toBe(0);
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(fleet, readFileSync(fleet, 'utf8').replace(/\n {2}slack: \{ reader: [^\n]*\}\n/, '\n'));
  const prodFile = join(dir, 'cloudflare.prod.yaml');
  const grant = `  deploy_worker:\n    scripts: [blogbot]\n    namespaces: [${IDS.prodKv}]\n    promotion: { from: cloudflare.dev, within: 1h }\n`;
  const prodText = readFileSync(prodFile, 'utf8').replace(/^tools:\n/m, `tools:\n${grant}`);
  writeFileSync(prodFile, prodText);
  writeFileSync(
    join(dir, 'cloudflare.prod-stale.yaml'),
    prodText
      .replace('instance: prod', 'instance: prod-stale')
      .replace('within: 1h', 'within: 1s')
      .replace('CLOUDFLARE_BROKER_TOKEN_PROD', 'CLOUDFLARE_BROKER_TOKEN_PROD_STALE'),
  );
  const devText = readFileSync(join(dir, 'cloudflare.dev.yaml'), 'utf8');
  writeFileSync(
    join(dir, 'cloudflare.dev-b.yaml'),
    devText
      .replace('instance: dev', 'instance: dev-b')
      .replace('CLOUDFLARE_API_TOKEN_DEV', 'CLOUDFLARE_API_TOKEN_DEV_B'),
  );
  return dir;
}

const broker = () => sb.issue(ACCOUNT, ['Account API Tokens Write'], { name: 'fleet broker' });
/** the production instances prove their actor by the Slack message that asked (read by the approvals identity) */
let slack: SlackSandbox;
const actorFor = (env: string) => (env.startsWith('prod') ? askedInSlack(slack) : { FLEET_ACTOR: 'erin@example.com' });
const start = (env: string, vars: Record<string, string>) =>
  serve({
    connector: 'cloudflare',
    env,
    scopes,
    upstream: sb.url,
    auditDir,
    vars: { ...actorFor(env), ...checkpoints, ...vars },
  });
const source = (marker: string) =>
  `export default { async fetch(req, env) { return new Response("ok ${marker}"); } };\n`;
const devDeploy = (s: Served, src: string, name = 'blogbot-dev') =>
  s.call('deploy_worker', { name, source: src, bindings: [{ name: 'CACHE', type: 'kv_namespace', value: IDS.devKv }] });
const prodDeploy = (src: string, s = prod) =>
  s.call('deploy_worker', {
    name: 'blogbot',
    source: src,
    bindings: [{ name: 'CACHE', type: 'kv_namespace', value: IDS.prodKv }],
  });
const p1h = { from: 'cloudflare.dev', within: '1h', smoke: true };
/** the signed checkpoints of an instance in the test's checkpoint file */
const readAnchorsOf = (id: string) => {
  const a = readAnchors(checkpoints.FLEET_CHECKPOINT_FILE, id, join(scopes, 'fleet.yaml'));
  if (a.problem) throw new Error(a.problem);
  return a.anchors;
};
const lastDecision = (s: Served) =>
  auditRecords(s.auditFile)
    .filter((r) => r.phase === 'decision' || r.phase === 'intent')
    .at(-1)!;

beforeAll(async () => {
  sb = await startCloudflareSandbox();
  slack = await startSlackSandbox();
  scopes = promotionScopes();
  auditDir = tempDir('fleet-audit-');
  [dev, devB, prod, stale] = await Promise.all([
    start('dev', { CLOUDFLARE_API_TOKEN_DEV: sb.issue(ACCOUNT, DEV_PERMS) }),
    start('dev-b', { CLOUDFLARE_API_TOKEN_DEV_B: sb.issue(ACCOUNT, DEV_PERMS) }),
    // production as shipped: each mints its token from a broker that may only create and delete tokens
    start('prod', { CLOUDFLARE_BROKER_TOKEN_PROD: broker() }),
    start('prod-stale', { CLOUDFLARE_BROKER_TOKEN_PROD_STALE: broker() }),
  ]);
});
afterAll(async () => {
  await Promise.all([dev?.close(), devB?.close(), prod?.close(), stale?.close()]);
  await Promise.all([sb.close(), slack?.close()]);
});

describe('proof before promotion', () => {
  it('promotes a script the dev instance deployed and smoke-checked, citing the evidence', async () => {
    const src = source('v1');
    expect((await devDeploy(dev, src)).isError).toBeFalsy();
    const check = await dev.call('smoke_check_worker', { name: 'blogbot-dev' });
    expect(check.structuredContent).toMatchObject({ passed: true, status: 200 });
    const r = await prodDeploy(src);
    expect(r.isError, text(r)).toBeFalsy();
    expect(sb.account(ACCOUNT).scripts.get('blogbot')!.modules['worker.js']!.content).toBe(src);
    const intent = auditRecords(prod.auditFile)
      .filter((x) => x.phase === 'intent')
      .at(-1)!;
    const devTrail = auditRecords(dev.auditFile);
    const deployRec = devTrail.filter((x) => x.tool === 'deploy_worker' && x.phase === 'outcome').at(-1)!;
    const smokeRec = devTrail.filter((x) => x.tool === 'smoke_check_worker' && x.phase === 'outcome').at(-1)!;
    expect(intent.evidence_from).toEqual([
      { instance: 'cloudflare.dev', seq: deployRec.seq, hash: expect.stringMatching(/^[0-9a-f]{64}$/), what: 'deploy' },
      { instance: 'cloudflare.dev', seq: smokeRec.seq, hash: expect.stringMatching(/^[0-9a-f]{64}$/), what: 'smoke' },
    ]);
    expect(smokeRec.evidence).toMatchObject({
      check: 'smoke',
      passed: true,
      content_sha256: deployRec.evidence.content_sha256,
    });
    const shown = await runCli(['audit', 'show', prod.auditFile, '--tool', 'deploy_worker']);
    expect(shown.stdout).toContain(`evidence deploy cloudflare.dev#${deployRec.seq} `);
    expect(shown.stdout).toContain(`smoke cloudflare.dev#${smokeRec.seq} `);
  });

  it('checks the dev trail against its signed checkpoints where they are kept', async () => {
    const src = source('v1');
    const args = {
      name: 'blogbot',
      source: src,
      bindings: [{ name: 'CACHE', type: 'kv_namespace', value: IDS.prodKv }],
    };
    const p = { from: 'cloudflare.dev', within: '1h', smoke: true };
    // without checkpoints nothing shows the dev instance wrote its evidence
    expect(await findEvidence(deployWorker, args, p, dev.auditFile)).toMatchObject({
      ok: false,
      missing: expect.stringMatching(
        /^unproven evidence: no signed checkpoint of cloudflare\.dev covers its deploy_worker/,
      ),
    });
    const head = auditRecords(dev.auditFile).at(-1)!;
    // a checkpoint that agrees, one the trail disagrees with, one past its end, and an untrusted source
    const hash = head.hash as string;
    expect(await findEvidence(deployWorker, args, p, dev.auditFile, () => new Map([[head.seq, hash]]))).toMatchObject({
      ok: true,
    });
    expect(
      await findEvidence(deployWorker, args, p, dev.auditFile, () => new Map([[head.seq, 'f'.repeat(64)]])),
    ).toMatchObject({ ok: false, missing: expect.stringMatching(/does not verify/) });
    expect(
      await findEvidence(deployWorker, args, p, dev.auditFile, () => new Map([[head.seq + 5, 'f'.repeat(64)]])),
    ).toMatchObject({ ok: false, missing: expect.stringMatching(/does not verify/) });
    const untrusted = () => {
      throw new Error('checkpoints.txt:3: checkpoint signature does not verify');
    };
    expect(await findEvidence(deployWorker, args, p, dev.auditFile, untrusted)).toMatchObject({
      ok: false,
      missing: expect.stringMatching(/checkpoints of cloudflare\.dev cannot be trusted/),
    });
  });

  it('denies sealed, chained evidence appended after the newest checkpoint, and an unsealed torn line', async () => {
    const src = source('forged');
    const args = {
      name: 'blogbot',
      source: src,
      bindings: [{ name: 'CACHE', type: 'kv_namespace' as const, value: IDS.prodKv }],
    };
    const want = deployWorker.evidence!(args);
    const trail = auditRecords(dev.auditFile);
    const last = trail.at(-1)!;
    const base = { v: 1, time: new Date().toISOString(), instance: 'cloudflare.dev', phase: 'outcome', outcome: 'ok' };
    const deploy = seal(
      { ...base, call: 'forged-deploy', tool: 'deploy_worker', evidence: want },
      last.seq + 1,
      last.hash,
    );
    const smoke = seal(
      {
        ...base,
        call: 'forged-smoke',
        tool: 'smoke_check_worker',
        evidence: { ...want, check: 'smoke', passed: true },
      },
      last.seq + 2,
      deploy.hash,
    );
    const copy = join(tempDir('fleet-forged-'), 'cloudflare.dev.jsonl');
    const pristine = readFileSync(dev.auditFile, 'utf8');
    const anchors = () => readAnchorsOf('cloudflare.dev');
    writeFileSync(copy, pristine + deploy.line + smoke.line);
    expect(await findEvidence(deployWorker, args, p1h, copy, anchors)).toMatchObject({
      ok: false,
      missing: expect.stringMatching(
        /^unproven evidence: the deploy_worker in cloudflare\.dev \(seq \d+\) comes after its newest signed checkpoint/,
      ),
    });
    // the forged pair as one torn, unterminated last line after a genuine deploy: still not a smoke check
    writeFileSync(copy, pristine + deploy.line + smoke.line.slice(0, -1));
    expect(await findEvidence(deployWorker, args, p1h, copy, anchors)).toMatchObject({ ok: false });
    const r = await prodDeploy(src);
    expect(text(r)).toMatch(/denied: no evidence: cloudflare\.dev never ran deploy_worker with this exact content/);
  });

  it('denies a script that differs by one byte, naming the digests', async () => {
    const src = source('v2');
    await devDeploy(dev, src);
    await dev.call('smoke_check_worker', { name: 'blogbot-dev' });
    const r = await prodDeploy(`${src} `);
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(
      /denied: no evidence: cloudflare\.dev never ran deploy_worker with this exact content \(content sha256 [0-9a-f]{12}…, bindings sha256 [0-9a-f]{12}…\); its last deploy_worker \(seq \d+\) had content sha256 .*\(.*cloudflare\.prod\.yaml:\d+\)/,
    );
    expect(lastDecision(prod)).toMatchObject({
      phase: 'decision',
      decision: 'deny',
      rule: 'tools.deploy_worker.promotion',
    });
  });

  it('denies a deployment whose smoke check failed, or was never run', async () => {
    const src = source('v3');
    await devDeploy(dev, src);
    const none = await prodDeploy(src);
    expect(text(none)).toMatch(
      /denied: no smoke check: cloudflare\.dev has no smoke check of that deployment after it/,
    );
    sb.emulator.inject({ route: 'worker.fetch', status: 500 });
    const check = await dev.call('smoke_check_worker', { name: 'blogbot-dev' });
    expect(check.structuredContent).toMatchObject({ passed: false, status: 500 });
    const r = await prodDeploy(src);
    expect(text(r)).toMatch(
      /denied: failed smoke check: the last smoke check of that deployment in cloudflare\.dev \(seq \d+\) failed \(status 500, expected 200\)/,
    );
  });

  it('denies evidence older than the window', async () => {
    const src = source('v4');
    await devDeploy(dev, src);
    await dev.call('smoke_check_worker', { name: 'blogbot-dev' });
    // prod-stale accepts evidence from the last second only: wait until the deploy is older than that
    const deployedAt = Date.parse(
      auditRecords(dev.auditFile)
        .filter((x) => x.tool === 'deploy_worker' && x.phase === 'outcome')
        .at(-1)!.time,
    );
    await expect.poll(() => Date.now() - deployedAt > 1100, { timeout: 5000, interval: 100 }).toBe(true);
    const r = await prodDeploy(src, stale);
    expect(text(r)).toMatch(
      /denied: stale evidence: the matching deploy_worker in cloudflare\.dev \(seq \d+, .*\) is older than the 1s window/,
    );
    expect((await prodDeploy(src)).isError).toBeFalsy(); // the 1h window still takes it
  });

  it('denies evidence from another dev instance', async () => {
    const src = source('v5');
    expect((await devDeploy(devB, src)).isError).toBeFalsy();
    expect((await devB.call('smoke_check_worker', { name: 'blogbot-dev' })).structuredContent).toMatchObject({
      passed: true,
    });
    const r = await prodDeploy(src);
    expect(text(r)).toMatch(/denied: no evidence: cloudflare\.dev never ran deploy_worker with this exact content/);
  });

  it('denies everything once the dev trail was tampered with, and fleet diff calls dropping the requirement an escalation', async () => {
    const src = source('v6');
    await devDeploy(dev, src);
    await dev.call('smoke_check_worker', { name: 'blogbot-dev' });
    const file = dev.auditFile;
    const lines = readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"tool":"list_workers"') || l.includes('"phase":"decision"'));
    lines[Math.max(i, 0)] = lines[Math.max(i, 0)]!.replace('"v":1', '"v":2');
    writeFileSync(file, lines.join('\n'));
    const r = await prodDeploy(src);
    expect(text(r)).toMatch(
      /denied: the audit trail of cloudflare\.dev does not verify \(line \d+: .*\), so its evidence is not trusted/,
    );

    const head = join(tempDir('fleet-promo-diff-'), 'scopes');
    cpSync(scopes, head, { recursive: true });
    const f = join(head, 'cloudflare.prod.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('    promotion: { from: cloudflare.dev, within: 1h }\n', ''));
    const d = await runCli(['diff', scopes, head]);
    expect(d.stdout).toMatch(
      /escalation.*deploy_worker: no longer needs evidence from cloudflare\.dev \(promotion requirement removed\)/is,
    );
  });
});

describe('fleet demo --promotion', () => {
  it('walks a dev deploy, its smoke check and the promotion, and shows the cited evidence', async () => {
    const r = await runCli(['demo', '--promotion'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/denied: no smoke check: cloudflare\.dev has no smoke check/);
    expect(r.stdout).toMatch(/PASSED: GET .*\/__workers\/blogbot-dev\/ answered 200/);
    expect(r.stdout).toMatch(
      /allow +ok +evidence deploy cloudflare\.dev#\d+ [0-9a-f]{12}, smoke cloudflare\.dev#\d+ [0-9a-f]{12}/,
    );
    expect(r.stdout).not.toMatch(/TAMPERED/);
  }, 90_000);
});
