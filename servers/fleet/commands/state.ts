// `fleet state migrate`: brings a PostgreSQL store's schema to this version.
import { join } from 'node:path';
import { readStoreConfig } from '../../../shared/state/config.js';
import { instanceResolver } from '../compose/credentials.js';

export async function stateMigrate(o: { scopes: string }, out: (s: string) => void = console.log): Promise<number> {
  const cfg = readStoreConfig(o.scopes);
  if (cfg.engine !== 'postgres') {
    out(
      `${join(o.scopes, 'fleet.yaml')} names no PostgreSQL store: the embedded engine creates its files itself, nothing to migrate`,
    );
    return 0;
  }
  const { migrate } = await import('../../../shared/state/postgres.js');
  const url = await instanceResolver(o.scopes)(cfg.url);
  let r;
  try {
    r = await migrate(url);
  } catch (e) {
    throw new Error(
      `cannot migrate the PostgreSQL state store (${cfg.url}): ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`.replaceAll(
        url,
        cfg.url,
      ),
    );
  }
  out(
    r.from === r.to
      ? `state schema already at version ${r.to}: nothing to do`
      : `state schema migrated from version ${r.from} to ${r.to}`,
  );
  return 0;
}
