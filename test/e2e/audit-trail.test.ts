// A trail that is not itself fails closed: a link (to /dev/null or to another file) is never
// followed; a trail emptied, shrunk, replaced or removed under a running server stops every call,
// says why on stderr and in the result, and is recorded in a fresh incident file beside it.
import { readdirSync, readFileSync, renameSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, serve, tempDir, text } from '../helpers.js';

const CALL = ['get_user', { user: 'U0DEVALICE' }] as const;

describe('the trail must be a regular file, opened without following links', () => {
  it.each([
    ['a link to /dev/null', () => '/dev/null'],
    [
      'a link to another regular file',
      () => {
        const f = join(tempDir(), 'elsewhere.jsonl');
        writeFileSync(f, '');
        return f;
      },
    ],
  ])('%s: every call refused, nothing written through it', async (_what, target) => {
    const auditDir = tempDir('fleet-audit-');
    const to = target();
    symlinkSync(to, join(auditDir, 'slack.dev.jsonl'));
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true, auditDir });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await s.call(...CALL);
        expect(r.isError).toBe(true);
        expect(text(r)).toMatch(
          /refused: audit trail .*slack\.dev\.jsonl cannot be written: ELOOP \(it is a symbolic link; the trail must be a regular file\)/,
        );
      }
      if (to !== '/dev/null') expect(readFileSync(to, 'utf8')).toBe('');
    } finally {
      await s.close();
    }
  });
});

describe('a trail changed under a running server stops every call', () => {
  const cases: [string, (file: string) => void, RegExp][] = [
    ['emptied', (f) => truncateSync(f, 0), /shrank under the running server from \d+ to 0 bytes/],
    ['cut short', (f) => truncateSync(f, 200), /shrank under the running server from \d+ to 200 bytes/],
    [
      'replaced by another file',
      (f) => {
        const other = `${f}.new`;
        writeFileSync(other, readFileSync(f));
        renameSync(other, f);
      },
      /was replaced under the running server/,
    ],
    ['removed', (f) => unlinkSync(f), /was removed or renamed under the running server/],
    [
      'rewritten in place to the same length',
      (f) => {
        const t = readFileSync(f, 'utf8');
        const at = t.lastIndexOf('"outcome":"ok"');
        writeFileSync(f, `${t.slice(0, at)}"outcome":"no"${t.slice(at + 14)}`);
      },
      /changed under the running server: record \d+ is no longer at byte/,
    ],
  ];
  it.each(cases)('%s', async (_what, alter, why) => {
    const s = await serve({ connector: 'slack', env: 'dev', sandbox: true });
    try {
      for (let i = 0; i < 2; i++) expect((await s.call(...CALL)).isError).toBeFalsy();
      alter(s.auditFile);
      const r = await s.call(...CALL);
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(why);
      expect(text(r)).toMatch(/every call is refused until the trail is examined/);
      const again = await s.call(...CALL);
      expect(again.isError).toBe(true);
      expect(text(again)).toMatch(why);
      expect(s.stderr()).toMatch(why);
      const incidents = readdirSync(s.auditDir).filter((n) => /^slack\.dev\.incident-.*\.jsonl$/.test(n));
      expect(incidents).toHaveLength(1);
      const incident = join(s.auditDir, incidents[0]!);
      const rec = JSON.parse(readFileSync(incident, 'utf8'));
      expect(rec).toMatchObject({ phase: 'incident', instance: 'slack.dev', seq: 1 });
      expect(rec.why).toMatch(why);
      const v = await runCli(['audit', 'verify', incident]);
      expect(v.code, v.stdout).toBe(0);
    } finally {
      await s.close();
    }
  });
});
