// The decision: deny by default, every refusal naming its rule, the manifest line behind it and
// what is allowed instead.
import { META } from '../base/wire.js';
import type { Attribution } from './attribution.js';
import type { Manifest } from '../base/manifest.js';
import { attributionRule } from '../manifest/attribution.js';
import type { Fact, ToolDef } from '../connector/tool.js';

export type Decision = { allow: true } | { allow: false; rule: string; message: string };

export function where(manifest: Manifest, path: string): string {
  return `${manifest.file}:${manifest.line(path)}`;
}

export function decide(tool: ToolDef, manifest: Manifest, facts: Fact[], who: Partial<Attribution>): Decision {
  const grant = manifest.tools[tool.name];
  if (!grant) {
    return {
      allow: false,
      rule: 'tools',
      message: `denied: ${tool.name} is not granted by ${manifest.id} (${where(manifest, 'tools')})`,
    };
  }
  if (attributionRule(manifest.attribution).required && !who.actor) {
    return {
      allow: false,
      rule: 'attribution',
      message:
        `denied: ${manifest.id} requires attribution (${where(manifest, 'attribution')}); ` +
        `pass _meta "${META.actor}" (and "${META.thread}") with the call, or set FLEET_ACTOR for the server`,
    };
  }
  for (const fact of facts) {
    const c = tool.constraints[fact.on];
    const set = grant[fact.on] !== undefined;
    const granted = set ? grant[fact.on] : c?.fallback;
    const path = `tools.${tool.name}.${fact.on}`;
    if (!c || granted === undefined) {
      return {
        allow: false,
        rule: path,
        message: `denied: ${tool.name} has no ${fact.on} grant in ${manifest.id} (${where(manifest, `tools.${tool.name}`)})`,
      };
    }
    if (!c.allows(granted, fact.value)) {
      const origin = set ? where(manifest, path) : `default, ${where(manifest, `tools.${tool.name}`)}`;
      return {
        allow: false,
        rule: path,
        message: `denied: ${c.refusal(fact.value)} ${tool.name}.${fact.on} of ${manifest.id} (${origin}); ${c.instead(granted)}`,
      };
    }
  }
  return { allow: true };
}

/** The constraint check as a predicate, for filtering lists to what the grant covers. */
export function allows(tool: ToolDef, manifest: Manifest, on: string, value: string | number): boolean {
  const grant = manifest.tools[tool.name] ?? {};
  const c = tool.constraints[on];
  const granted = grant[on] !== undefined ? grant[on] : c?.fallback;
  return !!c && granted !== undefined && c.allows(granted, value);
}
