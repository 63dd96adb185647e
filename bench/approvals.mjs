#!/usr/bin/env node
// `node bench/approvals.mjs`: what pending Slack approvals cost Slack's budget. For 1, 10 and 100
// requests waiting at once (the approvals identity's real SDK against the Slack sandbox, whose rate
// tiers are Slack's own), the Slack calls a minute the approvals identity makes while they wait, the
// 429s it met, and the time from an approver's answer to the verdict (what the upstream call then
// waits for). Slack allows a Tier 3 method about 50 calls a minute per app and workspace.
// `--mode events`: Slack delivers the answers (the sandbox POSTs signed Events API and button
// callbacks to a local server running the fleet's own handler: signature check, then the inbox),
// the channel is read only by the safety net (`--safety-ms`, default a minute), and the answer is
// a press of the request's Approve button.
//
//   node bench/approvals.mjs [--mode polling|events|both] [--pending 1,10,100] [--seconds 60] [--poll-ms 2000] [--safety-ms 60000]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchLib } from './bundle.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    pending: { type: 'string', default: '1,10,100' },
    seconds: { type: 'string', default: '60' },
    'poll-ms': { type: 'string', default: '2000' },
    'safety-ms': { type: 'string', default: '60000' },
    mode: { type: 'string', default: 'both' },
  },
});
const say = (s) => process.stderr.write(`bench:approvals: ${s}\n`);
const libFile = join(ROOT, 'node_modules', '.cache', 'fleet-bench', 'approvals-lib.mjs');
const lib = await benchLib('approvals-lib', libFile, ['@slack/web-api']);
const SCOPES = ['chat:write', 'channels:history', 'users:read'];
const POLL = Number(o['poll-ms']);
const WINDOW = Number(o.seconds) * 1000;
const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};
const atStart = uptime();

/** A local request URL running the fleet's handler of Slack's deliveries; the sandbox delivers there. */
async function deliveries(sb) {
  const secret = randomBytes(16).toString('hex');
  const handle = lib.slackDeliveries({
    secret: async () => secret,
    workspace: 'T0BLOGPROD',
    channel: 'C0APPROVALS',
    deliver: lib.deliver,
  });
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const a = await handle({ headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(a.status, { 'content-type': a.type ?? 'text/plain' }).end(a.body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const url = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;
  sb.deliverTo({ events: `${url}/slack/events`, actions: `${url}/slack/actions`, secret, team: 'T0BLOGPROD' });
  return server;
}

async function measure(n, mode) {
  const sb = await lib.startSlackSandbox();
  const events = mode === 'events';
  const server = events ? await deliveries(sb) : undefined;
  try {
    const channel = await lib.openSlackApprovals({
      config: {
        workspace: 'T0BLOGPROD',
        channel: 'C0APPROVALS',
        credential: 'env:SLACK_APPROVALS_TOKEN',
        token_scopes: SCOPES,
      },
      credential: sb.issue('T0BLOGPROD', SCOPES, undefined, 'U0APPROVALS'),
      baseUrl: sb.url,
      timeoutMs: 10_000,
      pollMs: events ? Number(o['safety-ms']) : POLL,
      events,
    });
    const abort = new AbortController();
    const posted = new Array(n);
    const verdicts = [];
    for (let i = 0; i < n; i++) {
      // chat.postMessage allows about one a second per channel: the requests arrive as Slack lets them
      verdicts.push(
        channel
          .request(
            {
              call: `bench-${n}-${i}-00000000`,
              instance: 'slack.prod',
              tool: 'update_message',
              resources: [],
              lines: [`text = "bench ${i}"`],
              digest: String(i).padStart(64, '0'),
              requester: 'U0WRITER1',
              requesterKind: 'slack-user',
              approvers: ['U0EDITOR1', 'U0EDITOR2'],
              executor: ['U0PRODBOT'],
              timeoutMs: 30 * 60_000,
              expiresAt: Date.now() + 30 * 60_000,
              signal: abort.signal,
            },
            { progress: () => {}, event: () => {}, posted: async ({ ts }) => void (posted[i] = ts) },
          )
          .catch((e) => ({ status: 'error', why: e.message })),
      );
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 61_000)); // a minute's burst per channel
    }
    while (posted.filter(Boolean).length < n) await new Promise((r) => setTimeout(r, 50));
    const from = sb.emulator.requests.length;
    const limitedBefore = [...sb.tiers.limited.values()].reduce((a, b) => a + b, 0);
    await new Promise((r) => setTimeout(r, WINDOW));
    const reads = sb.emulator.requests
      .slice(from)
      .filter((r) => r.route !== 'chat.postMessage' && r.route !== 'chat.update');
    const perMin = (reads.length * 60_000) / WINDOW;
    const limited = [...sb.tiers.limited.values()].reduce((a, b) => a + b, 0) - limitedBefore;
    // one approver answers one request: how long until its verdict
    const editor = sb.issue('T0BLOGPROD', ['chat:write'], undefined, 'U0EDITOR1');
    const { WebClient } = await import('@slack/web-api');
    const web = new WebClient(editor, { slackApiUrl: sb.url, retryConfig: { retries: 0 } });
    const k = Math.floor(n / 2);
    const t0 = performance.now();
    if (events) await sb.press('T0BLOGPROD', 'U0EDITOR1', 'C0APPROVALS', posted[k], 'fleet_approve');
    else await web.chat.postMessage({ channel: 'C0APPROVALS', thread_ts: posted[k], text: 'approve' });
    const v = await verdicts[k];
    const answerMs = performance.now() - t0;
    abort.abort();
    await Promise.all(verdicts);
    return { n, mode, perMin, byMethod: count(reads), limited, answerMs, verdict: v.status };
  } finally {
    server?.close();
    await sb.close();
  }
}

function count(reqs) {
  const m = {};
  for (const r of reqs) m[r.route] = (m[r.route] ?? 0) + 1;
  return Object.entries(m)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

const rows = [];
const modes = o.mode === 'both' ? ['polling', 'events'] : [o.mode];
if (!modes.every((m) => m === 'polling' || m === 'events'))
  throw new Error(`--mode ${o.mode}: polling, events or both`);
for (const mode of modes) {
  for (const n of o.pending.split(',').map(Number)) {
    say(
      `${mode}: ${n} pending, ${mode === 'events' ? `answers delivered, safety read every ${o['safety-ms']} ms` : `reading every ${POLL} ms`} for ${WINDOW / 1000} s ...`,
    );
    rows.push(await measure(n, mode));
  }
}
const lines = [
  `Pending Slack approvals against Slack's budget (Tier 3 ≈ 50 calls/min per method, app and workspace), measured over ${WINDOW / 1000} s each: polling every ${POLL} ms (answer: a thread reply), or answers delivered as events with a safety read every ${o['safety-ms']} ms (answer: the Approve button).`,
  `Machine: ${atStart}`,
  '',
  '| answers | pending | Slack calls/min by the approvals identity | of which | 429s | answer → verdict |',
  '|---|---:|---:|---|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.mode} | ${r.n} | ${r.perMin.toFixed(1)} | ${r.byMethod || '-'} | ${r.limited} | ${Math.round(r.answerMs)} ms (${r.verdict}) |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
