// Constraint kinds a tool can offer a manifest. Each knows its manifest schema, how to test a
// fact against the granted value, and how to say what was refused and what is allowed instead.
import { z } from 'zod';
import { globMatch } from '../base/glob.js';

export interface Constraint<V> {
  schema: z.ZodType<V>;
  /** a grant must set it (deny by default); otherwise `fallback` applies */
  required: boolean;
  fallback?: V;
  /** what the constraint guards, e.g. "channel" */
  noun: string;
  allows(granted: V, value: string | number): boolean;
  /** "channel C0999 is not in" — completed by the core with "<tool>.<key> of <instance> (<file>:<line>)" */
  refusal(value: string | number): string;
  /** what the caller may do instead */
  instead(granted: V): string;
  /** the resources a grant names, for the wildcard and overlap rules of `fleet verify` */
  resources?(granted: V): string[];
  /** may be turned on only in a non-production manifest: `loadManifest` refuses it in prod */
  devOnly?: boolean;
  /**
   * Set (to why) when the constraint is grant configuration, not a check: it says what the tool does
   * (e.g. which request a smoke check makes) and governs no argument. `fleet verify` accepts it
   * governing nothing, and refuses any argument covered by it (configuration cannot check a value).
   */
  configures?: string;
}

const list = (values: string[]) => (values.length > 8 ? `${values.slice(0, 8).join(', ')}, …` : values.join(', '));

/** What an identifier looks like, so a name where an ID belongs is refused at file:line. */
export interface IdShape {
  pattern: RegExp;
  example: string;
}

/** Exact identifiers (never names, which can be renamed). `*` grants all. */
export function ids(noun: string, plural = `${noun}s`, shape?: IdShape): Constraint<string[]> {
  const item = shape
    ? z.string().regex(new RegExp(`^(?:\\*|${shape.pattern.source.replace(/^\^|\$$/g, '')})$`), {
        error: (iss) =>
          `${JSON.stringify(iss.input)} is not a ${noun} ID: grant IDs such as ${shape.example}, never names (or * for any)`,
      })
    : z.string().min(1);
  return {
    schema: z.array(item).min(1).describe(`${noun} IDs this tool may touch (never names; * for any)`),
    required: true,
    noun,
    allows: (granted, value) => granted.includes('*') || granted.includes(String(value)),
    refusal: (value) => `${noun} ${value} is not in`,
    instead: (granted) => (granted.includes('*') ? `any ${noun}` : `allowed ${plural}: ${list(granted)}`),
    resources: (granted) => granted,
  };
}

/** Name globs (`*` within a path segment, `**` across). */
export function globs(noun: string, plural = `${noun}s`): Constraint<string[]> {
  return {
    schema: z
      .array(z.string().min(1))
      .min(1)
      .describe(`${plural} this tool may touch, as globs (* within a segment, ** across)`),
    required: true,
    noun,
    allows: (granted, value) => granted.some((g) => globMatch(g, String(value))),
    refusal: (value) => `${noun} ${JSON.stringify(String(value))} matches nothing in`,
    instead: (granted) => `allowed ${plural}: ${list(granted)}`,
    resources: (granted) => granted,
  };
}

/** Keys must start with one of the prefixes. Absent: any key. */
export function prefixes(noun: string): Constraint<string | string[]> {
  const all = (g: string | string[]) => (Array.isArray(g) ? g : [g]);
  return {
    schema: z
      .union([z.string(), z.array(z.string()).min(1)])
      .describe(`${noun}s must start with this prefix (or one of these)`),
    required: false,
    fallback: '',
    noun,
    allows: (granted, value) => all(granted).some((p) => String(value).startsWith(p)),
    refusal: (value) => `${noun} ${JSON.stringify(String(value))} is outside the prefix of`,
    instead: (granted) =>
      `use ${noun}s starting with ${all(granted)
        .map((p) => JSON.stringify(p))
        .join(' or ')}`,
  };
}

/** An allowlist of plain values (emoji names, record types). Absent: `fallback`. */
export function oneOf(noun: string, fallback?: string[]): Constraint<string[]> {
  return {
    schema: z
      .array(z.string().min(1))
      .min(1)
      .describe(`the ${noun} values allowed${fallback ? '' : ' (required)'}`),
    required: fallback === undefined,
    fallback,
    noun,
    allows: (granted, value) => granted.includes('*') || granted.includes(String(value)),
    refusal: (value) => `${noun} ${JSON.stringify(String(value))} is not in`,
    instead: (granted) => `allowed: ${list(granted)}`,
  };
}

/** A capability that is off unless the grant turns it on; a fact names each use of it. */
export function flag(noun: string, instead: string): Constraint<boolean> {
  return {
    schema: z.boolean().describe(`allow ${noun} (off unless true)`),
    required: false,
    fallback: false,
    noun,
    allows: (granted) => granted,
    refusal: (value) => `${noun} ${value} is not allowed by`,
    instead: () => instead,
  };
}

/** An upper bound on a number the call carries (a length, a size). */
export function max(noun: string, fallback: number, unit = ''): Constraint<number> {
  return {
    schema: z.number().int().positive().describe(`the largest ${noun} allowed (default ${fallback}${unit})`),
    required: false,
    fallback,
    noun,
    allows: (granted, value) => Number(value) <= granted,
    refusal: (value) => `${noun} ${value}${unit} exceeds`,
    instead: (granted) => `keep ${noun} at most ${granted}${unit}`,
  };
}

/**
 * One level from an ordered list, each admitting the ones before it (`sql: read | write`): a fact
 * names the level a call needs. Absent: `fallback` (the lowest level unless given).
 */
export function choice<L extends string>(
  noun: string,
  levels: readonly [L, ...L[]],
  fallback: L = levels[0],
): Constraint<L> {
  const rank = (v: string | number) => levels.indexOf(String(v) as L);
  return {
    schema: z
      .enum(levels as unknown as [L, ...L[]])
      .describe(`the ${noun} level allowed: ${levels.join(' or ')} (default ${fallback})`),
    required: false,
    fallback,
    noun,
    allows: (granted, value) => rank(value) >= 0 && rank(value) <= rank(granted),
    refusal: (value) => `${noun} ${JSON.stringify(String(value))} is not allowed by`,
    instead: (granted) => `only ${levels.slice(0, rank(granted) + 1).join(' or ')} ${noun} is allowed here`,
  };
}
