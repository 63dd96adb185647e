// Production as a scopes folder declares it: fleet.yaml's `production:` block and each manifest's
// pins, read for the predicate of shared/base/production.ts. For code that holds an instance id
// (clients.yaml, CLI arguments) rather than a loaded manifest.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProductionReach, parseProduction, type ProductionDecl } from '../base/production.js';
import { fromDoc, readYaml, type YamlDoc } from '../base/yaml.js';

const docOf = (file: string): YamlDoc | undefined => {
  if (!existsSync(file)) return undefined;
  try {
    return readYaml(readFileSync(file, 'utf8'), file);
  } catch {
    return undefined;
  }
};
const mapOf = (doc: YamlDoc | undefined): Record<string, unknown> | undefined =>
  doc?.data && typeof doc.data === 'object' ? (doc.data as Record<string, unknown>) : undefined;

/** The `production:` block of a scopes folder's fleet.yaml (undefined when it has none or no fleet.yaml). */
export function productionDecl(scopes: string): ProductionDecl | undefined {
  const doc = docOf(join(scopes, 'fleet.yaml'));
  return doc && fromDoc(doc, parseProduction, () => parseProduction(mapOf(doc)?.production));
}

/** Whether the instance with this id is production, judged from its manifest in the folder (or its id alone). */
export function productionOfId(id: string, scopes: string, decl = productionDecl(scopes)): boolean {
  const [connector = '', instance = ''] = id.split('.');
  const m = mapOf(docOf(join(scopes, `${id}.yaml`)));
  return isProductionReach({ connector, instance, upstream: m?.upstream as Record<string, unknown> | undefined }, decl);
}
