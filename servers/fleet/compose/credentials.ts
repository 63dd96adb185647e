// Credential references (env:NAME, or a scheme a connector contributes) resolved to values, in one place:
// the instance's upstream, the state store's URL and the HTTP clients' secrets all come through here.
import { join } from 'node:path';
import { resolveCredential } from '../../../shared/connector/credentials.js';
import { extensionsOf } from '../../../shared/connector/extensions.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import type { Redactor } from '../../../shared/base/redaction.js';
import { CONNECTORS } from '../connectors.js';

export type Resolve = (ref: string) => Promise<string>;

/**
 * Resolves references as `manifest` may read them, with the schemes the connectors contribute
 * (CredentialScheme: a doppler: reference reads with the manifest's timeout and its scopes
 * folder's settings). `manifest` is a function for commands that load it only when a reference
 * needs it.
 */
export function credentialResolver(scopes: string, manifest: (ref: string) => Manifest): Resolve {
  const schemes = Object.fromEntries(
    extensionsOf(CONNECTORS).credentials.map((s) => [
      s.scheme,
      (ref: string) => s.resolve(ref, { env: process.env, manifest: manifest(ref), scopes, connectors: CONNECTORS }),
    ]),
  );
  return (ref) => resolveCredential(ref, process.env, schemes);
}

/** The resolver of a command that names an instance (`--instance slack.prod`): its manifest is read on need. */
export function instanceResolver(scopes: string, instance?: string): Resolve {
  return credentialResolver(scopes, (ref) => {
    if (!instance) throw new Error(`${ref}: name an --instance whose manifest may read it`);
    return loadManifest(join(scopes, `${instance}.yaml`), CONNECTORS);
  });
}

/** The state database's URL, from its credential reference; registered with the redactor at once. */
export async function resolveStoreCredential(ref: string, resolve: Resolve, redactor: Redactor): Promise<string> {
  const value = await resolve(ref);
  redactor.add(value);
  const password = /^[a-z]+:\/\/[^:/@]*:([^@]+)@/i.exec(value)?.[1];
  if (password) redactor.add(decodeURIComponent(password));
  return value;
}
