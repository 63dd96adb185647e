// Scope escapes, property-based: for every instance in scopes/, every granted tool and every
// argument that names a constrained resource, fast-check tries near-misses of the granted values
// (case, look-alikes, invisible characters, whitespace, `..` and encoded separators, globs and
// regex metacharacters, very long values, IDs of the other environment). What the sandbox
// received is the evidence: each request a call caused must name only resources an independent
// oracle says the grant covers, a call that reached nothing must be an isError result, and every
// attempt must have left an audit record (a `deny` decision when it reached nothing). The targets
// come from a hand-written table (./targets.ts), never from the tools' own declarations; a request
// no sandbox route knows fails the run; and a near-miss the oracle allows must reach the upstream.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ROUTES } from '../../servers/cloudflare/sandbox/routes.js';
import type { Recorded } from '../../shared/connector/emulator.js';
import type { Manifest } from '../../shared/base/manifest.js';
import { auditRecords } from '../helpers.js';
import { BROADCAST_WORDS, covers, DEFAULTS, KINDS } from './oracle.js';
import { nearMiss, sneakyMentions } from './near-miss.js';
import { TARGETS } from './targets.js';
import { METHODS } from '../../servers/slack/sandbox/methods.js';
import { CF_IDS, INSTANCES, manifestOf, runs, SAMPLES, startLive, UNGRANTED, type Live } from './instances.js';

const RUNS = runs(1000);

interface Target {
  tool: string;
  path: (string | number)[];
  key: string;
  seed: string;
  others: string[];
}

function setPath(obj: Record<string, unknown>, path: (string | number)[], value: unknown): Record<string, unknown> {
  const out = structuredClone(obj);
  let at: any = out;
  for (const p of path.slice(0, -1)) at = at[p];
  at[path[path.length - 1]!] = value;
  return out;
}

/** The hand-written table's targets for the tools this instance grants (and has samples for). */
function targets(m: Manifest, other: Manifest): Target[] {
  const out: Target[] = [];
  for (const [name, sample] of Object.entries(SAMPLES[m.id] ?? {})) {
    const rows = TARGETS[m.connector]?.[name];
    if (!rows) throw new Error(`${m.id} ${name}: no row in test/hardening/targets.ts`);
    for (const [path, key] of rows) {
      if (!KINDS[key])
        throw new Error(`${m.id} ${name}: constraint "${key}" has no oracle in test/hardening/oracle.ts`);
      const seed = path.reduce<any>((v, p) => v?.[p], sample);
      if (typeof seed !== 'string') throw new Error(`${m.id} ${name}: the sample has no string at ${path.join('.')}`);
      const granted = [m.tools[name]?.[key], other.tools[name]?.[key]]
        .flat()
        .filter((x): x is string => typeof x === 'string');
      out.push({ tool: name, path, key, seed, others: [...new Set([...granted, ...(UNGRANTED[key] ?? [])])] });
    }
  }
  return out;
}

const cfRoutes = ROUTES.map((r) => ({ r, parts: `/client/v4${r.path}`.slice(1).split('/') }));

/** The constrained resources a recorded request names, as [constraint key, value] pairs. */
function resourcesOf(connector: string, q: Recorded): [string, string][] {
  const p = q.params as Record<string, any>;
  const out: [string, string][] = [];
  if (connector === 'slack') {
    if (!METHODS[q.route]) out.push(['unrouted', `${q.method} ${q.path}`]);
    if (typeof p.channel === 'string') out.push(['channels', p.channel]);
    if (q.route === 'reactions.add' && typeof p.name === 'string') out.push(['emoji', p.name]);
    if (typeof p.text === 'string' && BROADCAST_WORDS.test(p.text)) out.push(['mentions', p.text]);
  } else if (connector === 'cloudflare') {
    const segs = q.path.slice(1).split('/');
    const hit = cfRoutes.find(
      ({ r, parts }) =>
        r.method === q.method &&
        parts.length === segs.length &&
        parts.every((x, i) => x.startsWith(':') || x === segs[i]),
    );
    if (!hit || q.route === 'unknown') out.push(['unrouted', `${q.method} ${q.path}`]);
    const KEYS: Record<string, string> = {
      script: 'scripts',
      ns: 'namespaces',
      key: 'key_prefix',
      bucket: 'buckets',
      db: 'databases',
      wf: 'workflows',
      zone: 'zones',
    };
    hit?.parts.forEach((x, i) => {
      const k = KEYS[x.slice(1)];
      if (x.startsWith(':') && k) out.push([k, safeDecode(segs[i]!)]);
    });
    if (typeof p.prefix === 'string' && p.prefix) out.push(['key_prefix', p.prefix]);
    if (q.route.startsWith('dns.records.') && typeof p.name === 'string')
      out.push(['names', p.name], ['types', String(p.type)]);
  } else {
    // the Doppler sandbox names a request it has no route for by its method and path
    if (q.route.includes(' ')) out.push(['unrouted', q.route]);
    if (typeof p.config === 'string') out.push(['configs', p.config]);
    if (typeof p.name === 'string') out.push(['secrets', p.name]);
    if (Array.isArray(p.names)) for (const n of p.names) out.push(['secrets', String(n)]);
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Pairs a tool's grant does not cover, judged on every resource key the oracle knows whatever the
 * tool declares (a key the grant does not set falls back to the oracle's default, else is outside);
 * mentions count as outside unless the grant allows them; a request no route knows is outside.
 */
function outside(m: Manifest, tool: string, seen: Recorded[]): string[] {
  const grant = m.tools[tool] ?? {};
  const bad: string[] = [];
  for (const q of seen) {
    for (const [key, value] of resourcesOf(m.connector, q)) {
      if (key === 'unrouted') {
        bad.push(`a request no sandbox route knows: ${value}`);
        continue;
      }
      if (key === 'mentions') {
        if (grant.mentions !== true) bad.push(`${q.route}: broadcast mention in ${JSON.stringify(value.slice(0, 80))}`);
        continue;
      }
      const granted = grant[key] ?? DEFAULTS[key];
      if (granted === undefined) {
        bad.push(`${q.route}: ${key} ${JSON.stringify(value.slice(0, 120))}, which ${tool}'s grant does not govern`);
        continue;
      }
      if (!covers(key, granted, value)) bad.push(`${q.route}: ${key} ${JSON.stringify(value.slice(0, 120))}`);
    }
  }
  return bad;
}

interface Attempt {
  thread: string;
  tool: string;
  how: string;
  reached: boolean;
  /** the oracle says the grant covers the mutated value */
  allowed?: boolean;
  args?: Record<string, unknown>;
}

/** Runs one generated call and checks what reached the sandbox; returns what happened. */
async function attempt(
  live: Live,
  tool: string,
  args: Record<string, unknown>,
  how: string,
  n: number,
): Promise<Attempt> {
  // each attempt is tagged by its reason (the thread is the request message that proves the actor)
  const thread = `hardening-${n}`;
  const before = live.up.emulator.requests.length;
  const r = await live.server.call(tool, args, { 'fleet/reason': thread });
  const seen = live.up.emulator.requests.slice(before);
  expect(outside(live.manifest, tool, seen), `${tool} ${how} ${JSON.stringify(args).slice(0, 300)}`).toEqual([]);
  if (!seen.length) expect(r.isError, `${tool} ${how}: nothing reached the upstream, yet no isError`).toBe(true);
  return { thread, tool, how, reached: seen.length > 0, args };
}

/** The decision records of an attempt (by its thread). */
const decisions = (live: Live, thread: string) =>
  auditRecords(live.server.auditFile).filter((r) => r.thread === thread && r.phase === 'decision');

function checkAudit(live: Live, attempts: Attempt[]): void {
  const byThread = new Map<string, Record<string, any>[]>();
  for (const r of auditRecords(live.server.auditFile)) {
    if (!r.reason) continue;
    byThread.set(r.reason, [...(byThread.get(r.reason) ?? []), r]);
  }
  const missing = attempts.filter((a) => !byThread.has(a.thread)).map((a) => `${a.tool} ${a.how}`);
  expect(missing, 'attempts without an audit record').toEqual([]);
  const undenied = attempts.filter(
    (a) =>
      !a.reached &&
      !byThread.get(a.thread)!.some((r) => r.phase === 'decision' && ['deny', 'pending'].includes(r.decision)),
  );
  expect(
    undenied.map((a) => `${a.tool} ${a.how}`),
    'refused attempts without a deny record',
  ).toEqual([]);
}

const tally: Record<string, { attempts: number; reached: number }> = {};
// over every instance, the evidence is not empty: some attempts did reach an upstream
afterAll(() => {
  const reached = Object.values(tally).reduce((n, t) => n + t.reached, 0);
  if (Object.keys(tally).length === INSTANCES.length)
    expect(reached, `attempts that reached an upstream: ${JSON.stringify(tally)}`).toBeGreaterThan(0);
});

for (const [connector, env] of INSTANCES) {
  const id = `${connector}.${env}`;
  describe(`scope escapes: ${id}`, () => {
    let live: Live;
    let counter = 0;
    beforeAll(async () => {
      live = await startLive(connector, env);
    }, 60_000);
    afterAll(() => live?.close());

    it(`${RUNS} near-misses of granted resources: none reaches the upstream outside the grant`, async () => {
      const ts = targets(live.manifest, manifestOf(connector, env === 'dev' ? 'prod' : 'dev'));
      expect(ts.length).toBeGreaterThan(0);
      const attempts: Attempt[] = [];
      const run = async (t: Target, n: { how: string; value: string }) => {
        if (n.value === t.seed) return;
        const args = setPath(SAMPLES[id]![t.tool]!, t.path, n.value);
        const a = await attempt(live, t.tool, args, `${t.key} ${n.how}`, counter++);
        a.allowed = covers(t.key, live.manifest.tools[t.tool]?.[t.key] ?? DEFAULTS[t.key], n.value);
        attempts.push(a);
      };
      // a sweep so every constrained argument is tried, then the random search
      for (const t of ts)
        for (const n of fc.sample(nearMiss(t.seed, t.others), { numRuns: 3, seed: 7 })) await run(t, n);
      const arb = fc.constantFrom(...ts).chain((t) => nearMiss(t.seed, t.others).map((n) => ({ t, n })));
      await fc.assert(
        fc.asyncProperty(arb, ({ t, n }) => run(t, n)),
        { numRuns: RUNS, endOnFailure: true },
      );
      checkAudit(live, attempts);
      // every kind of constrained argument was tried
      expect(new Set(attempts.map((a) => a.tool)).size).toBe(new Set(ts.map((t) => t.tool)).size);
      tally[id] = { attempts: attempts.length, reached: attempts.filter((a) => a.reached).length };
      // a near-miss the grant covers must not be refused by policy: it reaches the upstream, unless
      // the tool's input schema refuses its shape (rule input) first
      const allowed = attempts.filter((a) => a.allowed);
      const stopped = allowed
        .filter((a) => !a.reached)
        .map((a) => ({ a, rules: decisions(live, a.thread).map((r) => r.rule) }));
      expect(
        stopped
          .filter((s) => !s.rules.every((r) => r === 'input'))
          .map((s) => `${s.a.tool} ${s.a.how}: ${s.rules.join(', ')}`),
        'allowed near-misses refused by policy',
      ).toEqual([]);
      // counted: every allowed near-miss of a valid shape reached the upstream
      expect(allowed.filter((a) => a.reached).length, 'allowed near-misses that reached the upstream').toBe(
        allowed.length - stopped.length,
      );
      // a deploy reached the sandbox only with bindings the grant names
      if (id === 'cloudflare.dev') {
        const grant = live.manifest.tools.deploy_worker!;
        const sb = live.up.sandbox as CloudflareSandbox;
        for (const [name, s] of sb.account(CF_IDS.account).scripts) {
          if (!covers('scripts', grant.scripts, name)) continue;
          for (const b of s.bindings) {
            if (b.type === 'kv_namespace') expect(grant.namespaces).toContain(b.namespace_id);
            if (b.type === 'r2_bucket') expect(grant.buckets).toContain(b.bucket_name);
            if (b.type === 'd1') expect(grant.databases).toContain(b.id);
          }
        }
      }
    }, 300_000);

    if (connector === 'slack') {
      it('broadcast mentions in disguise never reach Slack where the grant has mentions: false', async () => {
        const attempts: Attempt[] = [];
        const tools = ['post_message', 'reply_in_thread'].filter((t) => live.manifest.tools[t]);
        await fc.assert(
          fc.asyncProperty(fc.constantFrom(...tools), sneakyMentions, async (tool, text) => {
            attempts.push(
              await attempt(live, tool, { ...SAMPLES[id]![tool]!, text }, `mention ${JSON.stringify(text)}`, counter++),
            );
          }),
          { numRuns: runs(60), endOnFailure: true },
        );
        checkAudit(live, attempts);
        expect(attempts.every((a) => !a.reached)).toBe(true);
      }, 120_000);
    }

    if (id === 'cloudflare.prod') {
      it('SQL that could write never runs under the read-only grant: the database is unchanged', async () => {
        const sb = live.up.sandbox as CloudflareSandbox;
        const db = sb.account(CF_IDS.account).d1.get(CF_IDS.prodDb)!;
        const snapshot = async () =>
          JSON.stringify(
            await sb.d1
              .query(db, 'SELECT type, name, sql FROM sqlite_master ORDER BY name; SELECT * FROM posts ORDER BY slug')
              .then((r) => r.map((x) => x.results)),
          );
        const before = await snapshot();
        const attempts: Attempt[] = [];
        await fc.assert(
          fc.asyncProperty(sqlNearMiss, async (sql) => {
            attempts.push(
              await attempt(
                live,
                'd1_query',
                { database_id: CF_IDS.prodDb, sql },
                `sql ${JSON.stringify(sql)}`,
                counter++,
              ),
            );
          }),
          { numRuns: runs(120), endOnFailure: true },
        );
        checkAudit(live, attempts);
        expect(await snapshot()).toBe(before);
      }, 120_000);
    }
  });
}

const WRITES_SQL = [
  'DELETE FROM posts',
  "UPDATE posts SET title = 'x'",
  "INSERT INTO posts (slug, title, status) VALUES ('x', 'x', 'draft')",
  'DROP TABLE posts',
  'CREATE TABLE t (x)',
  'ALTER TABLE posts ADD COLUMN x',
  "REPLACE INTO posts (slug, title, status) VALUES ('x','x','draft')",
  'PRAGMA writable_schema = 1',
  'CREATE INDEX i ON posts (title)',
  'CREATE TRIGGER t AFTER INSERT ON posts BEGIN DELETE FROM posts; END',
];
const sqlNearMiss: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...WRITES_SQL),
  fc.constantFrom(...WRITES_SQL).map((w) => `SELECT 1; ${w}`),
  fc.constantFrom(...WRITES_SQL).map((w) => `SELECT 1;\n--\n${w}`),
  fc.constantFrom(...WRITES_SQL).map((w) => `/* SELECT */ ${w}`),
  fc
    .constantFrom(...WRITES_SQL)
    .map((w) => w.replace(/[a-z]/gi, (c, i: number) => (i % 2 ? c.toLowerCase() : c.toUpperCase()))),
  fc.constantFrom(...WRITES_SQL).map((w) => `WITH x AS (SELECT 1) ${w}`),
  fc.constantFrom(...WRITES_SQL).map((w) => `SELECT 1 /* ; */ ; ${w} -- `),
  fc.constantFrom(...WRITES_SQL).map((w) => `${w.replace(' ', '\u00a0')}`),
  fc.constantFrom(...WRITES_SQL).map((w) => `  \n\t${w};;`),
  fc.constantFrom(
    "SELECT * FROM posts WHERE slug = ''; DELETE FROM posts; --'",
    'BEGIN; DELETE FROM posts; COMMIT',
    "ATTACH DATABASE 'x' AS y",
    'VACUUM',
    "SELECT load_extension('x')",
    'SAVEPOINT a; DELETE FROM posts; RELEASE a',
    'EXPLAIN DELETE FROM posts',
    'UPSERT',
    'SELECT changes(); DELETE FROM posts',
  ),
);
