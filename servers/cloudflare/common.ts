// What the Cloudflare tools share: the client they are handed, argument schemas, constraints and
// annotations. Every call is made in the manifest's pinned account; no tool takes an account.
import { z } from 'zod';
import type Cloudflare from 'cloudflare';
import {
  choice,
  globs,
  ids,
  oneOf,
  prefixes,
  type Constraint,
  type IdShape,
} from '../../shared/connector/constraints.js';
import type { ToolDef } from '../../shared/connector/tool.js';
import { HEX32, named } from './names.js';

export interface CF {
  api: Cloudflare;
  /** the manifest's pinned account */
  account: string;
  /** zone ID → owning account, learned once per zone */
  zoneAccounts: Map<string, string>;
  /** D1 database ID → its schema (CREATE statements) and when it was read */
  schemas: Map<string, { at: number; ddl: string[] }>;
  /** where a deployed Worker answers (its workers.dev origin, or the sandbox's), for smoke checks */
  routeOf?: (script: string) => string;
}

export const hexId = (what: string) =>
  named(HEX32, `must be a ${what} ID: 32 lower-case hex characters`).describe(`${what} ID`);
// Bounds are checked by refine so they stay out of the listed schema: the model pays for every
// byte of it on every turn, and the error message says the same thing when it matters.
export const whole = (ok: (n: number) => boolean, message: string) =>
  z.number().refine((n) => Number.isInteger(n) && ok(n), message);
export const maxItems = (top: number) => whole((n) => n >= 1 && n <= top, `must be a whole number from 1 to ${top}`);
export const text = (max: number, what = 'text') =>
  z.string().refine((s) => s.length >= 1 && s.length <= max, `${what} must be 1 to ${max} characters`);

/** Cloudflare resource IDs: 32 lower-case hex characters. */
const HEX_ID: IdShape = { pattern: HEX32, example: '1d0e5f0c2b4a49e7a1c3e5f7a9b1d3e5' };

/** A constraint that is off (empty) unless a grant lists values: for resources a call may optionally touch. */
function optionalIds(noun: string, plural: string, shape?: IdShape): Constraint<string[]> {
  const c = ids(noun, plural, shape);
  return {
    ...c,
    required: false,
    fallback: [],
    instead: (g) => (g.length ? c.instead(g) : `list the ${plural} this tool may bind in the grant`),
  };
}

/** The smoke check a grant declares: a GET of `path` on the deployment must answer `status` (and this body digest). */
const smokeSchema = z
  .strictObject({
    path: z
      .string()
      .regex(
        /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/,
        'path is the URL path to request, such as /health',
      )
      .describe('the URL path smoke_check_worker requests on the deployment, such as /health'),
    status: z
      .number()
      .int()
      .min(100)
      .max(599)
      .default(200)
      .describe('the HTTP status the deployment must answer (default 200)'),
    body_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'body_sha256 is a sha256 in lower-case hex')
      .describe('the sha256 (lower-case hex) the answer body must have')
      .optional(),
  })
  .describe('what smoke_check_worker requests on the deployment and expects back');
export type Smoke = z.infer<typeof smokeSchema>;
const smoke: Constraint<Smoke> = {
  schema: smokeSchema as unknown as z.ZodType<Smoke>,
  required: true,
  noun: 'smoke check',
  configures: 'what smoke_check_worker requests and expects; fixed by the grant, it checks no argument',
  // configuration: no argument is checked against it (coverProblems refuses one that tries)
  allows: () => true,
  refusal: () => 'the smoke check is fixed by',
  instead: (g) => `the grant checks ${g.path} for HTTP ${g.status}`,
};

export const C = {
  smoke,
  scripts: globs('script'),
  namespaces: ids('KV namespace', 'KV namespaces', HEX_ID),
  key_prefix: prefixes('key'),
  buckets: ids('bucket'),
  databases: ids('database', 'databases', HEX_ID),
  sql: choice('sql', ['read', 'write'] as const),
  workflows: globs('workflow'),
  zones: ids('zone', 'zones', HEX_ID),
  names: globs('record name'),
  types: oneOf('record type'),
  /** listings: names/types narrow what is shown, all when absent */
  listNames: { ...globs('record name'), required: false, fallback: ['**'] } as Constraint<string[]>,
  listTypes: oneOf('record type', ['*']),
  bindNamespaces: optionalIds('KV namespace', 'KV namespaces', HEX_ID),
  bindBuckets: optionalIds('bucket', 'buckets'),
  bindDatabases: optionalIds('database', 'databases', HEX_ID),
};

export { DESTROY, READ, WRITE } from '../../shared/connector/tool.js';

/** A ToolDef with the Cloudflare client type fixed, so arguments and results stay typed. */
export const cfTool = <I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<CF, I, O>) => def;

/**
 * How many items a list tool walks at most. The core filters what was walked to the grant and only
 * then cuts it to the tool's limit, so this bounds the upstream work, never what the grant shows.
 */
export const WALK = 10_000;
/** What a listing without a limit argument shows at most (after filtering). */
export const SHOWN = 1000;

/** Collects an auto-paginating SDK list up to `max` items (unfiltered: the core filters, then limits). */
export async function collect<T>(pages: AsyncIterable<T>, max: number, signal: AbortSignal): Promise<T[]> {
  const out: T[] = [];
  for await (const item of pages) {
    out.push(item);
    if (out.length >= max || signal.aborted) break;
  }
  return out;
}

export const lines = (items: string[], empty: string) => items.join('\n') || empty;
