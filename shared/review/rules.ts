// Fleet-wide rules (scopes/fleet.yaml) as data: each rule has an id, a kind from the table below
// with its parameters, a selector saying which instances and tools it covers, and a reason. New
// rules are a YAML edit; a new kind is one entry in KINDS.
import { selfApproved } from '../manifest/exceptions.js';
import { peopleOf, peopleSchema, type People } from '../manifest/people.js';
import { storeConfig } from '../state/config.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { productionOfId } from '../manifest/production-of.js';
import { productionSchema } from '../base/production.js';
import { z } from 'zod';
import { fromDoc, ManifestError, readYaml } from '../base/yaml.js';
import { oncePer } from '../base/memo.js';
import type { Manifest } from '../base/manifest.js';
import type { Clients } from '../manifest/clients.js';
import { isProduction } from '../connector/scopes.js';
import type { Connector, ToolDef } from '../connector/tool.js';
import type { Grant } from '../base/manifest.js';
import type { Finding, Severity } from './findings.js';
import { isPattern } from './glob-sets.js';
import { DAY_MS, DURATION, durationSchema, parseDuration } from '../base/duration.js';
import { checkpointsSchema } from '../audit/checkpoint.js';
import { extensionsOf, type FleetExtensions } from '../connector/extensions.js';
import { attributionRule, describeAttribution, proofKinds } from '../manifest/attribution.js';

const where = z
  .strictObject({
    env: z.enum(['prod', 'dev', 'any']).default('any'),
    connectors: z.array(z.string()).min(1).optional(),
    access: z
      .array(z.enum(['read', 'write', 'destructive']))
      .min(1)
      .optional(),
  })
  .default({ env: 'any' });

const common = {
  id: z.string().regex(/^[a-z][a-z0-9-]*$/, 'a rule id is lower-case letters, digits and dashes'),
  where,
  why: z.string().trim().min(1, 'say why the rule exists: the finding shows it'),
  severity: z.enum(['error', 'warning']).default('error'),
};

/** The rule kinds, with the proofs and approval channels the fleet's connectors contribute. */
const ruleSchema = (ext: FleetExtensions) =>
  z.discriminatedUnion('kind', [
    z.strictObject({ ...common, kind: z.literal('attribution-required') }),
    z.strictObject({
      ...common,
      kind: z.literal('proof-required'),
      proofs: z.array(z.enum(proofKinds(ext.provers))).min(1),
    }),
    z.strictObject({
      ...common,
      kind: z.literal('credential-minted'),
      max_ttl: durationSchema('the longest ttl a minted credential may have, such as 1h').optional(),
      /** instances allowed a standing credential, each with the documented reason: an exception written down, not a silent hole */
      exempt: z
        .record(
          z
            .string()
            .regex(
              /^[a-z0-9-]+\.[a-z][a-z0-9-]*$/,
              'exempt names instances as <connector>.<instance>, such as blog.prod',
            ),
          z.string().trim().min(1, 'an exemption says why'),
        )
        .optional(),
    }),
    z.strictObject({ ...common, kind: z.literal('approval-required') }),
    z.strictObject({ ...common, kind: z.literal('approver-not-bot') }),
    // approvals only through these channels: where the calling client cannot answer its own request
    z.strictObject({
      ...common,
      kind: z.literal('approval-via'),
      via: z.array(z.enum([...ext.approvals.map((a) => a.via), 'elicitation'])).min(1),
    }),
    // patterns: false also refuses partial wildcards such as `blog-*`, not only a bare `*`
    z.strictObject({ ...common, kind: z.literal('no-wildcard'), patterns: z.boolean().default(false) }),
    z.strictObject({ ...common, kind: z.literal('forbid-value'), constraint: z.string().min(1), value: z.unknown() }),
    // recertification: a review_by date that is missing or past is an error in the `fail` envs and a
    // warning elsewhere; one within `warn_within` of today is a warning everywhere
    z.strictObject({
      ...common,
      kind: z.literal('review-due'),
      warn_within: z
        .string()
        .regex(DURATION, 'expected a duration above zero such as 30d')
        .describe('warn when review_by is this close, such as 30d'),
      fail: z.array(z.enum(['prod', 'dev'])).default(['prod']),
    }),
    // time-boxed exceptions: an expiry no later than `max` after the start (or after today), an
    // approver who is neither the owner nor a bot; an expired one is a warning (remove it)
    z.strictObject({
      ...common,
      kind: z.literal('exception-limits'),
      max: z.string().refine((s) => parseDuration(s) !== undefined, 'expected a duration such as 7d'),
    }),
    z.strictObject({
      ...common,
      kind: z.literal('forbid-tools'),
      tools: z.array(z.string().regex(/^[a-z0-9-]+\.[a-z0-9_]+$/, 'name tools as connector.tool')).min(1),
    }),
  ]);

export type Rule = z.infer<ReturnType<typeof ruleSchema>>;

export const fleetSchema = (ext: FleetExtensions) =>
  z.strictObject({
    /** the fleet's own bot identities: never approvers of their own requests */
    bots: z.array(z.string().min(1)).default([]),
    /** the people the fleet's files may name (shared/manifest/people.ts) */
    people: peopleSchema.optional(),
    rules: z.array(ruleSchema(ext)),
    // Declared and validated by the approvals work; tolerated here.
    approvals: z.unknown().optional(),
    /** the audit checkpoints' public key and cadence (shared/audit/checkpoint.ts) */
    checkpoints: checkpointsSchema(ext.checkpointSinks).optional(),
    /** where instances keep their state (shared/state/config.ts) */
    store: storeConfig.optional(),
    /** what production is beyond the names prod and prod-* (shared/base/production.ts) */
    production: productionSchema.optional(),
  });

/** fleetSchema, built once per set of extensions (building a zod schema costs more than using it) */
const fleetSchemaOf = oncePer(fleetSchema);

export interface FleetRules {
  file: string;
  bots: string[];
  /** who the fleet knows: its people and its bots */
  directory: People;
  rules: Rule[];
  line(path: string): number;
  /** approvals block as written, unvalidated here */
  approvals?: unknown;
}

/** Reads fleet.yaml; problems come back as findings of rule `fleet-rules`. */
export function loadFleetRules(
  file: string,
  connectors: Record<string, Connector>,
): { fleet?: FleetRules; findings: Finding[] } {
  const problem = (line: number, message: string, severity: Severity = 'error'): Finding => ({
    rule: 'fleet-rules',
    severity,
    file,
    line,
    message,
  });
  if (!existsSync(file))
    return {
      findings: [problem(1, 'no fleet rules file: every scopes folder needs a fleet.yaml with its fleet-wide rules')],
    };
  let doc: ReturnType<typeof readYaml>;
  try {
    doc = readYaml(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (e instanceof ManifestError) return { findings: e.problems.map((p) => problem(p.line, p.message)) };
    throw e;
  }
  const schema = fleetSchemaOf(extensionsOf(connectors));
  const parsed = fromDoc(doc, schema, () => schema.safeParse(doc.data ?? {}));
  if (!parsed.success) {
    return {
      findings: parsed.error.issues.map((i) => {
        const path = i.path.map(String).join('.');
        return { ...problem(doc.line(path), i.message), path };
      }),
    };
  }
  const findings: Finding[] = [];
  const ids = new Set<string>();
  parsed.data.rules.forEach((r, i) => {
    if (ids.has(r.id)) findings.push(problem(doc.line(`rules.${i}.id`), `rule id "${r.id}" is used twice`));
    ids.add(r.id);
    if (r.kind !== 'forbid-tools') return;
    r.tools.forEach((name, j) => {
      const [c, t] = name.split('.') as [string, string];
      const connector = connectors[c];
      if (!connector)
        findings.push(
          problem(
            doc.line(`rules.${i}.tools.${j}`),
            `${name}: no connector "${c}" in this build; the rule covers it once it exists`,
            'warning',
          ),
        );
      else if (!connector.tools.some((x) => x.name === t)) {
        findings.push(
          problem(
            doc.line(`rules.${i}.tools.${j}`),
            `${name}: ${c} has no tool "${t}" (known: ${connector.tools.map((x) => x.name).join(', ')})`,
          ),
        );
      }
    });
  });
  const { people, problems } = peopleOf(parsed.data.people, parsed.data.bots);
  for (const p of problems) findings.push({ ...problem(doc.line(p.path), p.message), path: p.path });
  // each approvals identity declared here, checked by its channel's own parser: what stops `fleet serve` fails verify
  const declared = (parsed.data.approvals ?? {}) as Record<string, unknown>;
  for (const kind of extensionsOf(connectors).approvals) {
    if (kind.verify && typeof declared === 'object' && Object.hasOwn(declared, kind.via)) {
      for (const p of kind.verify(dirname(file))) findings.push({ ...problem(p.line, p.message), path: p.path });
    }
  }
  return { fleet: { file, ...parsed.data, directory: people, line: doc.line }, findings };
}

interface Hit {
  path: string;
  tool?: string;
  message: string;
  /** overrides the rule's severity (review-due: error only in its `fail` envs) */
  severity?: Severity;
}

interface Scope {
  manifest: Manifest;
  connector: Connector;
  fleet: FleetRules;
  /** the time dates are judged against (ms) */
  now: number;
  /** granted tools the rule's selector covers, with their grants */
  tools: { tool: ToolDef; grant: Grant }[];
}

const KINDS: { [K in Rule['kind']]: (rule: Extract<Rule, { kind: K }>, s: Scope) => Hit[] } = {
  'attribution-required': (_r, { manifest }) =>
    attributionRule(manifest.attribution).required
      ? []
      : [{ path: 'attribution', message: `${manifest.id} must set attribution: required` }],

  'proof-required': (r, { manifest }) => {
    const { proof } = attributionRule(manifest.attribution);
    if (r.proofs.includes(proof)) return [];
    return [
      {
        path: 'attribution',
        message: `${manifest.id} must prove its actor by ${r.proofs.join(' or ')} (attribution.proof); it has ${describeAttribution(manifest.attribution)}`,
      },
    ];
  },

  // Connectors that can mint must; one that cannot but whose tokens rotate (Slack cannot down-scope
  // a token at run time) must rotate; any other has nothing shorter-lived to offer.
  'credential-minted': (r, { manifest, connector }) => {
    if (r.exempt?.[manifest.id] !== undefined && !manifest.mint && !manifest.rotate) return [];
    if (!connector.minter) {
      if (!connector.rotate || manifest.rotate) return [];
      return [
        {
          path: 'credential',
          message: `${manifest.id} uses the standing credential ${manifest.credential}; ${connector.name} cannot mint a token, but it can rotate one: turn token rotation on for the app and declare credential: { rotate: { refresh_token, client_id, client_secret } }`,
        },
      ];
    }
    if (!manifest.mint)
      return [
        {
          path: 'credential',
          message: `${manifest.id} uses the standing credential ${manifest.credential}; mint one per run: credential: { broker: <reference>, mint: { ttl } }`,
        },
      ];
    const max = r.max_ttl === undefined ? undefined : parseDuration(r.max_ttl);
    if (max !== undefined && manifest.mint.ttlMs > max)
      return [
        {
          path: 'credential.mint.ttl',
          message: `${manifest.id} mints tokens living ${manifest.mint.ttl}, longer than ${r.max_ttl}`,
        },
      ];
    return [];
  },

  'approval-required': (_r, { tools }) =>
    tools
      .filter(({ grant }) => !grant.approval)
      .map(({ tool }) => ({
        path: `tools.${tool.name}`,
        tool: tool.name,
        message: `${tool.name} (${tool.access}) needs an approval: block`,
      })),

  'approver-not-bot': (_r, { tools, fleet }) =>
    tools.flatMap(({ tool, grant }) => {
      const approvers = (grant.approval as { approvers?: unknown } | undefined)?.approvers;
      if (!Array.isArray(approvers)) return [];
      return approvers.flatMap((a, i) =>
        fleet.bots.includes(String(a))
          ? [
              {
                path: `tools.${tool.name}.approval.approvers.${i}`,
                tool: tool.name,
                message: `${a} is one of the fleet's bots: a bot must never approve its own request`,
              },
            ]
          : [],
      );
    }),

  'approval-via': (r, { tools }) =>
    tools.flatMap(({ tool, grant }) => {
      const via = (grant.approval as { via?: string } | undefined)?.via;
      if (via === undefined || r.via.includes(via as never)) return [];
      return [
        {
          path: `tools.${tool.name}.approval.via`,
          tool: tool.name,
          message: `${tool.name} is approved via ${via}, which the calling client answers itself; approve via ${r.via.join(' or ')}`,
        },
      ];
    }),

  'no-wildcard': (r, { tools }) =>
    tools.flatMap(({ tool, grant }) =>
      Object.entries(tool.constraints).flatMap(([key, c]) => {
        if (!c.resources || grant[key] === undefined) return [];
        return c.resources(grant[key]).flatMap((res, i) => {
          const bare = /^\*+$/.test(res);
          if (!bare && !(r.patterns === false && isPattern(res))) return [];
          return [
            {
              path: `tools.${tool.name}.${key}.${i}`,
              tool: tool.name,
              message: `${tool.name}.${key} grants the wildcard ${JSON.stringify(res)}; name each ${c.noun}`,
            },
          ];
        });
      }),
    ),

  'forbid-value': (r, { tools }) =>
    tools.flatMap(({ tool, grant }) => {
      const c = tool.constraints[r.constraint];
      if (!c) return [];
      const value = grant[r.constraint] !== undefined ? grant[r.constraint] : c.fallback;
      if (JSON.stringify(value) !== JSON.stringify(r.value)) return [];
      const path = grant[r.constraint] !== undefined ? `tools.${tool.name}.${r.constraint}` : `tools.${tool.name}`;
      return [
        {
          path,
          tool: tool.name,
          message: `${tool.name}.${r.constraint} is ${JSON.stringify(r.value)}${grant[r.constraint] === undefined ? ' by default' : ''}`,
        },
      ];
    }),

  'review-due': (r, { manifest, now }) => {
    const hit = reviewDue(
      r,
      { what: manifest.id, owner: manifest.owner, review_by: manifest.review_by, prod: isProduction(manifest) },
      now,
    );
    return hit ? [hit] : [];
  },

  'exception-limits': (r, { manifest, fleet, now }) =>
    (manifest.exceptions ?? []).flatMap((e, i): Hit[] => {
      const at = `exceptions.${i}`;
      const name = `exception ${e.id} (${e.tool})`;
      const hits: Hit[] = [];
      const max = parseDuration(r.max)!;
      if (!e.expires)
        hits.push({
          path: at,
          tool: e.tool,
          message: `${name} has no expiry: add expires: (an instant with its zone) no later than ${r.max} after it starts`,
        });
      else {
        const from = e.starts ? Date.parse(e.starts) : now;
        const end = Date.parse(e.expires);
        if (end <= from)
          hits.push({
            path: `${at}.expires`,
            tool: e.tool,
            message: `${name} expires at ${e.expires}, before it starts`,
          });
        else if (end - from > max)
          hits.push({
            path: `${at}.expires`,
            tool: e.tool,
            message: `${name} runs ${Math.ceil((end - from) / 3_600_000)} h, beyond the fleet maximum of ${r.max}${e.starts ? '' : ' from today'}`,
          });
        if (end <= now)
          hits.push({
            path: `${at}.expires`,
            tool: e.tool,
            message: `${name} expired at ${e.expires}: remove it`,
            severity: 'warning',
          });
      }
      if (selfApproved(e, fleet.directory.idsOf))
        hits.push({
          path: `${at}.approver`,
          tool: e.tool,
          message: `${name} is approved by its own owner ${e.owner}: someone else must approve it`,
        });
      else if (fleet.bots.includes(e.approver))
        hits.push({
          path: `${at}.approver`,
          tool: e.tool,
          message: `${name} is approved by ${e.approver}, one of the fleet's bots`,
        });
      return hits;
    }),

  'forbid-tools': (r, { tools, connector }) =>
    tools
      .filter(({ tool }) => r.tools.includes(`${connector.name}.${tool.name}`))
      .map(({ tool }) => ({
        path: `tools.${tool.name}`,
        tool: tool.name,
        message: `${tool.name} must not be granted here`,
      })),
};

export function selects(rule: Rule, manifest: Manifest): boolean {
  const env = rule.where.env;
  if (env !== 'any' && (env === 'prod') !== isProduction(manifest)) return false;
  return !rule.where.connectors || rule.where.connectors.includes(manifest.connector);
}

/**
 * Recertification of one item (a manifest, a client): a review_by date missing or past is an error
 * in the rule's `fail` environments and a warning elsewhere; one within `warn_within` warns.
 */
function reviewDue(
  r: Extract<Rule, { kind: 'review-due' }>,
  item: { what: string; owner: string; review_by?: string; prod: boolean },
  now: number,
): Hit | undefined {
  const severe: Severity = r.fail.includes(item.prod ? 'prod' : 'dev') ? 'error' : 'warning';
  const date = item.review_by;
  if (!date)
    return {
      path: 'owner',
      message: `${item.what} has no review_by date: add one next to owner (YYYY-MM-DD), when ${item.owner} must next recertify this access`,
      severity: severe,
    };
  const due = Date.parse(`${date}T00:00:00Z`) + DAY_MS; // due at the end of that day (UTC)
  const days = Math.floor((due - now) / DAY_MS);
  if (due <= now) {
    return {
      path: 'review_by',
      message: `${item.what} was due for review on ${date} (${Math.ceil((now - due) / DAY_MS) || 1} day(s) ago): ${item.owner} runs \`fleet review\` and recertifies (set a new review_by) or narrows it`,
      severity: severe,
    };
  }
  if (due - now <= parseDuration(r.warn_within)!) {
    return {
      path: 'review_by',
      message: `${item.what} is due for review on ${date} (in ${days} day(s)): run \`fleet review\` before then`,
      severity: 'warning',
    };
  }
  return undefined;
}

/**
 * The review-due rules against each client of the clients file: a client is production when it
 * may call a production instance, and a rule limited to connectors covers a client of any of them.
 */
export function checkClientReviews(fleet: FleetRules, clients: Clients, now = Date.now()): Finding[] {
  const findings: Finding[] = [];
  fleet.rules.forEach((rule, i) => {
    if (rule.kind !== 'review-due') return;
    for (const [name, c] of Object.entries(clients.clients)) {
      if (c.revoked !== undefined) continue; // a revoked client has no access to recertify
      const prod = c.instances.some((id) => productionOfId(id, dirname(clients.file)));
      const env = rule.where.env;
      if (env !== 'any' && (env === 'prod') !== prod) continue;
      if (rule.where.connectors && !c.instances.some((id) => rule.where.connectors!.includes(id.split('.')[0]!)))
        continue;
      const hit = reviewDue(rule, { what: `client ${name}`, owner: c.owner, review_by: c.review_by, prod }, now);
      if (!hit) continue;
      const path = `clients.${name}${hit.path === 'review_by' ? '.review_by' : ''}`;
      findings.push({
        rule: rule.id,
        severity: hit.severity ?? rule.severity,
        file: clients.file,
        line: clients.line(path),
        path,
        message: `${hit.message}: ${rule.why} (fleet rule ${rule.id}, ${fleet.file}:${fleet.line(`rules.${i}`)})`,
      });
    }
  });
  return findings;
}

/** Every fleet rule against one loaded manifest. */
export function checkRules(fleet: FleetRules, manifest: Manifest, connector: Connector, now = Date.now()): Finding[] {
  const findings: Finding[] = [];
  fleet.rules.forEach((rule, i) => {
    if (!selects(rule, manifest)) return;
    const tools = connector.tools
      .filter(
        (t) => manifest.tools[t.name] !== undefined && (!rule.where.access || rule.where.access.includes(t.access)),
      )
      .map((tool) => ({ tool, grant: manifest.tools[tool.name]! }));
    const check = KINDS[rule.kind] as (r: Rule, s: Scope) => Hit[];
    for (const hit of check(rule, { manifest, connector, fleet, tools, now })) {
      findings.push({
        rule: rule.id,
        severity: hit.severity ?? rule.severity,
        file: manifest.file,
        line: manifest.line(hit.path),
        path: hit.path,
        instance: manifest.id,
        tool: hit.tool,
        message: `${hit.message}: ${rule.why} (fleet rule ${rule.id}, ${fleet.file}:${fleet.line(`rules.${i}`)})`,
      });
    }
  });
  return findings;
}
