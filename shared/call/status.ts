// What a write or destructive call reports in structuredContent, so a workflow can branch on it.
import { z } from 'zod';
import type { ToolDef } from '../connector/tool.js';

export const STATUSES = [
  'completed',
  'denied',
  'pending_approval',
  'approval_declined',
  'approval_expired',
  'replayed',
  'failed',
] as const;
export type Status = (typeof STATUSES)[number];

const cache = new WeakMap<ToolDef, z.ZodObject>();

/** A write tool's listed output: its fields (absent unless completed) plus `status` and a `message`. */
export function outputSchema(tool: ToolDef): z.ZodObject {
  if (tool.access === 'read') return tool.output;
  let s = cache.get(tool);
  if (!s)
    cache.set(tool, (s = tool.output.partial().extend({ status: z.enum(STATUSES), message: z.string().optional() })));
  return s;
}
