// What an OTLP collector misses while it is down reaches it when it is back: the records it did not
// accept are owed (their seqs, kept in the state folder) and re-sent from the trail, marked
// fleet.audit.resent — by the same process once the collector accepts a batch again, and by the
// next start when the process stopped while the collector was down.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditRecords, serve, tempDir, text, waitFor } from '../helpers.js';
import { Collector } from '../otlp-collector.js';

const callSeqs = (file: string) =>
  auditRecords(file)
    .filter((r) => r.call && r.tool)
    .map((r) => r.seq as number);

describe('the OTLP export re-sends what a collector missed, from the trail', () => {
  const collector = new Collector();
  afterEach(() => collector.down());

  it('while the process runs, once the collector is back; and at the next start after a stop while it was down', async () => {
    // a port for the collector, then down
    await collector.up();
    await collector.down();
    const stateDir = tempDir('fleet-state-');
    const auditDir = tempDir('fleet-audit-');
    const vars = {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BLRP_SCHEDULE_DELAY: '50',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
    };
    const a = await serve({ connector: 'slack', env: 'dev', sandbox: true, stateDir, auditDir, vars });
    try {
      for (let i = 0; i < 3; i++)
        expect(text(await a.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      const missed = callSeqs(a.auditFile);
      expect(missed.length).toBeGreaterThanOrEqual(6);
      // owed, kept in the state folder
      await waitFor(() => readdirSync(stateDir).some((f) => f.endsWith('.otlp-owed.json')), 20_000);
      // back: the next batch it accepts brings what it missed
      await collector.up();
      expect(text(await a.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
      await waitFor(() => missed.every((s) => collector.seqs().all.has(s)), 30_000);
      // (a batch the exporter was still retrying when the collector came back arrives as it was)
      expect(collector.seqs().resent.size).toBeGreaterThan(0);
      await waitFor(() => !readdirSync(stateDir).some((f) => f.endsWith('.otlp-owed.json')), 20_000);

      // down again, and the process stops before it is back
      await collector.down();
      for (let i = 0; i < 2; i++)
        expect(text(await a.call('get_user', { user: 'U0DEVALICE' }))).toContain('U0DEVALICE');
    } finally {
      await a.close();
    }
    const stopped = auditRecords(a.auditFile).find((r) => r.phase === 'export');
    expect(stopped?.owed, JSON.stringify(stopped)).toBeGreaterThan(0);
    expect(a.stderr()).toMatch(/owed, re-sent from the trail when the collector answers/);
    const owedFile = join(stateDir, 'slack.dev.otlp-owed.json');
    expect(existsSync(owedFile)).toBe(true);
    const later = callSeqs(a.auditFile).filter((s) => !collector.seqs().all.has(s));
    expect(later.length).toBeGreaterThanOrEqual(4);

    // the next start, with the collector back, sends them without a call being made
    await collector.up();
    const b = await serve({ connector: 'slack', env: 'dev', sandbox: true, stateDir, auditDir, vars });
    try {
      await waitFor(() => later.every((s) => collector.seqs().resent.has(s)), 30_000);
      await waitFor(() => !existsSync(owedFile), 20_000);
    } finally {
      await b.close();
    }
    expect(b.stderr()).not.toMatch(/never reached the OTLP collector/);
  }, 120_000);
});
