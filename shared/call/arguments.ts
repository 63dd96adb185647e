// A call's arguments as the trail keeps them, and as a refusal describes them.
import { sha256 } from '../audit/chain.js';
import type { ToolDef } from '../connector/tool.js';

/** Bodies as length + sha256 (unless the manifest keeps them), secrets as their length only. */
export function auditArgs(
  tool: ToolDef,
  args: Record<string, unknown>,
  bodies: 'hash' | 'keep',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    const as = (tool.audit as Record<string, string> | undefined)?.[k];
    const text = typeof v === 'string' ? v : JSON.stringify(v ?? null);
    if (as === 'secret') out[k] = { len: text.length };
    else if (as === 'body' && bodies === 'hash') out[k] = { len: text.length, sha256: sha256(text) };
    else out[k] = v;
  }
  return out;
}

/** What is wrong with arguments that fail the tool's input schema, one clause per issue. */
export function inputProblem(err: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}
