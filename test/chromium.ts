// Debian's Chromium, headless, for tests of the pages the fleet writes: the DOM after the page's
// own script ran, a screenshot, and every network request the page tried — all of the browser's
// traffic goes through a recording proxy on loopback (loopback included), so "no external request"
// is observed, not assumed. `.ci/run` installs Chromium; elsewhere the suites that need it skip
// with a notice, except under CI, where a missing browser fails.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM =
  process.env.FLEET_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export interface Page {
  dom: string;
  /** requests the page made (through the proxy): method and URL, the browser's own service traffic left out */
  requests: string[];
  /** the browser's own service traffic (update checks, clock, accounts), which no page asks for */
  browser: string[];
}

// Chromium's own background traffic, whatever the flags: component updates, the secure clock,
// account checks. A page's request goes to a host the page names; none of the fleet's pages names these.
const BROWSER_OWN =
  /^(GET|POST|CONNECT) (https?:\/\/)?(clients\d*\.google\.com|update\.googleapis\.com|accounts\.google\.com|www\.google\.com|optimizationguide-pa\.googleapis\.com|content-autofill\.googleapis\.com|redirector\.gvt1\.com)(:443)?[/]?/;

/** A proxy that answers every request 404 and remembers it. */
async function recordingProxy(): Promise<{ server: Server; port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  server.on('connect', (req, socket) => {
    requests.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, requests };
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Loads `file` in headless Chromium: its DOM after load (--dump-dom), a screenshot to `png` when
 * given, and the requests it made.
 */
export async function render(
  file: string,
  opts: { png?: string; width?: number; height?: number; timeoutMs?: number } = {},
): Promise<Page> {
  if (!CHROMIUM) throw new Error('no Chromium: apt-get install chromium (or set FLEET_CHROMIUM)');
  const proxy = await recordingProxy();
  const profile = mkdtempSync(join(tmpdir(), 'fleet-chromium-'));
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--no-pings',
    '--disable-domain-reliability',
    '--disable-client-side-phishing-detection',
    '--disable-default-apps',
    `--user-data-dir=${profile}`,
    `--proxy-server=http://127.0.0.1:${proxy.port}`,
    '--proxy-bypass-list=<-loopback>',
    `--window-size=${opts.width ?? 1280},${opts.height ?? 2400}`,
    '--virtual-time-budget=3000',
  ];
  const url = `file://${file}`;
  try {
    const dom = await run([...flags, '--dump-dom', url], opts.timeoutMs ?? 60_000);
    if (dom.code !== 0 || !dom.stdout.includes('</html>'))
      throw new Error(`chromium --dump-dom exited ${dom.code}: ${dom.stderr.slice(-2000)}`);
    if (opts.png) {
      const shot = await run([...flags, `--screenshot=${opts.png}`, url], opts.timeoutMs ?? 60_000);
      if (shot.code !== 0 || !existsSync(opts.png))
        throw new Error(`chromium --screenshot exited ${shot.code}: ${shot.stderr.slice(-2000)}`);
    }
    return {
      dom: dom.stdout,
      requests: proxy.requests.filter((r) => !BROWSER_OWN.test(r)),
      browser: proxy.requests.filter((r) => BROWSER_OWN.test(r)),
    };
  } finally {
    proxy.server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Whether the browser suites run here; under CI a missing browser is a failure, not a skip. */
export function chromiumOrSkip(): boolean {
  if (CHROMIUM) return true;
  if (process.env.CI) throw new Error('CI must run the browser suites: Chromium is missing (.ci/run installs it)');
  process.stderr.write('notice: no Chromium (apt-get install chromium): the HTML report browser suite is skipped\n');
  return false;
}
