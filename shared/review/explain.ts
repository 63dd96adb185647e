// `fleet verify --explain`: per instance, what it grants (tools, resources, approvals, rates) and
// the upstream permissions those tools need, beside what the manifest declares.
import { describeAttribution } from '../manifest/attribution.js';
import type { Manifest } from '../base/manifest.js';
import { isProduction, needsOf } from '../connector/scopes.js';
import type { Connector } from '../connector/tool.js';

export interface ExplainedTool {
  name: string;
  access: string;
  /** every constraint with its effective value (set, or the default) */
  constraints: Record<string, unknown>;
  approval?: unknown;
  rate?: unknown;
  needs: string[];
}

export interface Explained {
  instance: string;
  file: string;
  production: boolean;
  owner: string;
  /** the reference the process resolves: the standing token, the broker, or the refresh token */
  credential: string;
  /** how the upstream token is had: minted per run, rotated, or standing */
  credential_kind: string;
  attribution: string;
  tools: ExplainedTool[];
  needs: string[];
  declared: string[];
}

export function explain(m: Manifest, connector: Connector): Explained {
  const tools = connector.tools
    .filter((t) => m.tools[t.name] !== undefined)
    .map((t): ExplainedTool => {
      const grant = m.tools[t.name]!;
      const constraints: Record<string, unknown> = {};
      for (const [key, c] of Object.entries(t.constraints)) {
        const v = grant[key] !== undefined ? grant[key] : c.fallback;
        if (v !== undefined) constraints[key] = v;
      }
      return {
        name: t.name,
        access: t.access,
        constraints,
        approval: grant.approval,
        rate: grant.rate,
        needs: needsOf(t, grant),
      };
    });
  return {
    instance: m.id,
    file: m.file,
    production: isProduction(m),
    owner: m.owner,
    credential: m.credential,
    credential_kind: m.mint
      ? `minted from broker (ttl ${m.mint.ttl})`
      : m.rotate
        ? 'rotated from refresh token'
        : 'standing',
    attribution: describeAttribution(m.attribution),
    tools,
    needs: [...new Set(tools.flatMap((t) => t.needs))].sort(),
    declared: [...connector.declared(m.upstream)].sort(),
  };
}

const show = (v: unknown): string =>
  Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v ? JSON.stringify(v) : String(v);

function approvalText(a: unknown): string {
  const ap = a as { via?: string; approvers?: unknown[]; timeout?: string };
  return `approval via ${ap.via ?? '?'}${ap.approvers ? ` by ${ap.approvers.join(', ')}` : ''}${ap.timeout ? ` within ${ap.timeout}` : ''}`;
}

export function explainText(all: Explained[]): string {
  const out: string[] = [];
  for (const e of all) {
    const same = e.needs.join() === e.declared.join();
    out.push(
      `${e.instance} (${e.file})${e.production ? ' — production' : ''}`,
      `  owner ${e.owner}; credential ${e.credential_kind} ${e.credential}; attribution ${e.attribution}`,
      `  upstream permissions needed: ${e.needs.join(', ') || 'none'}`,
      `  declared by the manifest:    ${same ? 'the same' : e.declared.join(', ') || 'none'}`,
      `  tools (${e.tools.length}):`,
    );
    const width = Math.max(0, ...e.tools.map((t) => t.name.length));
    for (const t of e.tools) {
      const cs = Object.entries(t.constraints)
        .map(([k, v]) => `${k}: ${show(v)}`)
        .join('; ');
      out.push(
        `    ${t.name.padEnd(width)}  ${t.access.padEnd(11)} ${cs || 'no constraints'}${t.needs.length ? `  [needs ${t.needs.join(', ')}]` : ''}`,
      );
      if (t.approval) out.push(`    ${''.padEnd(width)}  ${''.padEnd(11)} ${approvalText(t.approval)}`);
      if (t.rate) out.push(`    ${''.padEnd(width)}  ${''.padEnd(11)} rate ${show(t.rate)}`);
    }
    out.push('');
  }
  return out.join('\n');
}
