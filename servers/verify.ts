// `fleet verify`: every manifest under the scopes folder must load, and a connector's instances
// must not share a credential reference.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest, ManifestError, type ManifestProblem } from '../shared/manifest/load.js';
import type { Manifest } from '../shared/manifest/schema.js';
import { CONNECTORS } from './connectors.js';

export function manifestFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^[a-z0-9-]+\.[a-z0-9-]+\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export function verifyScopes(dir: string): { manifests: Manifest[]; problems: ManifestProblem[] } {
  const manifests: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  for (const file of manifestFiles(dir)) {
    try {
      manifests.push(loadManifest(file, CONNECTORS));
    } catch (e) {
      if (e instanceof ManifestError) problems.push(...e.problems);
      else throw e;
    }
  }
  const byCredential = new Map<string, Manifest>();
  for (const m of manifests) {
    const other = byCredential.get(m.credential);
    if (other) {
      problems.push({ file: m.file, line: m.line('credential'), path: 'credential', message: `shares credential ${m.credential} with ${other.id} (${other.file}:${other.line('credential')}); each instance needs its own` });
    } else byCredential.set(m.credential, m);
  }
  return { manifests, problems };
}
