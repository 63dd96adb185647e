// Serve enforces what verify enforces: the same function judges the manifest (instanceFindings in
// shared/review/verify.ts), and a production instance with any error does not start; a
// development one says each on stderr and serves.
import { join } from 'node:path';
import { StartupError } from '../../../shared/base/errors.js';
import type { Log } from '../../../shared/base/log.js';
import { isProduction } from '../../../shared/connector/scopes.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import { serveFindings } from '../../../shared/review/verify.js';
import { CONNECTORS } from '../connectors.js';

export function enforceFleetRules(manifest: Manifest, scopes: string, log: Pick<Log, 'warn'>): void {
  const errors = serveFindings(manifest, CONNECTORS, join(scopes, 'fleet.yaml')).filter((f) => f.severity === 'error');
  if (errors.length && isProduction(manifest)) {
    throw new StartupError(
      `${manifest.id} breaks the fleet's rules, so this production instance does not start (fleet verify says the same):\n${errors.map((f) => `  ${f.file}:${f.line}: [${f.rule}] ${f.message}`).join('\n')}`,
    );
  }
  for (const f of errors)
    log.warn(`${f.file}:${f.line}: [${f.rule}] ${f.message} (a production instance would not start)`);
}
