// The reviewer's HTML page (fleet review --format html, fleet audit show --format html), rendered in
// Debian's Chromium headless and checked in its DOM: the custody rows, the trail-state banner
// (intact, missing, tampered), no request leaving the page, and no markup from a hostile trail
// value becoming an element. Screenshots are kept as artefacts in reports/html/.
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { formatCheckpoint, loadPrivateKey } from '../../shared/audit/checkpoint.js';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { chromiumOrSkip, render } from '../chromium.js';
import { productionCalls, writeTrail } from '../fixtures/trail-writer.js';
import { ROOT, runCli, SCOPES, tempDir } from '../helpers.js';

const ARTEFACTS = join(ROOT, 'reports', 'html');
const HOSTILE = `<script>document.title='PWNED'</script><img src="http://203.0.113.9/leak" onerror="document.title='PWNED2'">"'\`<b>&amp;`;
const run = chromiumOrSkip();

/** How many rows the custody table has, from the DOM. */
const custodyRows = (dom: string) =>
  (/<table id="custody-t">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(dom)?.[1]?.match(/<tr class="k-/g) ?? []).length;
const titleOf = (dom: string) => /<title>([^<]*)<\/title>/.exec(dom)?.[1];

/** What no page may hold: a script or event handler that is not the page's own. */
function injected(dom: string): string[] {
  const found: string[] = [];
  if ((dom.match(/<script\b/gi) ?? []).length !== 1)
    found.push(`${(dom.match(/<script\b/gi) ?? []).length} script elements`);
  for (const m of dom.matchAll(/<[a-z][^>]*\son[a-z]+\s*=/gi)) found.push(m[0].slice(0, 80));
  for (const m of dom.matchAll(/<(img|iframe|object|embed|link|base)\b[^>]*>/gi)) found.push(m[0].slice(0, 80));
  return found;
}

describe.runIf(run)('the HTML report in a real browser', () => {
  beforeAll(() => mkdirSync(ARTEFACTS, { recursive: true }));

  it("renders the demo's trails: custody rows, an intact banner, the page's own script ran, no request made", async () => {
    const out = join(tempDir(), 'demo.html');
    const r = await runCli(['demo', '--report', out], { timeoutMs: 150_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    const page = await render(out, { png: join(ARTEFACTS, 'demo.png') });
    expect(page.requests).toEqual([]);
    expect(injected(page.dom)).toEqual([]);
    expect(titleOf(page.dom)).toBe('Access review');
    expect(page.dom).toContain('Every trail intact (2)');
    // the demo's own signed checkpoints were compared, and matched
    expect(page.dom).toMatch(/<td>\d+ matched, newest at record \d+<\/td>/);
    // the demo's production part: one approved edit, a forged actor refused, an unattributed call refused
    expect(custodyRows(page.dom)).toBe(3);
    expect(page.dom).toMatch(/approved by U0EDITOR2/);
    // sortable headers: the page's script ran, so its hash in the CSP is right
    expect(page.dom).toMatch(/<th scope="col" data-sort="" tabindex="0"/);
    // `npm run docs:screenshot`: the README's picture of the page, made here rather than by hand
    if (process.env.FLEET_SCREENSHOT_TO)
      await render(out, { png: resolve(ROOT, process.env.FLEET_SCREENSHOT_TO), height: 1500 });
  }, 240_000);

  it('puts a missing and a tampered trail in the headline, and counts only what verified', async () => {
    const dir = tempDir();
    const audit = join(dir, 'audit');
    mkdirSync(audit);
    const file = join(audit, 'slack.prod.jsonl');
    writeTrail(file, 'slack.prod', productionCalls(40, Date.now(), 60_000));
    // one byte of record 30 changed after it was sealed
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[29] = lines[29]!.replace('"post_message"', '"post_messagE"').replace('"update_message"', '"update_messagE"');
    writeFileSync(file, lines.join('\n'));
    const out = join(dir, 'tampered.html');
    const r = await runCli(
      ['review', 'slack.prod', 'slack.dev', '--scopes', SCOPES, '--audit-dir', audit, '--format', 'html', '--out', out],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/slack\.prod: TAMPERED: line 30/);
    expect(r.stdout).toMatch(/slack\.dev: MISSING/);
    const page = await render(out, { png: join(ARTEFACTS, 'tampered.png') });
    expect(page.requests).toEqual([]);
    expect(page.dom).toMatch(/<section id="trail" class="banner bad"/);
    expect(page.dom).toContain('TAMPERED OR UNREADABLE: slack.prod');
    expect(page.dom).toMatch(/<td class="st-missing">missing<\/td>/);
    // the 29 records before the altered one are counted, nothing after it
    expect(page.dom).toMatch(
      /<th scope="row">slack\.prod<\/th><td class="st-tampered">tampered<\/td><td class="mono">[^<]*<\/td><td class="n">29<\/td>/,
    );
  }, 120_000);

  it('catches a cut tail against signed checkpoints and says so first', async () => {
    const dir = tempDir();
    const scopes = join(dir, 'scopes');
    cpSync(SCOPES, scopes, { recursive: true });
    const key = join(dir, 'checkpoint.pem');
    expect((await runCli(['audit', 'keygen', key, '--name', 'test-key', '--scopes', scopes])).code).toBe(0);
    const audit = join(dir, 'audit');
    mkdirSync(audit);
    const file = join(audit, 'slack.prod.jsonl');
    const n = writeTrail(file, 'slack.prod', productionCalls(30, Date.now(), 60_000));
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const last = JSON.parse(lines.at(-1)!) as { seq: number; hash: string };
    expect(last.seq).toBe(n);
    const notes = join(dir, 'checkpoints.txt');
    writeFileSync(
      notes,
      formatCheckpoint(
        { instance: 'slack.prod', seq: last.seq, hash: last.hash, time: new Date().toISOString() },
        { name: 'test-key', privateKey: loadPrivateKey(readFileSync(key, 'utf8')) },
      ),
    );
    // the last three records cut off: the chain alone still verifies, the checkpoint does not
    writeFileSync(file, `${lines.slice(0, -3).join('\n')}\n`);
    const out = join(dir, 'cut.html');
    const r = await runCli(
      [
        'review',
        'slack.prod',
        '--scopes',
        scopes,
        '--audit-dir',
        audit,
        '--format',
        'html',
        '--out',
        out,
        '--checkpoints',
        notes,
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/slack\.prod: TAMPERED: .*truncated/);
    const page = await render(out, { png: join(ARTEFACTS, 'cut.png') });
    expect(page.requests).toEqual([]);
    expect(page.dom).toMatch(/<section id="trail" class="banner bad"/);
    expect(page.dom).toContain('TAMPERED OR UNREADABLE: slack.prod');
  }, 120_000);

  it('shows hostile trail values as text: no element, no handler, no request, the title unchanged', async () => {
    const dir = tempDir();
    const file = join(dir, 'slack.prod.jsonl');
    writeTrail(file, 'slack.prod', productionCalls(60, Date.now(), 60_000, HOSTILE));
    for (const [args, name] of [
      [['review', 'slack.prod', '--scopes', SCOPES, '--audit-dir', dir], 'hostile-review'],
      [['audit', 'show', file, '--scopes', SCOPES], 'hostile-show'],
    ] as const) {
      const out = join(dir, `${name}.html`);
      const r = await runCli([...args, '--format', 'html', '--out', out], { timeoutMs: 60_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const page = await render(out, { png: join(ARTEFACTS, `${name}.png`) });
      expect(page.requests).toEqual([]);
      expect(injected(page.dom)).toEqual([]);
      expect(titleOf(page.dom)).toMatch(/^(Access review|Audit trail)$/);
      expect(page.dom).toContain('&lt;script&gt;document.title=');
      expect(custodyRows(page.dom)).toBe(60);
    }
  }, 180_000);

  it('reads a 1,000,000-record trail with its heap capped at 128 MB, and the page stays a few MB', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'slack.prod.jsonl');
    const n = writeTrail(file, 'slack.prod', productionCalls(440_000, Date.now(), 15_000));
    expect(n).toBeGreaterThanOrEqual(1_000_000);
    const out = join(dir, 'million.html');
    const r = await runCli(
      ['review', 'slack.prod', '--scopes', SCOPES, '--audit-dir', dir, '--format', 'html', '--out', out],
      {
        timeoutMs: 400_000,
        env: { NODE_OPTIONS: '--max-old-space-size=128' },
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${n} records`));
    expect(statSync(out).size).toBeLessThan(4 * 1024 * 1024);
    const page = await render(out, { png: join(ARTEFACTS, 'million.png'), timeoutMs: 120_000 });
    expect(page.requests).toEqual([]);
    expect(page.dom).toContain('Every trail intact (1)');
    expect(custodyRows(page.dom)).toBe(500);
    expect(page.dom).toMatch(/The newest 500 of \d{6} production actions/);
  }, 600_000);
});
