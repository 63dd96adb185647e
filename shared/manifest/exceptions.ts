// Time-boxed exceptions (break-glass): a manifest's `exceptions:` each add one tool, or more on a
// granted tool, between `starts` (default: always) and `expires`. Outside that window an exception
// does not exist: `effective(manifest, now)` is the manifest with the active ones applied, which is
// what an instance lists and enforces. An exception with no expiry, or approved by its own owner, is
// never active (and `fleet verify` refuses it, rule kind exception-limits).
import type { Grant } from '../base/manifest.js';
import type { Exception, Manifest } from '../base/manifest.js';
import { sameId } from '../base/identity.js';

const bases = new WeakMap<Manifest, Manifest>();

/** The manifest as written, behind an effective one. */
export function baseOf(m: Manifest): Manifest {
  return bases.get(m) ?? m;
}

/** Whether an exception's owner approved it themselves, judged on canonical IDs (and on the directory's links when given). */
export function selfApproved(e: Exception, idsOf?: (id: string) => string[] | undefined): boolean {
  return sameId(e.approver, e.owner) || !!idsOf?.(e.owner)?.includes(e.approver);
}

export function isActive(e: Exception, now: number): boolean {
  if (!e.expires || selfApproved(e)) return false;
  return (!e.starts || Date.parse(e.starts) <= now) && now < Date.parse(e.expires);
}

/** The next instant at which some exception starts or ends (to re-list tools), if any. */
export function nextChange(m: Manifest, now: number): number | undefined {
  const times = (baseOf(m).exceptions ?? [])
    .flatMap((e) => [e.starts, e.expires])
    .filter((t): t is string => !!t)
    .map((t) => Date.parse(t))
    .filter((t) => t > now);
  return times.length ? Math.min(...times) : undefined;
}

function merge(base: Grant | undefined, extra: Grant): Grant {
  if (!base) return { ...extra };
  const out: Grant = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const b = base[k];
    out[k] = Array.isArray(b) && Array.isArray(v) ? [...new Set([...b, ...v])] : v;
  }
  return out;
}

/**
 * The manifest with the exceptions that `active` admits applied: an exception's grant is the whole
 * grant of a tool the manifest does not grant, or is merged into the granted one (lists united,
 * other keys the exception's). Lines of exception-granted keys point into the exception.
 */
export function applyExceptions(
  m: Manifest,
  active: (e: Exception) => boolean,
): Manifest & { activeExceptions: Map<string, Exception> } {
  const base = baseOf(m);
  const on = (base.exceptions ?? []).map((e, i) => ({ e, i })).filter(({ e }) => active(e));
  if (!on.length) {
    const same = { ...base, activeExceptions: new Map<string, Exception>() };
    bases.set(same, base);
    return same;
  }
  const tools = { ...base.tools };
  const where = new Map<string, { i: number; whole: boolean; keys: Set<string> }>();
  const byTool = new Map<string, Exception>();
  for (const { e, i } of on) {
    const whole = tools[e.tool] === undefined;
    tools[e.tool] = merge(tools[e.tool], e.grant);
    where.set(e.tool, { i, whole, keys: new Set(Object.keys(e.grant)) });
    byTool.set(e.tool, e);
  }
  const line = (path: string): number => {
    const [top, tool, key] = path.split('.');
    const w = top === 'tools' && tool ? where.get(tool) : undefined;
    if (w && (w.whole || (key && w.keys.has(key)))) {
      const rest = path.split('.').slice(2).join('.');
      return base.line(`exceptions.${w.i}${rest ? `.grant.${rest}` : ''}`);
    }
    return base.line(path);
  };
  const eff = { ...base, tools, line, activeExceptions: byTool };
  bases.set(eff, base);
  return eff;
}

/** What an instance lists and enforces at `now`. */
export function effective(m: Manifest, now: number): Manifest & { activeExceptions: Map<string, Exception> } {
  return applyExceptions(m, (e) => isActive(e, now));
}

/** Every exception applied, whatever its window: what `fleet verify` checks the fleet rules against. */
export function withAllExceptions(m: Manifest): Manifest {
  return applyExceptions(m, () => true);
}

/** The exception a manifest's effective grant of `tool` comes from, if any. */
export function exceptionFor(m: Manifest, tool: string): Exception | undefined {
  return (m as Partial<ReturnType<typeof effective>>).activeExceptions?.get(tool);
}
