// What the bench needs from the project's own source, bundled by esbuild when the bench runs:
// the registered connectors (to find instances and start their sandboxes), the manifest loader,
// and the audit log and chain check. Nothing here is in the shipped CLI.
import { AuditLog } from '../shared/audit/log.js';
import { verifyFile as verifyTrail } from '../shared/audit/verify.js';
import { loadManifest } from '../shared/manifest/load.js';
import type { Manifest } from '../shared/base/manifest.js';
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

/**
 * Appends `n` records one after another, each awaited: written (and synced within 20 ms), as a
 * decision or outcome record is. An intent's fdatasync wait is measured by durability() below.
 */
export async function appendSerially(file: string, n: number): Promise<void> {
  const log = new AuditLog(file, 'bench.dev');
  try {
    for (let i = 0; i < n; i++) await log.append(sampleRecord(i), false);
  } finally {
    log.close();
  }
}

export async function checkChain(file: string): Promise<{ ok: boolean; records: number; problem?: string }> {
  const r = await verifyTrail(file, { instance: 'bench.dev' });
  return { ok: r.ok, records: r.records, problem: r.problem?.message };
}

/**
 * What durability costs: records appended one after another, each awaited, with fdatasync (the
 * intent's path) and without (a decision or outcome record's path); and `inFlight` calls at once,
 * where concurrent intents share one fdatasync (group commit).
 */
export async function durability(
  dir: string,
  n: number,
  inFlight = 32,
): Promise<{
  serialSync: number[];
  serialNoSync: number[];
  concurrentMs: number;
  syncsPerRecord: number;
  inFlight: number;
}> {
  const per = async (sync: boolean, durable: boolean, parallel: number) => {
    const file = `${dir}/durability-${sync}-${durable}-${parallel}.jsonl`;
    const log = new AuditLog(file, 'bench.dev', { sync });
    const each: number[] = [];
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < n) {
          const s = performance.now();
          await log.append(sampleRecord(next++), durable);
          each.push(performance.now() - s);
        }
      }),
    );
    const ms = (performance.now() - t0) / n;
    const syncs = log.syncs;
    log.close();
    return { ms, each, syncs };
  };
  const serial = await per(true, true, 1);
  const nosync = await per(true, false, 1);
  const concurrent = await per(true, true, inFlight);
  // the serial cases as each append's time (the report takes their medians); the concurrent one as wall time per record
  return {
    serialSync: serial.each,
    serialNoSync: nosync.each,
    concurrentMs: concurrent.ms,
    syncsPerRecord: concurrent.syncs / n,
    inFlight,
  };
}

/** Writes a sealed trail of about `bytes`, in chunks (memory stays flat). */
export async function makeTrail(file: string, bytes: number): Promise<{ records: number; bytes: number }> {
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const { emptyHead, sealAll } = await import('../shared/audit/chain.js');
  const fd = openSync(file, 'w');
  let head = emptyHead('bench.dev');
  let written = 0;
  let records = 0;
  try {
    while (written < bytes) {
      const batch = Array.from({ length: 2000 }, (_, i) => sampleRecord(records + i));
      const s = sealAll(batch, head);
      head = s.head;
      records += batch.length;
      const buf = Buffer.from(s.text);
      writeSync(fd, buf);
      written += buf.length;
    }
  } finally {
    closeSync(fd);
  }
  return { records, bytes: written };
}

/** Verifies a trail file as `fleet audit verify` does, streaming; the caller measures time and peak memory. */
export async function verifyFile(file: string): Promise<{ ok: boolean; records: number; problem?: string }> {
  const r = await verifyTrail(file, { instance: 'bench.dev' });
  return { ok: r.ok, records: r.records, problem: r.problem?.message };
}
