// What the Doppler tools share: the client they call, argument schemas, constraints, annotations.
import { z } from 'zod';
import { flag, globs } from '../../shared/connector/constraints.js';
import {
  type Annotations,
  type ToolContext,
  type ToolDef,
  WRITE as SHARED_WRITE,
} from '../../shared/connector/tool.js';

export interface Project {
  slug: string;
  name: string;
  description?: string;
}
export interface ConfigInfo {
  name: string;
  environment: string;
  root: boolean;
  locked: boolean;
}
/**
 * A secret as the server holds it; its values never leave the server unless a grant reveals them.
 * `raw` is what was set (tools report and reveal it: expanding `${OTHER}` references would show
 * secrets the grant may not cover); `computed` is what an application receives (credentials).
 */
export interface SecretValue {
  name: string;
  raw: string;
  computed: string;
}
export interface LogEntry {
  id: string;
  text: string;
  created_at: string;
  user?: string;
  rollback: boolean;
}

/**
 * The slice of Doppler the tools use. Implemented in client.ts (the only module importing the
 * SDK): every call has a timeout, writes are never retried, errors carry no values.
 */
export interface Doppler {
  projects(): Promise<Project[]>;
  configs(project: string): Promise<ConfigInfo[]>;
  names(project: string, config: string): Promise<string[]>;
  /** undefined when the config has no such secret */
  secret(project: string, config: string, name: string): Promise<SecretValue | undefined>;
  secrets(project: string, config: string): Promise<Map<string, string>>;
  set(project: string, config: string, name: string, value: string): Promise<void>;
  delete(project: string, config: string, name: string): Promise<void>;
  logs(project: string, config: string, limit: number): Promise<LogEntry[]>;
  /** names a change log entry touched (its values are dropped in the client) */
  logNames(project: string, config: string, id: string): Promise<string[]>;
}

// Patterns are checked by refine so they stay out of the listed schema. They are also what keeps
// a name safe inside the SDK's URLs, which it does not encode per parameter.
/** project slugs and config names */
export const SLUG = /^[a-z0-9][a-z0-9_-]{0,79}$/;
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;

export const configName = z
  .string()
  .refine((s) => SLUG.test(s), 'must be a config name such as dev or prd')
  .describe('Config name (dev, prd, …)');
export const secretName = z
  .string()
  .refine((s) => SECRET_NAME.test(s), 'must be a secret name in upper case, digits and _ such as API_KEY')
  .describe('Secret name (UPPER_CASE)');

export const C = {
  configs: globs('config'),
  // A secret name is a resource only inside its config (dev and prd both hold API_KEY): `configs`
  // names the resources for verify's sharing and wildcard rules, so this one names none.
  secrets: { ...globs('secret'), resources: undefined },
  reveal: {
    ...flag(
      'secret value',
      'call get_secret without reveal: it says whether the secret is set, its length and when it last changed',
    ),
    devOnly: true as const,
  },
};

export { DESTROY, READ } from '../../shared/connector/tool.js';
/** Doppler's writes set a secret to a value: setting it again to the same value changes nothing. */
export const WRITE: Annotations = { ...SHARED_WRITE, idempotentHint: true };

export const project = (ctx: ToolContext<Doppler>): string => ctx.manifest.upstream.project as string;

/** A ToolDef with the Doppler client type fixed, so arguments and results stay typed. */
export const dopplerTool = <I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<Doppler, I, O>) => def;

/** A Doppler failure with a code and a message that never carries a secret value. */
export class DopplerFailure extends Error {
  override name = 'DopplerFailure';
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}
