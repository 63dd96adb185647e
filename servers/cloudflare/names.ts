// Every name or key that reaches a URL passes through here first. The SDK percent-encodes path
// parameters, but an upstream (or a proxy in front of it) that decodes them again would let
// `../` or an encoded separator walk a request across the API; so they never leave the process.
import { z } from 'zod';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;
/** %2F, %5C, %2E and %25 (which can smuggle the others through a second decode) */
const ENCODED = /%(2f|5c|2e|25)/i;

/** Why `key` may not reach a URL, or undefined when it may. Slashes inside keys are allowed; `.`/`..` segments never are. */
export function keyProblem(key: string): string | undefined {
  if (CONTROL.test(key)) return 'must not contain control characters';
  if (key.includes('\\')) return 'must not contain a backslash';
  if (ENCODED.test(key)) return 'must not contain percent-encoded separators (%2F, %5C, %2E, %25)';
  if (key.split('/').some((seg) => seg === '.' || seg === '..')) return 'must not contain "." or ".." path segments';
  return undefined;
}

/** An object or KV key: 1..max bytes, no traversal. */
export const safeKey = (what: string, max = 1024) =>
  z
    .string()
    .refine((s) => s.length > 0 && Buffer.byteLength(s) <= max, `${what} must be 1 to ${max} bytes`)
    .superRefine((s, ctx) => {
      const p = keyProblem(s);
      if (p) ctx.addIssue({ code: 'custom', message: `${what} ${p}` });
    });

/** A prefix for listings: may be empty, same rules as a key. */
export const safePrefix = (what: string) =>
  z.string().superRefine((s, ctx) => {
    if (s.length > 1024) ctx.addIssue({ code: 'custom', message: `${what} is longer than 1024 characters` });
    const p = s ? keyProblem(s) : undefined;
    if (p) ctx.addIssue({ code: 'custom', message: `${what} ${p}` });
  });

/** A name with a fixed alphabet (script, bucket, workflow): the alphabet itself rules out separators. */
export const named = (re: RegExp, message: string) => z.string().refine((s) => re.test(s), message);

export const SCRIPT = /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/;
export const BUCKET = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;
export const WORKFLOW = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$/;
export const INSTANCE = /^[A-Za-z0-9_-]{1,100}$/;
export const HEX32 = /^[0-9a-f]{32}$/;
