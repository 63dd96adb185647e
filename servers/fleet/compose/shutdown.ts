// How an instance stops: in order, so that what ends last can still be written to the trail.
import type { AuditExport } from '../../../shared/audit/export.js';
import type { Log } from '../../../shared/base/log.js';
import type { LateWatch } from '../../../shared/call/late.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import type { StateStore } from '../../../shared/state/store.js';
import type { Checkpoints } from './checkpoints.js';
import type { UpstreamLink } from './upstream.js';

const POST_WAIT_MS = 1000;

export interface Parts {
  manifest: Manifest;
  log: Log;
  link: UpstreamLink;
  late: () => LateWatch | undefined;
  checkpoints: Checkpoints | undefined;
  /** what the connectors' extensions opened (an approvals connection's sandbox) */
  extensions: { close(): Promise<void> };
  exporter: AuditExport | undefined;
  store: StateStore;
}

/**
 * Stops the late-answer watch, revokes a minted token and closes the sandbox, then the checkpoints
 * (the last ones posted), the extensions' connections, the export (what it lost on the record) and the store.
 */
export function shutdownOf({
  manifest,
  log,
  link,
  late,
  checkpoints,
  extensions,
  exporter,
  store,
}: Parts): (why: string) => Promise<void> {
  return async (why) => {
    await late()?.stop();
    await link.close(why);
    checkpoints?.close();
    for (const { kind, sink: posted } of checkpoints?.posted ?? []) {
      // the last checkpoint is posted before the extensions' connections go; the wait is short, as
      // a client ending the process gives it a few seconds (the MCP SDK: 2 s, then SIGTERM)
      await posted.flush(POST_WAIT_MS);
      if (posted.failed || posted.dropped) {
        log.warn(
          `audit checkpoints: ${posted.failed + posted.dropped} of ${posted.posted + posted.failed + posted.dropped} never reached ${kind.place} (${posted.failed} refused or unanswered, ${posted.dropped} dropped)`,
        );
        await store.audit
          .append({
            v: 1,
            time: new Date().toISOString(),
            instance: manifest.id,
            phase: 'checkpoints',
            to: kind.name,
            posted: posted.posted,
            failed: posted.failed,
            dropped: posted.dropped,
          })
          .catch(() => {});
      }
    }
    await extensions.close();
    if (exporter) {
      await exporter.shutdown();
      // what the export lost is itself on the record, where the trail stays the source of truth
      if (exporter.dropped) {
        const owed = exporter.owed();
        log.warn(
          `audit export: ${exporter.dropped} record(s) never reached the OTLP collector (${exporter.exported} did)${owed ? `; ${owed} owed, re-sent from the trail when the collector answers` : ''}`,
        );
        await store.audit
          .append({
            v: 1,
            time: new Date().toISOString(),
            instance: manifest.id,
            phase: 'export',
            dropped: exporter.dropped,
            exported: exporter.exported,
            owed,
          })
          .catch(() => {});
      }
    }
    await store.close().catch(() => {});
  };
}
