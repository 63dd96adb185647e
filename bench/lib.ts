// What the bench needs from the project's own source, bundled by esbuild when the bench runs:
// the registered connectors (to find instances and start their sandboxes), the manifest loader,
// and the audit log and chain check. Nothing here is in the shipped CLI.
import { AuditLog } from '../shared/audit/log.js';
import { fileLines, verifyLines } from '../shared/audit/verify.js';
import { loadManifest } from '../shared/manifest/load.js';
import type { Manifest } from '../shared/manifest/schema.js';
import { CONNECTORS } from '../servers/fleet/connectors.js';
import { manifestFiles } from '../shared/review/verify.js';

export { CONNECTORS };

export interface InstanceInfo {
  connector: string;
  env: string;
  manifest: Manifest;
}

/**
 * Every instance in the scopes folder whose connector is registered. A manifest of a connector
 * that is not registered (yet) is skipped and named, so the bench picks up new connectors alone.
 */
export function discover(scopes: string): { instances: InstanceInfo[]; skipped: string[] } {
  const instances: InstanceInfo[] = [];
  const skipped: string[] = [];
  for (const file of manifestFiles(scopes)) {
    const [connector, env] = file.split('/').pop()!.split('.');
    if (!CONNECTORS[connector!]) {
      skipped.push(`${file} (connector "${connector}" is not registered)`);
      continue;
    }
    instances.push({ connector: connector!, env: env!, manifest: loadManifest(file, CONNECTORS) });
  }
  return { instances, skipped };
}

/** A record shaped like the ones runCall writes (decision + intent + outcome fields). */
function sampleRecord(i: number): Record<string, unknown> {
  return {
    v: 1,
    call: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    time: new Date().toISOString(),
    instance: 'bench.dev',
    owner: 'bench <bench@example.com>',
    manifest: 'f'.repeat(64),
    client: { name: 'fleet-bench', version: '1.0.0' },
    actor: 'alice@example.com',
    actor_via: 'env',
    tool: 'read_history',
    phase: 'intent',
    decision: 'allow',
    args: { channel: 'C0DEVGENERAL', limit: 20 },
    resources: [{ on: 'channels', value: 'C0DEVGENERAL' }],
  };
}

/** Appends `n` records one after another, each awaited (sealed and written) before the next. */
export async function appendSerially(file: string, n: number, sync = true): Promise<void> {
  const log = new AuditLog(file, 'bench.dev', { sync });
  try {
    for (let i = 0; i < n; i++) await log.append(sampleRecord(i));
  } finally {
    log.close();
  }
}

export async function checkChain(file: string): Promise<{ ok: boolean; records: number; problem?: string }> {
  const r = await verifyLines(fileLines(file), { instance: 'bench.dev' });
  return { ok: r.ok, records: r.records, problem: r.problem?.message };
}
