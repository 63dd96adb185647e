// The audit commands as a person at a terminal sees them, through a real pseudo-terminal
// (util-linux `script`) around the installed bin: `--custody` fits the terminal's width, results
// are coloured (not with NO_COLOR), a long read whose rows go to a file shows progress on stderr,
// and nothing of that reaches a pipe. A reader piped into `head` ends quietly.
// biome-ignore-all lint/suspicious/noControlCharactersInRegex: the suite matches the terminal's escape sequences (ESC [ ...)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { productionCalls, writeTrail } from '../fixtures/trail-writer.js';
import { ROOT, tempDir } from '../helpers.js';

const FLEET = join(ROOT, 'dist', 'fleet');
const hasScript = spawnSync('script', ['--version']).status === 0;
const SGR = /\u001b\[\d+m/;
const strip = (s: string) => s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');

let dir: string;
let trail: string;
beforeAll(() => {
  dir = tempDir('fleet-term-');
  trail = join(dir, 'slack.prod.jsonl');
  writeTrail(trail, 'slack.prod', productionCalls(30_000, Date.now(), 60_000));
});

/** Runs `command` (a shell line) on a terminal of `cols` columns; returns what the terminal showed. */
function onTerminal(command: string, cols: number, env: Record<string, string> = {}): string {
  const typescript = join(dir, `pty-${Math.random().toString(36).slice(2)}.out`);
  execFileSync('script', ['-qec', `stty cols ${cols} rows 40; ${command}`, typescript], {
    env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env },
    stdio: 'ignore',
    timeout: 120_000,
  });
  // the typescript's first and last lines are script's own
  return readFileSync(typescript, 'utf8').split('\n').slice(1, -2).join('\n');
}

describe.skipIf(!hasScript)('audit commands on a terminal', () => {
  it.each([80, 120, 200])(
    '--custody fits %i columns and colours results',
    (cols) => {
      const shown = onTerminal(`${FLEET} audit show ${trail} --custody`, cols);
      const rows = shown.split('\r\n').filter(Boolean);
      expect(rows.length).toBeGreaterThanOrEqual(30_000);
      for (const r of rows.slice(0, 200)) expect(strip(r).length).toBeLessThanOrEqual(cols);
      expect(strip(rows[0]!)).toMatch(/^time\s+(client\s+)?actor\s/);
      expect(strip(rows[0]!)).toMatch(/\btool\s*$/);
      // every row names its call's time, actor and tool, however narrow the terminal
      expect(strip(rows[1]!)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(\S+\s+)?U0\w+\s.*slack\.prod\.\w/);
      expect(shown).toContain('\u001b[32mok');
      expect(shown).toMatch(/\u001b\[31mdenied/);
    },
    180_000,
  );

  it('NO_COLOR leaves the terminal uncoloured', () => {
    const shown = onTerminal(`${FLEET} audit show ${trail} --custody | head -0; ${FLEET} audit verify ${trail}`, 120, {
      NO_COLOR: '1',
    });
    expect(shown).toContain('chain intact');
    expect(shown).not.toMatch(SGR);
  }, 120_000);

  it('verify says its verdict in colour', () => {
    expect(onTerminal(`${FLEET} audit verify ${trail}`, 120)).toContain('\u001b[32mchain intact\u001b[0m');
  }, 120_000);

  it('a long read whose rows go to a file shows records, MB, rate and ETA on stderr, then clears it', () => {
    const out = join(dir, 'custody.txt');
    const shown = onTerminal(`${FLEET} audit show ${trail} --custody > ${out}`, 120);
    expect(shown).toMatch(/reading \S+: [\d,]+ records, [\d.]+\/[\d.]+ MB \d+%, [\d.]+ MB\/s(, ETA \d+ s)?\u001b\[K/);
    expect(shown.endsWith('\r\u001b[K')).toBe(true);
    // the file holds the rows only, at fixed widths (it is no terminal), uncoloured
    const rows = readFileSync(out, 'utf8').split('\n');
    expect(rows[0]).toMatch(
      /^time\s+client\s+actor\s+proof\s+thread\s+approver\s+executor\s+manifest\s+result\s+task\s+tool$/,
    );
    expect(rows.join('\n')).not.toMatch(SGR);
    expect(rows.join('\n')).not.toContain('…');
  }, 180_000);
});

describe('audit commands into a pipe', () => {
  it('print no colour and no progress, and a reader piped into head ends quietly', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; ${FLEET} audit show ${trail} --custody | head -3`], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stdout.split('\n')).toHaveLength(4);
    expect(r.stdout).not.toMatch(SGR);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const v = spawnSync(FLEET, ['audit', 'verify', trail], { encoding: 'utf8', timeout: 120_000 });
    expect(v.stdout).toMatch(/^\S+: chain intact, \d+ records/);
    expect(v.stderr).toBe('');
    expect(existsSync(trail)).toBe(true);
  }, 120_000);
});
