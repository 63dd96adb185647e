// Near-miss identities on every surface that names a person or a client (./identity-surfaces.ts):
// fast-check mutates the names each surface knows (case, look-alike letters, invisible, bidi and
// control characters, whitespace, separators, truncation, extension, normal forms) and offers each
// near miss where the name is read — through the built CLI for commands and environment variables,
// through a served instance for calls, through verify's code for reviewed files. A reference (a
// name that must be someone known) is refused, and nothing changed; a claim (who a caller says
// they are) is refused or taken for someone else, never for the name it imitates. A census of the
// source first checks that every place reading such a name is a surface of the list.
// FLEET_IDENTITY_SEED replays a run; FLEET_FUZZ_RUNS scales it.
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonical, sameId } from '../../shared/base/identity.js';
import { auditRecords, ROOT, runCli, SCOPES, serve, tempDir, type Served } from '../helpers.js';
import { runs } from './instances.js';
import { nearMiss } from './near-miss.js';
import {
  CENSUS,
  DEFINITIONS,
  SURFACES,
  UPSTREAM_NAMES,
  verifyEdited,
  type Outcome,
  type Surface,
} from './identity-surfaces.js';

const SEED = Number(process.env.FLEET_IDENTITY_SEED) || Date.now() % 2 ** 31;
const RUNS = { spawn: runs(5), call: runs(30), 'in-process': runs(40) };
const KNOWN = [
  'U0EDITOR1',
  'U0EDITOR2',
  'U0WRITER1',
  'U0WRITER2',
  'U0DEVALICE',
  'U0DEVBOB',
  'erin@example.com',
  'sam@example.com',
  'wes@example.com',
  'kim@example.com',
  'alice@example.com',
  'bob@example.com',
  'bot-publish',
  'bot-staging',
  'bot-moderation',
  'local',
  'claude-dev',
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'sandbox' || f === 'node_modules' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('census: every place the source reads a person or client name is a surface of the list', () => {
  const claims = [...SURFACES, ...UPSTREAM_NAMES, ...DEFINITIONS].flatMap((s) =>
    s.reads.map((r) => ({ name: s.name, ...r })),
  );
  const lines = ['shared', 'servers', 'client']
    .flatMap((d) => sources(join(ROOT, d)))
    .flatMap((file) => {
      const rel = relative(ROOT, file);
      return readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ rel, at: `${rel}:${i + 1}`, line }));
    });

  it('no line reads a name that no surface covers', () => {
    const strays = lines
      .filter(({ line }) => !/^\s*(\/\/|\*|\/\*)/.test(line) && CENSUS.some((p) => p.test(line)))
      .filter(({ rel, line }) => !claims.some((c) => c.pattern.test(line) && c.under.some((u) => rel.startsWith(u))))
      .map(({ at, line }) => `${at}: ${line.trim().slice(0, 120)}`);
    expect(strays, 'add each to test/hardening/identity-surfaces.ts, with how the suite offers it near misses').toEqual(
      [],
    );
  });

  it('every surface still reads where the list says (the list is not stale)', () => {
    const stale = claims
      .filter((c) => !lines.some(({ rel, line }) => c.pattern.test(line) && c.under.some((u) => rel.startsWith(u))))
      .map((c) => `${c.name}: ${c.pattern}`);
    expect(stale).toEqual([]);
  });
});

// ---- how each surface is offered a value ---------------------------------------------------------

let dev: Served;
let oidc: Served;
let oidcKey: CryptoKey;
const scopes = join(tempDir('fleet-id-scopes-'), 'scopes');

beforeAll(async () => {
  cpSync(SCOPES, scopes, { recursive: true });
  // a dev instance whose actors are asserted, and one that proves them by oidc
  dev = await serve({ connector: 'slack', env: 'dev', sandbox: true });
  const pair = await generateKeyPair('ES256');
  oidcKey = pair.privateKey;
  const oidcScopes = tempDir('fleet-id-oidc-');
  cpSync(SCOPES, oidcScopes, { recursive: true });
  writeFileSync(
    join(oidcScopes, 'jwks.json'),
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }),
  );
  const devYaml = join(oidcScopes, 'slack.dev.yaml');
  writeFileSync(
    devYaml,
    readFileSync(devYaml, 'utf8').replace(
      'attribution: optional',
      "attribution: { required: true, proof: oidc, issuer: 'https://id.fleet.test', jwks: 'file:jwks.json', max_age: 10m }",
    ),
  );
  oidc = await serve({ connector: 'slack', env: 'dev', sandbox: true, scopes: oidcScopes });
}, 60_000);
afterAll(async () => {
  await dev?.close();
  await oidc?.close();
});

const q = (v: string) => JSON.stringify(v);
const cliEnv = () => ({ FLEET_STATE_DIR: tempDir('fleet-id-state-'), FLEET_AUDIT_DIR: tempDir('fleet-id-audit-') });
const lastIntent = (s: Served) =>
  auditRecords(s.auditFile)
    .filter((r) => r.phase === 'intent')
    .at(-1);
const fileRefuses = (file: string, edit: (t: string) => string): Outcome =>
  verifyEdited(scopes, file, edit).errors.length ? { refused: true } : { refused: false };
const exception = (owner: string, approver: string) => (t: string) =>
  `${t}exceptions:\n  - id: near-miss\n    tool: get_permalink\n    grant: { channels: [C0DEVGENERAL] }\n    owner: ${q(owner)}\n    reason: a generated case\n    approver: ${q(approver)}\n    expires: ${new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 19)}Z\n`;

/** A trail naming U0DEVALICE (written by the dev instance), for audit show --actor. */
let trail: string;

const OFFER: Record<string, (value: string, seed: string) => Promise<Outcome>> = {
  "manifest: a grant's approval.approvers": async (v, seed) =>
    fileRefuses('slack.prod.yaml', (t) =>
      t.replace(
        /approvers: \[U0EDITOR1, U0EDITOR2\]/,
        `approvers: [${seed === 'U0EDITOR1' ? `${q(v)}, U0EDITOR2` : `U0EDITOR1, ${q(v)}`}]`,
      ),
    ),
  "manifest: an exception's owner": async (v, seed) =>
    fileRefuses('slack.dev.yaml', exception(v, seed.includes('@') ? 'bob@example.com' : 'U0DEVBOB')),
  "manifest: an exception's approver": async (v, seed) =>
    fileRefuses('slack.dev.yaml', exception(seed.includes('@') ? 'alice@example.com' : 'U0DEVALICE', v)),
  'fleet suspend client:NAME': async (v) => {
    const env = cliEnv();
    const r = await runCli(['suspend', `client:${v}`, '--reason', 'generated case', '--scopes', scopes], { env });
    const wrote = readdirSync(env.FLEET_AUDIT_DIR).length > 0;
    if (r.code !== 0) {
      expect(wrote, `refused but recorded: ${r.stderr}`).toBe(false);
      return { refused: true };
    }
    return { refused: false, as: /suspended client:(\S+):/.exec(r.stdout)?.[1] };
  },
  'fleet resume client:NAME': async (v) => {
    const env = cliEnv();
    expect(
      (await runCli(['suspend', 'client:bot-publish', '--reason', 'generated case', '--scopes', scopes], { env })).code,
    ).toBe(0);
    const r = await runCli(['resume', `client:${v}`, '--scopes', scopes], { env });
    if (r.code === 0) return { refused: false, as: /resumed client:(\S+) /.exec(r.stdout)?.[1] };
    // the real suspension is still in force
    expect((await runCli(['resume', 'client:bot-publish', '--scopes', scopes], { env })).code).toBe(0);
    return { refused: true };
  },
  'fleet audit show --actor': async (v) => {
    const r = await runCli(['audit', 'show', trail, '--json', '--actor', v]);
    return r.code === 0
      ? { refused: false, as: r.stdout.trim() ? JSON.parse(r.stdout.trim().split('\n')[0]!).actor : undefined }
      : { refused: true };
  },
  'fleet clients mint NAME': async (v) => {
    const dir = join(tempDir('fleet-id-mint-'), 'scopes');
    cpSync(scopes, dir, { recursive: true });
    const before = readFileSync(join(dir, 'clients.yaml'), 'utf8');
    const r = await runCli(['clients', 'mint', v, '--scopes', dir]);
    if (r.code === 0) return { refused: false, as: /minted a token for (\S+) /.exec(r.stderr)?.[1] };
    expect(readFileSync(join(dir, 'clients.yaml'), 'utf8')).toBe(before);
    return { refused: true };
  },
  'FLEET_ACTOR (stdio serve, fleet suspend)': async (v) => {
    const env = cliEnv();
    const r = await runCli(['suspend', 'slack.dev', '--reason', 'generated case', '--scopes', scopes], {
      env: { ...env, FLEET_ACTOR: v },
    });
    if (r.code !== 0) return { refused: true };
    const rec = auditRecords(join(env.FLEET_AUDIT_DIR, 'slack.dev.jsonl')).find((x) => x.decision === 'suspend');
    return { refused: false, as: rec?.actor };
  },
  'FLEET_CLIENT (stdio serve)': async (v) => {
    const env = cliEnv();
    const s = await serve({
      connector: 'slack',
      env: 'dev',
      sandbox: true,
      auditDir: env.FLEET_AUDIT_DIR,
      stateDir: env.FLEET_STATE_DIR,
      vars: { FLEET_CLIENT: v },
    }).catch(() => undefined);
    if (!s) return { refused: true };
    try {
      const r = await s.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 });
      return r.isError ? { refused: true } : { refused: false, as: lastIntent(s)?.client_id };
    } finally {
      await s.close();
    }
  },
  '_meta "fleet/actor"': async (v) => {
    const r = await dev.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 }, { 'fleet/actor': v });
    return r.isError ? { refused: true } : { refused: false, as: lastIntent(dev)?.actor };
  },
  "an oidc token's e-mail (or sub) claim": async (v) => {
    const token = await new SignJWT({ email: v })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://id.fleet.test')
      .setAudience('slack.dev')
      .setSubject('generated')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(oidcKey);
    const r = await oidc.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 }, { 'fleet/actor-token': token });
    return r.isError ? { refused: true } : { refused: false, as: lastIntent(oidc)?.actor };
  },
};

/** Whether a value is a real name in its own right (another known one, or the same one written another accepted way). */
function legitimate(value: string, seed: string): boolean {
  if (sameId(value, seed)) return true;
  try {
    return KNOWN.includes(canonical(value));
  } catch {
    return KNOWN.includes(value);
  }
}

describe.each(SURFACES.map((s) => [s.name, s] as [string, Surface]))('near misses on %s', (_name, surface) => {
  const offer = OFFER[surface.name];

  beforeAll(async () => {
    if (surface.name === 'fleet audit show --actor') {
      expect(
        (await dev.call('read_history', { channel: 'C0DEVGENERAL', limit: 1 }, { 'fleet/actor': 'U0DEVALICE' }))
          .isError,
      ).toBeFalsy();
      trail = dev.auditFile;
    }
  });

  it('has a way to be offered a value, and takes each known name as itself', async () => {
    expect(offer, `no OFFER for ${surface.name}`).toBeDefined();
    for (const seed of surface.seeds) {
      const o = await offer!(seed, seed);
      expect(o, `${surface.name} refused the known name ${seed}`).toMatchObject({ refused: false });
      if (!o.refused && o.as !== undefined) expect(o.as).toBe(seed);
    }
  }, 120_000);

  it.each(surface.seeds)(
    `never takes a near miss of %s for it (seed ${SEED})`,
    async (seed) => {
      const cases = nearMiss(seed).filter(
        ({ value }) =>
          value !== seed &&
          !legitimate(value, seed) &&
          !(surface.noNul && value.includes('\u0000')) &&
          (surface.cost !== 'spawn' || value.length < 4000),
      );
      try {
        await fc.assert(
          fc.asyncProperty(cases, async ({ how, value }) => {
            const o = await offer!(value, seed);
            if (surface.role === 'reference')
              expect(o, `${how}: ${JSON.stringify(value)} was accepted`).toEqual({ refused: true });
            else if (!o.refused) expect(o.as, `${how}: ${JSON.stringify(value)} was taken for ${seed}`).not.toBe(seed);
          }),
          { numRuns: RUNS[surface.cost], seed: SEED },
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}\nreplay with FLEET_IDENTITY_SEED=${SEED}`);
      }
    },
    300_000,
  );
});

describe('serve enforces it too: an exception naming a look-alike of a known person never runs', () => {
  const start = (approver: string) => {
    const dir = join(tempDir('fleet-id-exc-'), 'scopes');
    cpSync(SCOPES, dir, { recursive: true });
    const file = join(dir, 'slack.dev.yaml');
    writeFileSync(file, exception('U0DEVALICE', approver)(readFileSync(file, 'utf8')));
    // stdin closes at once: a server that starts ends cleanly, one that refuses says why and fails
    return runCli(['serve', 'slack', '--env', 'dev', '--sandbox', '--scopes', dir], {
      env: cliEnv(),
      timeoutMs: 30_000,
    });
  };

  it.each([
    ['a zero-width character', 'U0DEVBOB\u200b'],
    ['lower case', 'u0devbob'],
    ['a known-looking stranger', 'U0DEVB0B'],
    ['the owner under another of her IDs', 'alice@example.com'],
  ])(
    '%s in the approver stops the instance at start, naming the line',
    async (_what, approver) => {
      const r = await start(approver);
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/slack\.dev\.yaml:\d+/);
      expect(r.stdout).toBe('');
    },
    60_000,
  );

  it('while the known approver starts it', async () => {
    const r = await start('U0DEVBOB');
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);
});
