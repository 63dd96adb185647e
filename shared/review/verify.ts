// `fleet verify`: every manifest under the scopes folder must load, and together they must keep
// the fleet's rules: no credential or resource shared between dev and prod, upstream permissions
// exactly what the granted tools need, the fleet-wide rules of fleet.yaml, and generated files
// (tool-surface snapshots, JSON Schema, docs table) in step with the code.
import { strangers } from '../manifest/people.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { checkClients } from './clients.js';
import { loadManifest } from '../manifest/load.js';
import { ManifestError, readYaml, type ManifestProblem } from '../base/yaml.js';
import type { Manifest } from '../base/manifest.js';
import { isProduction, neededBy, needsOf } from '../connector/scopes.js';
import { attributionRule } from '../manifest/attribution.js';
import type { Connector } from '../connector/tool.js';
import type { Finding } from './findings.js';
import { overlap } from './glob-sets.js';
import { checkRules, loadFleetRules, type FleetRules } from './rules.js';
import { checkGenerated } from './surface-files.js';
import { coverProblems } from '../call/covers.js';
import { withAllExceptions } from '../manifest/exceptions.js';

/** What to say when there is no scopes folder where one is looked for. */
export const noScopes = (dir: string) =>
  `no scopes folder at ${resolve(dir)}: run fleet in your project (where scopes/ is, or below it), pass --scopes DIR, or create one with \`fleet init <connector>...\``;

export function manifestFiles(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(noScopes(dir));
  return readdirSync(dir)
    .filter((f) => /^[a-z0-9-]+\.[a-z0-9-]+\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** The instance a manifest file configures: its file name without `.yaml` (slack.prod.yaml → slack.prod). */
export function instanceOf(file: string): string {
  return basename(file).replace(/\.ya?ml$/, '');
}

/** The manifest files of the instances named, every one when none is; a name without a manifest is an error. */
export function chosenManifests(dir: string, instances: string[]): string[] {
  const files = manifestFiles(dir);
  const all = files.map(instanceOf);
  for (const i of instances)
    if (!all.includes(i)) throw new Error(`no manifest for instance "${i}" in ${dir} (known: ${all.join(', ')})`);
  return instances.length ? files.filter((f) => instances.includes(instanceOf(f))) : files;
}

export interface VerifyOptions {
  connectors: Record<string, Connector>;
  /** fleet rules file; default <dir>/fleet.yaml */
  fleet?: string;
  /** check surface snapshots, the JSON Schema and (when `docs` names it) the docs table; default true */
  generated?: boolean;
  docs?: string;
  /** the time review_by dates are judged against (ms); default now */
  now?: number;
}

export interface VerifyResult {
  manifests: Manifest[];
  /** errors only, in the loader's shape (kept for callers of the first version) */
  problems: ManifestProblem[];
  findings: Finding[];
}

/** Names the rule a loader problem breaks, from the connector's inventory. */
function classify(p: ManifestProblem, connector: Connector | undefined): string {
  if (p.path === 'connector' && p.message.startsWith('unknown connector')) return 'unknown-connector';
  if (p.path === 'owner' || p.path === 'purpose') return p.path;
  if (p.message.startsWith('unknown tool')) return 'unknown-tool';
  if (/^exceptions\.\d+/.test(p.path)) return 'exception';
  if (p.message.startsWith('unknown constraint')) return 'unknown-constraint';
  if (/ is not an? [\w ]+ ID: grant IDs /.test(p.message)) return 'id-not-name';
  const [top, tool, key] = p.path.split('.');
  if (top === 'tools' && key && connector?.tools.find((t) => t.name === tool)?.constraints[key])
    return 'constraint-kind';
  return 'schema';
}

function loadAll(dir: string, connectors: Record<string, Connector>): { manifests: Manifest[]; findings: Finding[] } {
  const manifests: Manifest[] = [];
  const findings: Finding[] = [];
  for (const file of manifestFiles(dir)) {
    try {
      manifests.push(loadManifest(file, connectors));
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      let connector: Connector | undefined;
      try {
        const name = (readYaml(readFileSync(file, 'utf8'), file).data as { connector?: unknown } | null)?.connector;
        connector = typeof name === 'string' ? connectors[name] : undefined;
      } catch {
        // a YAML syntax error: already one of the loader's problems
      }
      for (const p of e.problems)
        findings.push({ rule: classify(p, connector), severity: 'error', ...p, path: p.path || undefined });
    }
  }
  return { manifests, findings };
}

/** Dotted path of the first place `value` appears in `obj` (to point at a declared permission). */
function pathOf(obj: unknown, value: string, at: string): string | undefined {
  if (obj === value) return at;
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      const p = pathOf(v, value, `${at}.${k}`);
      if (p) return p;
    }
  }
  return undefined;
}

/** An error found at `path` of manifest `m` (of its tool `tool`, where it is one). */
const errorAt = (m: Manifest, path: string, rule: string, message: string, tool?: string): Finding => ({
  rule,
  severity: 'error',
  file: m.file,
  line: m.line(path),
  path,
  instance: m.id,
  ...(tool ? { tool } : {}),
  message,
});

/** Declared upstream permissions against the union of the granted tools' needs. */
export function checkPermissions(m: Manifest, connector: Connector): Finding[] {
  const declared = new Set(connector.declared(m.upstream));
  const granted = connector.tools.filter((t) => m.tools[t.name] !== undefined);
  const needed = neededBy(connector, m);
  const findings: Finding[] = [];
  const forPath = (connector.pathNeeds?.(m) ?? []).filter((n) => !declared.has(n));
  if (forPath.length) {
    findings.push(
      errorAt(
        m,
        'attribution',
        'missing-permission',
        `the ${attributionRule(m.attribution).proof} proof reads each request with this instance's token, which needs ${forPath.join(', ')}: declare it, or every proven call is refused`,
      ),
    );
  }
  for (const t of granted) {
    const missing = needsOf(t, m.tools[t.name]).filter((n) => !declared.has(n));
    if (missing.length) {
      findings.push(
        errorAt(
          m,
          `tools.${t.name}`,
          'missing-permission',
          `${t.name} needs ${missing.join(', ')}, which the upstream block does not declare: the tool would fail. Declare it or revoke the tool`,
          t.name,
        ),
      );
    }
  }
  for (const p of declared) {
    if (needed.has(p)) continue;
    const path = pathOf(m.upstream, p, 'upstream') ?? 'upstream';
    findings.push({
      rule: 'excess-permission',
      severity: isProduction(m) ? 'error' : 'warning',
      file: m.file,
      line: m.line(path),
      path,
      instance: m.id,
      message: `${p} is declared but no granted tool needs it (nor the call path): remove it (and from the token) to keep ${m.id} least-privileged`,
    });
  }
  return findings;
}

interface Named {
  values: string[];
  /** manifest path of the constraint, e.g. tools.get_secret.configs */
  path: string;
}

/** Per granted tool, the resources its grant names, by constraint noun (config, secret, channel). */
function footprints(m: Manifest, connector: Connector): Map<string, Named>[] {
  const out: Map<string, Named>[] = [];
  for (const t of connector.tools) {
    const grant = m.tools[t.name];
    if (!grant) continue;
    const byNoun = new Map<string, Named>();
    for (const [key, c] of Object.entries(t.constraints)) {
      if (c.resources && grant[key] !== undefined)
        byNoun.set(c.noun, { values: c.resources(grant[key]), path: `tools.${t.name}.${key}` });
    }
    if (byNoun.size) out.push(byNoun);
  }
  return out;
}

/**
 * Dev and prod instances of one connector share no credential and no resource. Two grants share
 * a resource when every kind of resource both name overlaps (a dev glob may cover a prod name):
 * a secret name in config dev is not the same secret as that name in config prd.
 */
export function checkSharing(manifests: Manifest[], connectors: Record<string, Connector>): Finding[] {
  const findings: Finding[] = [];
  const byCredential = new Map<string, Manifest>();
  for (const m of manifests) {
    const other = byCredential.get(m.credential);
    if (other) {
      findings.push({
        rule: 'shared-credential',
        severity: 'error',
        file: m.file,
        line: m.line('credential'),
        path: 'credential',
        instance: m.id,
        message: `shares credential ${m.credential} with ${other.id} (${other.file}:${other.line('credential')}); each instance needs its own`,
      });
    } else byCredential.set(m.credential, m);
  }
  for (const prod of manifests.filter(isProduction)) {
    const connector = connectors[prod.connector]!;
    for (const dev of manifests.filter((m) => m.connector === prod.connector && !isProduction(m))) {
      const reported = new Set<string>();
      for (const p of footprints(prod, connector)) {
        for (const d of footprints(dev, connector)) {
          const common = [...p.keys()].filter((noun) => d.has(noun));
          const shared = common.map((noun) => overlap(p.get(noun)!.values, d.get(noun)!.values));
          if (!common.length || shared.some((x) => x === undefined)) continue;
          const noun = common[0]!;
          const name = shared[0]!;
          const pv = p.get(noun)!;
          const dv = d.get(noun)!;
          const i = pv.values.findIndex((v) => overlap([v], [name]) !== undefined);
          const j = dv.values.findIndex((v) => overlap([v], [name]) !== undefined);
          const [prodValue, devValue] = [pv.values[i]!, dv.values[j]!];
          if (reported.has(`${noun}\0${prodValue}`)) continue;
          reported.add(`${noun}\0${prodValue}`);
          const path = `${pv.path}.${i}`;
          const how =
            devValue === prodValue
              ? ''
              : ` (both match ${JSON.stringify(name)}: dev grants ${JSON.stringify(devValue)})`;
          findings.push({
            rule: 'shared-resource',
            severity: 'error',
            file: prod.file,
            line: prod.line(path),
            path,
            instance: prod.id,
            tool: path.split('.')[1],
            message: `${noun} ${JSON.stringify(prodValue)} is granted to both ${prod.id} and ${dev.id} (${dev.file}:${dev.line(`${dv.path}.${j}`)})${how}; dev and prod must not share resources`,
          });
        }
      }
    }
  }
  return findings;
}

/** Every argument of a granted tool is covered by a constraint or declared free (ToolDef `covers`). */
function checkCovers(m: Manifest, connector: Connector): Finding[] {
  return connector.tools
    .filter((t) => m.tools[t.name] !== undefined)
    .flatMap((t) =>
      coverProblems(t).map((p) =>
        errorAt(
          m,
          `tools.${t.name}`,
          'uncovered-argument',
          `${p}: granted here, but the ${connector.name} connector's declaration of ${t.name} must be fixed first`,
          t.name,
        ),
      ),
    );
}

/**
 * What the fleet's rules say of one instance's manifest: its permissions, its covers and every rule
 * of fleet.yaml, exceptions included. `fleet verify` asks it of each manifest, and `fleet serve`
 * of the instance it starts: a production instance with an error here does not start.
 */
export function instanceFindings(
  m: Manifest,
  connector: Connector,
  fleet: FleetRules | undefined,
  now?: number,
): Finding[] {
  // an exception's grant keeps the same rules as any other, whenever it is active
  const all = withAllExceptions(m);
  return [
    ...checkPermissions(all, connector),
    ...checkCovers(m, connector),
    ...(fleet ? checkRules(fleet, all, connector, now) : []),
    // every person a manifest names is someone the fleet knows: a near miss is an error, not a stranger
    ...(fleet
      ? strangers(m, fleet.directory, fleet.file).map((p) => ({
          rule: 'unknown-person',
          severity: 'error' as const,
          file: p.file,
          line: p.line,
          path: p.path,
          instance: m.id,
          message: p.message,
        }))
      : []),
  ];
}

/** The verdict of the fleet's rules on the instance `fleet serve` starts (see instanceFindings). */
export function serveFindings(
  m: Manifest,
  connectors: Record<string, Connector>,
  fleetFile: string,
  now?: number,
): Finding[] {
  const { fleet, findings } = loadFleetRules(fleetFile, connectors);
  // a folder without fleet.yaml has no fleet rules to break (verify says so); its own problems still count
  return [
    ...findings.filter((f) => !/no fleet rules file/.test(f.message)),
    ...instanceFindings(m, connectors[m.connector]!, fleet, now),
  ];
}

export function verifyScopes(dir: string, opts: VerifyOptions): VerifyResult {
  const { connectors } = opts;
  const { manifests, findings } = loadAll(dir, connectors);
  const { fleet, findings: fleetFindings } = loadFleetRules(opts.fleet ?? join(dir, 'fleet.yaml'), connectors);
  findings.push(...fleetFindings);
  for (const m of manifests) findings.push(...instanceFindings(m, connectors[m.connector]!, fleet, opts.now));
  findings.push(...checkSharing(manifests, connectors));
  findings.push(...checkClients(dir, manifests, fleet, opts.now));
  if (opts.generated !== false) findings.push(...checkGenerated(dir, manifests, connectors, opts.docs));
  const problems = findings
    .filter((f) => f.severity === 'error')
    .map((f) => ({ file: f.file, line: f.line, path: f.path ?? '', message: `[${f.rule}] ${f.message}` }));
  return { manifests, problems, findings };
}
