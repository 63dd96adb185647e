// `doppler:<project>/<config>/<NAME>` credential references, for any connector's manifest:
// resolved once at start through the Doppler API with the service token in DOPPLER_TOKEN (scoped
// to that one config). DOPPLER_API_URL points it elsewhere (a sandbox); default api.doppler.com.
// Every failure is one line naming the reference, never a value.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from '../../shared/base/errors.js';
import { loadManifest } from '../../shared/manifest/load.js';
import type { Manifest } from '../../shared/base/manifest.js';
import { isProduction } from '../../shared/connector/scopes.js';

export interface ResolveOptions {
  env: NodeJS.ProcessEnv;
  /** the instance asking; its siblings in `scopes` are checked for a shared reference */
  manifest: Manifest;
  scopes: string;
  timeoutMs: number;
  /** every connector, to load the sibling manifests */
  connectors: Parameters<typeof loadManifest>[1];
}

const REF = /^doppler:([^/]+)\/([^/]+)\/([^/]+)$/;

export function parseRef(ref: string): { project: string; config: string; name: string } {
  const m = REF.exec(ref);
  if (!m) throw new StartupError(`credential ${ref} is not a doppler:<project>/<config>/<NAME> reference`);
  return { project: m[1]!, config: m[2]!, name: m[3]! };
}

// Doppler's slugs are case-insensitive: Blogbot/PRD and blogbot/prd name the same secret.
const same = (a: string, b: string) => {
  const x = parseRef(a);
  const y = parseRef(b);
  return (
    x.project.toLowerCase() === y.project.toLowerCase() &&
    x.config.toLowerCase() === y.config.toLowerCase() &&
    x.name === y.name
  );
};

/** A production instance and a non-production one must never draw on the same secret. */
function refuseShared(ref: string, o: ResolveOptions): void {
  const { connectors } = o;
  const prod = isProduction(o.manifest);
  let files: string[];
  try {
    files = readdirSync(o.scopes).filter((f) => f.startsWith(`${o.manifest.connector}.`) && /\.ya?ml$/.test(f));
  } catch {
    return;
  }
  for (const f of files) {
    let other: Manifest;
    try {
      other = loadManifest(join(o.scopes, f), connectors);
    } catch {
      continue; // `fleet verify` reports a broken manifest; it cannot take this one's credential
    }
    if (other.id === o.manifest.id || isProduction(other) === prod || !other.credential.startsWith('doppler:'))
      continue;
    if (same(other.credential, ref)) {
      throw new StartupError(
        `credential ${ref} (${o.manifest.file}:${o.manifest.line('credential')}) is also the credential of ${other.id} (${other.file}:${other.line('credential')}); a dev and a prod instance never share a secret`,
      );
    }
  }
}

export async function resolveDoppler(ref: string, o: ResolveOptions): Promise<string> {
  const { project, config, name } = parseRef(ref);
  refuseShared(ref, o);
  const token = o.env.DOPPLER_TOKEN;
  if (!token)
    throw new StartupError(
      `credential ${ref} cannot be resolved: DOPPLER_TOKEN is not set (a Doppler service token for ${project}/${config})`,
    );
  const { DEFAULT_API, readSecret } = await import('./client.js');
  const api = o.env.DOPPLER_API_URL || DEFAULT_API;
  if (!/^https?:\/\/[^\s]+$/.test(api))
    throw new StartupError(`credential ${ref} cannot be resolved: DOPPLER_API_URL must be an http(s) URL`);
  let value: string | undefined;
  try {
    value = await readSecret(token, api, o.timeoutMs, project, config, name);
  } catch (e) {
    const f = e as { code?: string; message?: string };
    throw new StartupError(
      `credential ${ref} cannot be resolved: ${f.code ?? 'error'}: ${f.message ?? 'Doppler call failed'}`,
    );
  }
  if (value === undefined)
    throw new StartupError(
      `credential ${ref} cannot be resolved: Doppler has no secret ${name} in ${project}/${config}`,
    );
  if (!value) throw new StartupError(`credential ${ref} cannot be resolved: the secret is empty`);
  return value;
}
