// The store: what an instance remembers between calls (its trail, rate windows, idempotency keys,
// approvals, suspensions), with the engine fleet.yaml's `store:` names and its URL resolved from
// its credential reference.
import { openState } from '../../../shared/state/open.js';
import { readStoreConfig, type StoreConfig } from '../../../shared/state/config.js';
import type { StateStore, TrailHooks } from '../../../shared/state/store.js';
import type { Redactor } from '../../../shared/base/redaction.js';
import { instanceResolver, resolveStoreCredential, type Resolve } from './credentials.js';

/** The store of instance `id` (e.g. slack.prod) as a command opens it, with the engine fleet.yaml names. */
export function instanceStore(scopes: string, id: string): StateStore {
  if (!/^[a-z0-9-]+\.[a-z0-9-]+$/.test(id))
    throw new Error(`--instance takes connector.env (e.g. slack.prod), not "${id}"`);
  return openState(readStoreConfig(scopes), id, scopes, process.env, instanceResolver(scopes, id));
}

/** A serving instance's store, opened on first use; its URL (and password) registered with the redactor. */
export function servingStore(
  cfg: StoreConfig,
  scopes: string,
  id: string,
  resolve: Resolve,
  redactor: Redactor,
  hooks: TrailHooks,
): StateStore {
  return openState(cfg, id, scopes, process.env, (ref) => resolveStoreCredential(ref, resolve, redactor), hooks);
}
