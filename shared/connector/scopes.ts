// Compares what the upstream token really holds with what the manifest declares.
import { productionByName } from '../base/production.js';
import type { Manifest } from '../base/manifest.js';
import type { Connector, ToolDef } from './tool.js';
import type { Grant } from '../base/manifest.js';

/** The upstream permissions a tool needs under a grant. */
export function needsOf(tool: ToolDef, grant: Grant | undefined): string[] {
  return [...tool.needs, ...(grant && tool.grantNeeds ? tool.grantNeeds(grant) : [])];
}

/** Everything the instance's token needs: its granted tools', and the call path's own (a proof read). */
export function neededBy(
  connector: Connector,
  manifest: Manifest,
  tools: Record<string, Grant | undefined> = manifest.tools,
): Set<string> {
  const granted = connector.tools.filter((t) => tools[t.name]);
  return new Set([...granted.flatMap((t) => needsOf(t, tools[t.name])), ...(connector.pathNeeds?.(manifest) ?? [])]);
}

/** Whether a loaded manifest's instance is production (decided once, at load: shared/base/production.ts). */
export function isProduction(manifest: Manifest): boolean {
  return manifest.production ?? productionByName(manifest.instance);
}

export interface ScopeCheck {
  /** held by the token but not declared: refused for prod, warned for dev */
  excess: string[];
  /** needed by a granted tool but not held: those tools will fail */
  missing: string[];
}

export function checkHeld(connector: Connector, manifest: Manifest, held: string[]): ScopeCheck {
  const declared = new Set(connector.declared(manifest.upstream));
  const has = new Set(held);
  const needed = neededBy(connector, manifest);
  return { excess: held.filter((s) => !declared.has(s)), missing: [...needed].filter((s) => !has.has(s)) };
}
