// The trail's record of what happened to an instance's credential (minted, renewed, rotated,
// revoked): one shape, whichever kind of credential wrote it; its value never appears (redacted).
import { randomUUID } from 'node:crypto';
import type { Manifest } from '../base/manifest.js';
import type { Redactor } from '../base/redaction.js';
import type { AuditStore } from '../state/store.js';

export async function recordCredential(
  d: { manifest: Manifest; audit: Pick<AuditStore, 'append'>; redactor: Redactor },
  time: number,
  action: string,
  fields: Record<string, unknown>,
): Promise<void> {
  const m = d.manifest;
  await d.audit.append(
    d.redactor.deep({
      v: 1,
      call: randomUUID(),
      time: new Date(time).toISOString(),
      instance: m.id,
      owner: m.owner,
      manifest: m.hash,
      tool: '(credential)',
      phase: 'credential',
      action,
      ...fields,
    }),
  );
}
