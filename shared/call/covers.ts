// What a call touches, derived from the tool's declaration of what governs each argument (ToolDef
// `covers`): a tool cannot forget to report a constrained argument, because the core reads the
// argument itself. `coverProblems` is the static check behind `fleet verify` and the unit test.
import type { Cover, Fact, ToolDef } from '../connector/tool.js';

const list = (c: Cover | readonly Cover[]): readonly Cover[] => (Array.isArray(c) ? c : [c as Cover]);

/** The facts the core derives from the arguments present, in the order the tool declares them. */
export function derivedFacts(tool: ToolDef, args: Record<string, unknown>): Fact[] {
  const facts: Fact[] = [];
  for (const [arg, cover] of Object.entries(tool.covers ?? {})) {
    const v = args[arg];
    if (v === undefined) continue;
    for (const c of list(cover as Cover | Cover[])) {
      if (!('on' in c)) continue;
      const got = c.value ? c.value(v, args) : (v as string | number);
      for (const value of Array.isArray(got) ? got : [got]) facts.push({ on: c.on, value });
    }
  }
  return facts;
}

/** Constraint keys `facts()` must report because an argument they judge by look-up is set. */
export function lookedUp(tool: ToolDef, args: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const [arg, cover] of Object.entries(tool.covers ?? {})) {
    if (args[arg] === undefined) continue;
    for (const c of list(cover as Cover | Cover[])) if ('lookup' in c) keys.push(...c.lookup);
  }
  return keys;
}

/**
 * What is wrong with a tool's declaration: an argument nothing governs, a cover naming no
 * constraint of the tool (or one that is grant configuration), a constraint that governs nothing
 * (no argument, look-up or list) unless it declares itself configuration (`configures`).
 */
export function coverProblems(tool: ToolDef): string[] {
  const problems: string[] = [];
  const covers = (tool.covers ?? {}) as Record<string, Cover | Cover[]>;
  const used = new Set<string>(Object.values(tool.lists ?? {}).flatMap((keys) => Object.keys(keys)));
  for (const arg of Object.keys(tool.input.shape)) {
    const cover = covers[arg];
    if (!cover || list(cover).length === 0) {
      problems.push(
        `${tool.name}: argument "${arg}" is governed by no constraint; cover it with on(<constraint>) or lookup(...), or declare it free('why')`,
      );
      continue;
    }
    for (const c of list(cover)) {
      const keys = 'on' in c ? [c.on] : 'lookup' in c ? c.lookup : [];
      if ('free' in c && !c.free.trim())
        problems.push(`${tool.name}: argument "${arg}" is declared free without a reason`);
      for (const k of keys) {
        if (!tool.constraints[k])
          problems.push(`${tool.name}: argument "${arg}" names constraint "${k}", which the tool does not declare`);
        else if (tool.constraints[k]!.configures !== undefined)
          problems.push(
            `${tool.name}: argument "${arg}" names constraint "${k}", which is grant configuration and checks no argument`,
          );
        used.add(k);
      }
    }
  }
  for (const arg of Object.keys(covers))
    if (!(arg in tool.input.shape)) problems.push(`${tool.name}: covers names "${arg}", which is not an argument`);
  for (const [k, c] of Object.entries(tool.constraints)) {
    if (c.configures !== undefined) {
      if (!c.configures.trim())
        problems.push(`${tool.name}: constraint "${k}" is declared configuration without a reason`);
      continue;
    }
    if (!used.has(k))
      problems.push(
        `${tool.name}: constraint "${k}" governs no argument, look-up or list, so a grant of it would check nothing`,
      );
  }
  return problems;
}
