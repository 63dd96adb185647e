// What the upstream answered, as the client may see it: cut to the grant, then to the limit,
// checked against the tool's output schema, redacted.
import type { ToolContext, ToolDef } from '../connector/tool.js';
import type { CallWith } from './in-flight.js';

/** A call's answer, shaped (shapeOutput) and redacted with the instance's secrets. */
export function shapeAnswer(c: CallWith<'tool' | 'args' | 'ctx'>, raw: unknown): Record<string, unknown> {
  return c.inst.redactor.deep(shapeOutput(c.tool, c.args, c.ctx, raw)) as Record<string, unknown>;
}

/** A tool's answer cut to the grant, then to the limit, then checked against its output schema. */
export function shapeOutput(
  tool: ToolDef,
  args: Record<string, unknown>,
  ctx: ToolContext<unknown>,
  raw: unknown,
): Record<string, unknown> {
  const narrowed = tool.filter ? tool.filter(raw as never, ctx) : raw;
  const listed = limitLists(tool, args, grantedItems(tool, ctx, narrowed as Record<string, unknown>));
  return tool.output.parse(listed) as Record<string, unknown>;
}

/** Each declared list keeps only the items whose every fact the grant allows. */
export function grantedItems(
  tool: ToolDef,
  ctx: ToolContext<unknown>,
  out: Record<string, unknown>,
): Record<string, unknown> {
  if (!tool.lists) return out;
  const kept = { ...out };
  for (const [field, keys] of Object.entries(tool.lists)) {
    const items = out[field];
    if (!Array.isArray(items))
      throw new TypeError(`${tool.name} declares list "${field}", but its output has no such array`);
    const by = Object.entries(keys);
    kept[field] = items.filter((item) => by.every(([on, value]) => ctx.allows(on, value(item))));
  }
  return kept;
}

/** Then each declared list is cut to the call's limit: filter first, limit second, in every list. */
export function limitLists(
  tool: ToolDef,
  args: Record<string, unknown>,
  out: Record<string, unknown>,
): Record<string, unknown> {
  const n = tool.limit?.(args);
  if (n === undefined || !tool.lists) return out;
  const cut = { ...out };
  for (const field of Object.keys(tool.lists)) cut[field] = (out[field] as unknown[]).slice(0, n);
  return cut;
}
