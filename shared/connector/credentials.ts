// Credential references (`env:NAME`, `doppler:project/config/NAME`) resolved to values. A value
// is registered with the redactor before anything else sees it.
import { StartupError } from '../base/errors.js';

export type Resolver = (ref: string) => Promise<string>;

export function resolveEnv(ref: string, env: NodeJS.ProcessEnv): string {
  const name = ref.slice('env:'.length);
  const value = env[name];
  if (!value) throw new StartupError(`credential ${ref} is not set: export ${name}, or run with --sandbox`);
  return value;
}

export async function resolveCredential(
  ref: string,
  env: NodeJS.ProcessEnv,
  resolvers: Record<string, Resolver> = {},
): Promise<string> {
  const scheme = ref.slice(0, ref.indexOf(':'));
  if (scheme === 'env') return resolveEnv(ref, env);
  const resolve = resolvers[scheme];
  if (!resolve) throw new StartupError(`credential ${ref}: no resolver for "${scheme}:" references`);
  return resolve(ref);
}
