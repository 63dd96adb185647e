// Opens an instance's state with the engine its fleet.yaml names. Nothing is connected or loaded
// here: each engine opens its database (and loads its native or network driver) on first use.
import { EmbeddedState } from './embedded.js';
import { PostgresState } from './postgres.js';
import { embeddedPaths, type StoreConfig } from './config.js';
import type { StateStore, TrailHooks } from './store.js';

/** `resolve` turns the credential reference of a PostgreSQL URL into its value. */
export function openState(
  cfg: StoreConfig,
  id: string,
  scopes: string,
  env: NodeJS.ProcessEnv,
  resolve: (ref: string) => Promise<string>,
  hooks: TrailHooks = {},
): StateStore {
  if (cfg.engine === 'postgres') return new PostgresState(id, () => resolve(cfg.url), cfg.pool, hooks);
  const p = embeddedPaths(id, scopes, env);
  return new EmbeddedState(p.audit, p.db, id, hooks);
}
