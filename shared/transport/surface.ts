// What a client is shown for each granted tool: name, description, input schema, output schema
// and annotations. Kept lean: the model pays for these bytes on every turn.
import { z } from 'zod';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolDef } from '../connector/tool.js';
import { outputSchema } from '../call/status.js';

/**
 * String length bounds stay out of the listed input schema: the server enforces them with a clear
 * error, and a model pays for their bytes on every turn while almost never needing them.
 */
function lean(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(lean);
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.type === 'string') {
    delete o.minLength;
    delete o.maxLength;
  }
  for (const v of Object.values(o)) lean(v);
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Tool['inputSchema'] {
  const js = z.toJSONSchema(schema, { target: 'draft-7', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete js.$schema;
  if (io === 'input') {
    delete js.additionalProperties;
    lean(js.properties);
  }
  return js as Tool['inputSchema'];
}

const described = new WeakMap<ToolDef, Tool>();

/** A tool as listed; rendered once per tool (and ahead of time in the start-up snapshot). */
export function describeTool(tool: ToolDef): Tool {
  let t = described.get(tool);
  if (!t) described.set(tool, (t = render(tool)));
  return t;
}

function render(tool: ToolDef): Tool {
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: jsonSchema(tool.input, 'input'),
    outputSchema: jsonSchema(outputSchema(tool), 'output') as Tool['outputSchema'],
    annotations: { ...tool.annotations },
  };
}

/**
 * The granted tools as listed. A tool whose grant may wait on a person (an approval) may run as an
 * MCP task (`execution.taskSupport: optional`): the client may ask for one and poll for the result.
 */
export function surface(tools: Iterable<ToolDef>, grants: Record<string, { approval?: unknown }> = {}): Tool[] {
  return [...tools].map((t) =>
    grants[t.name]?.approval
      ? { ...describeTool(t), execution: { taskSupport: 'optional' as const } }
      : describeTool(t),
  );
}
