// Which state engine an instance uses: `store:` in the scopes folder's fleet.yaml. Absent means the
// embedded default. PostgreSQL is named by a credential reference like any other secret — never a
// literal URL (it would carry the password into the repository).
//
//   store:
//     engine: postgres
//     url: env:FLEET_STATE_PG          # or doppler:project/config/NAME
//     pool: 4                          # connections per process (default 4)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fleetDir } from '../base/install.js';
import { CREDENTIAL } from '../base/reference.js';
import { fromDoc, ManifestError, readYaml } from '../base/yaml.js';

export const storeConfig = z.discriminatedUnion('engine', [
  z.strictObject({
    engine: z.literal('embedded').describe('the JSONL trail and one SQLite file per instance, on this machine'),
  }),
  z.strictObject({
    engine: z.literal('postgres').describe('PostgreSQL, shared by the replicas of an instance'),
    url: z
      .string()
      .regex(
        CREDENTIAL,
        "the database URL must be a credential reference: env:NAME or a secret manager's <scheme>:<path>",
      )
      .describe('the database URL as a credential reference, never a literal URL'),
    pool: z.number().int().min(1).max(64).default(4).describe('connections per process (default 4)'),
  }),
]);
export type StoreConfig = z.infer<typeof storeConfig>;

/** Reads `store:` from the scopes folder's fleet.yaml; errors name file:line. */
export function readStoreConfig(scopes: string): StoreConfig {
  const file = join(scopes, 'fleet.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { engine: 'embedded' };
  }
  const doc = readYaml(text, file);
  const block = (doc.data as { store?: unknown } | null)?.store;
  if (block === undefined || block === null) return { engine: 'embedded' };
  const parsed = fromDoc(doc, storeConfig, () => storeConfig.safeParse(block));
  if (!parsed.success) {
    throw new ManifestError(
      parsed.error.issues.map((i) => {
        const path = ['store', ...i.path.map(String)].join('.');
        return { file, line: doc.line(path), path, message: i.message };
      }),
    );
  }
  return parsed.data;
}

/** Where the embedded engine keeps an instance's files (FLEET_AUDIT_DIR / FLEET_STATE_DIR, else .fleet/ beside the scopes folder). */
export function embeddedPaths(id: string, scopes: string, env: NodeJS.ProcessEnv): { audit: string; db: string } {
  return {
    audit: join(fleetDir('audit', scopes, env), `${id}.jsonl`),
    db: join(fleetDir('state', scopes, env), `${id}.db`),
  };
}
