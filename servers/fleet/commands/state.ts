// `fleet state migrate`, and the state of an instance as the commands open it: the engine named
// by `store:` in the scopes folder's fleet.yaml, with its URL resolved from its credential reference.
import { join } from 'node:path';
import { resolveCredential } from '../../../shared/connector/credentials.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import { readStoreConfig } from '../../../shared/state/config.js';
import { openState } from '../../../shared/state/open.js';
import type { StateStore } from '../../../shared/state/store.js';
import { CONNECTORS } from '../connectors.js';

function resolver(scopes: string, instance?: string): (ref: string) => Promise<string> {
  return (ref) =>
    resolveCredential(ref, process.env, {
      doppler: async (r) => {
        if (!instance) throw new Error(`${r}: name an --instance whose manifest may read it`);
        const manifest = loadManifest(join(scopes, `${instance}.yaml`), CONNECTORS);
        return (await import('../../doppler/resolver.js')).resolveDoppler(r, { env: process.env, manifest, scopes, timeoutMs: manifest.timeoutMs, connectors: CONNECTORS });
      },
    });
}

/** The state of instance `id` (e.g. slack.prod) with the engine fleet.yaml names. */
export function instanceState(scopes: string, id: string): StateStore {
  if (!/^[a-z0-9-]+\.[a-z0-9-]+$/.test(id)) throw new Error(`--instance takes connector.env (e.g. slack.prod), not "${id}"`);
  return openState(readStoreConfig(scopes), id, scopes, process.env, resolver(scopes, id));
}

export async function stateMigrate(o: { scopes: string }, out: (s: string) => void = console.log): Promise<number> {
  const cfg = readStoreConfig(o.scopes);
  if (cfg.engine !== 'postgres') {
    out(`${join(o.scopes, 'fleet.yaml')} names no PostgreSQL store: the embedded engine creates its files itself, nothing to migrate`);
    return 0;
  }
  const { migrate } = await import('../../../shared/state/postgres.js');
  const url = await resolver(o.scopes)(cfg.url);
  let r;
  try {
    r = await migrate(url);
  } catch (e) {
    throw new Error(`cannot migrate the PostgreSQL state store (${cfg.url}): ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`.replaceAll(url, cfg.url));
  }
  out(r.from === r.to ? `state schema already at version ${r.to}: nothing to do` : `state schema migrated from version ${r.from} to ${r.to}`);
  return 0;
}
