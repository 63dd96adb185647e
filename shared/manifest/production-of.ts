// Production as a scopes folder declares it: fleet.yaml's `production:` block and each manifest's
// pins, read for the predicate of shared/base/production.ts. For code that holds an instance id
// (clients.yaml, CLI arguments) rather than a loaded manifest.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isProductionReach, parseProduction, type ProductionDecl } from '../base/production.js';

const yamlOf = (file: string): Record<string, unknown> | undefined => {
  if (!existsSync(file)) return undefined;
  try {
    const d = parse(readFileSync(file, 'utf8'));
    return d && typeof d === 'object' ? (d as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** The `production:` block of a scopes folder's fleet.yaml (undefined when it has none or no fleet.yaml). */
export function productionDecl(scopes: string): ProductionDecl | undefined {
  return parseProduction(yamlOf(join(scopes, 'fleet.yaml'))?.production);
}

/** Whether the instance with this id is production, judged from its manifest in the folder (or its id alone). */
export function productionOfId(id: string, scopes: string, decl = productionDecl(scopes)): boolean {
  const [connector = '', instance = ''] = id.split('.');
  const m = yamlOf(join(scopes, `${id}.yaml`));
  return isProductionReach({ connector, instance, upstream: m?.upstream as Record<string, unknown> | undefined }, decl);
}
