// Signed checkpoints end to end, and the tamper corpus of `fleet audit verify` through the CLI:
// each alteration with its exact verdict and exit code, with and without checkpoints. A server with
// a signing key (FLEET_CHECKPOINT_KEY) writes checkpoints every 3 records and at shutdown to a file
// outside its trail's folder; the key must match fleet.yaml's public key and never sit beside the
// trail.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { genesis, seal } from '../../shared/audit/chain.js';
import { runCli, SCOPES, serve, tempDir, text } from '../helpers.js';

const until = async <T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

let scopes: string;
let keyFile: string;
let cpFile: string;
let trail: string;
let pristine: string;
let notes: string;

const verify = (file: string, ...extra: string[]) => runCli(['audit', 'verify', file, '--scopes', scopes, ...extra]);
const withCp = (file: string) => verify(file, '--checkpoints', cpFile);
const lines = (t: string) => t.split('\n').filter(Boolean);
function rechain(ls: string[], instance: string): string {
  let head = { seq: 0, hash: genesis(instance) };
  return ls
    .map((l) => {
      const r = JSON.parse(l);
      const s = seal(r, head.seq + 1, head.hash);
      head = { seq: head.seq + 1, hash: s.hash };
      return s.line;
    })
    .join('');
}
/** a copy of the trail, altered, under the same instance's name */
function altered(alter: (text: string) => string, name = 'slack.dev.jsonl'): string {
  const file = join(tempDir('fleet-tamper-'), name);
  writeFileSync(file, alter(pristine));
  return file;
}

beforeAll(async () => {
  const root = tempDir('fleet-cp-');
  scopes = join(root, 'scopes');
  cpSync(SCOPES, scopes, { recursive: true });
  keyFile = join(tempDir('fleet-key-'), 'checkpoint.pem');
  const kg = await runCli(['audit', 'keygen', keyFile, '--name', 'fleet-test']);
  expect(kg.code, kg.stdout + kg.stderr).toBe(0);
  const block = kg.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .replace('every: 1000', 'every: 3');
  writeFileSync(
    join(scopes, 'fleet.yaml'),
    `${readFileSync(join(scopes, 'fleet.yaml'), 'utf8').replace(/\ncheckpoints:[\s\S]*$/, '\n')}\n${block}\n`,
  );
  cpFile = join(tempDir('fleet-cpout-'), 'checkpoints.txt');
  const s = await serve({
    connector: 'slack',
    env: 'dev',
    sandbox: true,
    scopes,
    vars: { FLEET_CHECKPOINT_KEY: keyFile, FLEET_CHECKPOINT_FILE: cpFile },
  });
  trail = s.auditFile;
  for (let i = 0; i < 4; i++) expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
  await s.call('post_message', { channel: 'C0DEVGENERAL', text: 'denied' });
  await s.close();
  // 4 calls × (intent + outcome) + 1 denial = 9 records: checkpoints at 3, 6, 9 (the last at shutdown or on the count)
  pristine = await until('the shutdown checkpoint', () => {
    const t = readFileSync(trail, 'utf8');
    const n = lines(t).length;
    try {
      return readFileSync(cpFile, 'utf8').includes(`fleet-audit/slack.dev\n${n}\n`) ? t : undefined;
    } catch {
      return undefined;
    }
  });
  notes = readFileSync(cpFile, 'utf8');
}, 60_000);

describe('signed checkpoints', () => {
  it('are signed notes of origin, length and head hash, every 3 records and at shutdown', () => {
    const heads = lines(pristine).map((l) => JSON.parse(l));
    expect(heads.length).toBe(9);
    const note = notes.split(/\n\n(?=fleet-audit\/)/)[0]!;
    expect(note).toMatch(
      /^fleet-audit\/slack\.dev\n3\n[0-9a-f]{64}\n\d{4}-\d\d-\d\dT[\d:.]+Z\n\n— fleet-test [A-Za-z0-9+/=]{92}\n?$/,
    );
    expect(note.split('\n')[2]).toBe(heads[2].hash);
    expect(notes).toContain(`fleet-audit/slack.dev\n9\n${heads[8].hash}\n`);
  });

  it('verify matches the intact trail with them: exit 0', async () => {
    const r = await withCp(trail);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(
      /chain intact, 9 records of slack\.dev; .*3 checkpoint\(s\) matched, the newest at record 9/,
    );
  });

  // [alteration, verdict without checkpoints, exit, verdict with checkpoints, exit]
  const corpus: [string, () => string, RegExp, number, RegExp, number][] = [
    [
      'the tail cut off (3 records)',
      () => altered((t) => `${lines(t).slice(0, 6).join('\n')}\n`),
      /chain intact, 6 records/,
      0,
      /:7: TAMPERED \(truncated\): the trail ends at record 6 but a signed checkpoint says it had reached record 9/,
      1,
    ],
    [
      'the file emptied',
      () => altered(() => ''),
      /:1: TAMPERED \(empty\)/,
      1,
      /:1: TAMPERED \(truncated\): the trail ends at record 0/,
      1,
    ],
    [
      'a record removed and the rest re-chained',
      () =>
        altered((t) => {
          const ls = lines(t);
          ls.splice(4, 1);
          return rechain(ls, 'slack.dev');
        }),
      /chain intact, 8 records/,
      0,
      /:6: TAMPERED \(rewritten\): record 6 at line 6 disagrees with a signed checkpoint/,
      1,
    ],
    [
      'a record edited and re-chained',
      () =>
        altered((t) =>
          rechain(
            lines(t).map((l, i) => (i === 1 ? l.replace('"outcome":"ok"', '"outcome":"error"') : l)),
            'slack.dev',
          ),
        ),
      /chain intact, 9 records/,
      0,
      /:3: TAMPERED \(rewritten\): record 3/,
      1,
    ],
    [
      'a record edited in place',
      () => altered((t) => t.replace('"decision":"deny"', '"decision":"allow"')),
      /:9: TAMPERED \(modified\)/,
      1,
      /:9: TAMPERED \(modified\)/,
      1,
    ],
    [
      'a well-formed record inserted mid-trail',
      () =>
        altered((t) => {
          const ls = lines(t);
          ls.splice(3, 0, JSON.stringify({ v: 1, call: 'forged', phase: 'decision', decision: 'allow' }));
          return `${ls.join('\n')}\n`;
        }),
      /:4: TAMPERED \(malformed\)/,
      1,
      /:4: TAMPERED \(malformed\)/,
      1,
    ],
    [
      'the last line torn',
      () => altered((t) => t.slice(0, -30)),
      /:9: interrupted write[\s\S]*chain intact, 8 records/,
      0,
      /:10: TAMPERED \(truncated\): the trail ends at record 8/,
      1,
    ],
    // whose trail it is comes from its records, not the file's name (an export may be called anything)
    [
      "slack.dev's trail under slack.prod's name",
      () => altered((t) => t, 'slack.prod.jsonl'),
      /chain intact, 9 records of slack\.dev/,
      0,
      /chain intact, 9 records of slack\.dev; .*3 checkpoint\(s\) matched/,
      0,
    ],
    [
      "slack.dev's trail under any name",
      () => altered((t) => t, 'export-2026-12-07.jsonl'),
      /chain intact, 9 records of slack\.dev/,
      0,
      /chain intact, 9 records of slack\.dev; .*3 checkpoint\(s\) matched/,
      0,
    ],
    [
      "slack.dev's trail replaced by another valid chain of slack.dev",
      () =>
        altered((t) =>
          rechain(
            [...lines(t), ...lines(t)].map((l) => l.replace('U0DEVALICE', 'U0DEVBOB')),
            'slack.dev',
          ),
        ),
      /chain intact, 18 records/,
      0,
      /:3: TAMPERED \(rewritten\)/,
      1,
    ],
  ];
  it.each(corpus)('%s', async (_what, make, without, codeWithout, withCheckpoints, codeWith) => {
    const file = make();
    const a = await verify(file);
    expect(a.stdout).toMatch(without);
    expect(a.code, a.stdout).toBe(codeWithout);
    const b = await withCp(file);
    expect(b.stdout).toMatch(withCheckpoints);
    expect(b.code, b.stdout).toBe(codeWith);
  });

  it("--instance asserts whose trail it is: another instance's is TAMPERED (foreign)", async () => {
    const file = altered((t) => t, 'export.jsonl');
    const r = await verify(file, '--instance', 'slack.prod');
    expect(r.stdout).toMatch(/:1: TAMPERED \(foreign\): line 1 is a record of instance "slack\.dev", not slack\.prod/);
    expect(r.code).toBe(1);
    expect((await verify(file, '--instance', 'slack.dev')).code).toBe(0);
  });

  it('refuses a checkpoint file with a forged or altered note: exit 1', async () => {
    const forged = join(tempDir(), 'forged.txt');
    writeFileSync(forged, notes.replace('fleet-audit/slack.dev\n9\n', 'fleet-audit/slack.dev\n8\n'));
    const r = await verify(trail, '--checkpoints', forged);
    expect(r.stdout).toMatch(
      /TAMPERED \(checkpoints\): .*forged\.txt:\d+: checkpoint no signature verifies with the checkpoint key fleet-test named in fleet.yaml: forged or altered/,
    );
    expect(r.code).toBe(1);
  });

  it('cannot be checked without a readable trail: exit 2', async () => {
    const r = await verify(join(tempDir(), 'slack.dev.jsonl'));
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/cannot read: ENOENT/);
  });

  it('keygen --scopes: a pair of your own, its public half in fleet.yaml (nothing else changed), and the shipped manifests sign and verify with it', async () => {
    const mine = join(tempDir('fleet-kg-'), 'scopes');
    cpSync(SCOPES, mine, { recursive: true });
    const before = readFileSync(join(mine, 'fleet.yaml'), 'utf8');
    const key = join(tempDir('fleet-key-'), 'mine.pem');
    const inside = await runCli(['audit', 'keygen', join(mine, 'mine.pem'), '--scopes', mine]);
    expect(inside.stdout).toContain('is inside the scopes folder');
    expect(inside.code).toBe(2);
    expect(existsSync(join(mine, 'mine.pem'))).toBe(false);
    const kg = await runCli(['audit', 'keygen', key, '--name', 'ours', '--scopes', mine]);
    expect(kg.code, kg.stdout).toBe(0);
    const after = readFileSync(join(mine, 'fleet.yaml'), 'utf8');
    const pub = /key: \{ name: ours, public: (\S+) \}/.exec(after)![1]!;
    expect(after).toBe(
      before.replace(/key: \{ name: fleet-audit, public: \S+ \}/, `key: { name: ours, public: ${pub} }`),
    );
    const notes = join(tempDir('fleet-cpout-'), 'mine.txt');
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      scopes: mine,
      vars: { FLEET_CHECKPOINT_KEY: key, FLEET_CHECKPOINT_FILE: notes },
    });
    expect(text(await s.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
    await s.close();
    await until(
      'the shutdown checkpoint',
      () => (existsSync(notes) && readFileSync(notes, 'utf8').includes('fleet-audit/slack.dev\n2\n')) || undefined,
    );
    const v = await runCli(['audit', 'verify', s.auditFile, '--scopes', mine, '--checkpoints', notes]);
    expect(v.stdout).toMatch(/chain intact, 2 records of slack\.dev; .*1 checkpoint\(s\) matched/);
    expect(v.code).toBe(0);
  }, 40_000);

  it('refuses to start with the signing key beside the trail, or a key fleet.yaml does not name', async () => {
    const auditDir = tempDir('fleet-audit-');
    const beside = join(auditDir, 'key.pem');
    writeFileSync(beside, readFileSync(keyFile));
    const env = { FLEET_AUDIT_DIR: auditDir, FLEET_CHECKPOINT_KEY: beside, FLEET_CHECKPOINT_FILE: cpFile };
    const a = await runCli(['serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', scopes], {
      env,
      keepStdin: true,
      timeoutMs: 10_000,
    });
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/the checkpoint signing key .*key\.pem is in the audit trail's folder/);
    const other = join(tempDir('fleet-key-'), 'other.pem');
    expect((await runCli(['audit', 'keygen', other])).code).toBe(0);
    const b = await runCli(['serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', scopes], {
      env: { ...env, FLEET_CHECKPOINT_KEY: other },
      keepStdin: true,
      timeoutMs: 10_000,
    });
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/does not match the public key fleet-test/);
    const c = await runCli(['serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', scopes], {
      env: { ...env, FLEET_CHECKPOINT_KEY: keyFile, FLEET_CHECKPOINT_FILE: join(auditDir, 'cp.txt') },
      keepStdin: true,
      timeoutMs: 10_000,
    });
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/the checkpoint file .*cp\.txt is in the audit trail's folder/);
  }, 40_000);
});
