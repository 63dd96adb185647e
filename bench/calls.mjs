// Per-call overhead: a read tool called through a fleet instance over stdio, against the same
// upstream call made directly with the official SDK to the same sandbox, interleaved call by call
// so both see the same machine. The difference is what the fleet adds: MCP over stdio,
// attribution, policy and the two audit records. The one-tool SDK server's echo over stdio is
// measured too: the part of that difference any stdio MCP server pays. The three calls of one round
// are made back to back, so the overhead and the core's share are per-round differences, and their
// medians and p99s are those of the differences (never a difference of two quantiles).
import { WebClient } from '@slack/web-api';
import { load, loadSpan, median, quantile } from './stats.mjs';
import { StdioSession } from './stdio.mjs';

// The bench compares the fleet with the SDK on one upstream, not with Slack's budget: the sandbox
// enforces Slack's rate tiers, so its windows are shortened far enough that no call is refused (429).
process.env.FLEET_SANDBOX_SPEEDUP ??= '100000';

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function mcpCall(session, name, args) {
  return async () => {
    const r = await session.request('tools/call', { name, arguments: args });
    if (r.result.isError) throw new Error(`${name} failed: ${JSON.stringify(r.result.content).slice(0, 300)}`);
  };
}

const summary = (ms) => ({ median: median(ms), p99: quantile(ms, 0.99), n: ms.length });

/**
 * @param {object} o
 * @param {any} o.lib the bundled bench library
 * @param {any} o.instance a slack dev instance
 * @param {any} o.fleet stdio target (command, args, env)
 * @param {any} o.oneTool stdio target (command, args, env)
 * @param {number} o.calls measured calls
 * @param {number} o.warmup calls discarded first
 */
export async function perCall(o) {
  const { manifest } = o.instance;
  const sandbox = await o.lib.CONNECTORS.slack.sandbox();
  const token = sandbox.issueToken(manifest);
  const channel = manifest.tools.read_history.channels.find((c) => c !== '*');
  const credentialVar = manifest.credential.replace(/^env:/, '');
  const fleet = new StdioSession({
    ...o.fleet,
    args: [...o.fleet.args.filter((a) => a !== '--sandbox'), '--upstream', sandbox.url],
    env: { ...o.fleet.env, [credentialVar]: token, FLEET_ACTOR: 'bench@example.com' },
  });
  const one = new StdioSession(o.oneTool);
  const direct = new WebClient(token, {
    slackApiUrl: sandbox.url,
    timeout: manifest.timeoutMs,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
  });
  try {
    for (const s of [fleet, one]) {
      await s.initialize();
      s.notify('notifications/initialized');
    }
    const viaFleet = mcpCall(fleet, 'read_history', { channel, limit: 20 });
    const viaSdk = async () => {
      const r = await direct.conversations.history({ channel, limit: 20 });
      if (!r.ok) throw new Error('conversations.history failed');
    };
    const echo = mcpCall(one, 'echo', { text: 'x' });
    /** @type {{ fleet: number[], sdk: number[], echo: number[] }} */
    const ms = { fleet: [], sdk: [], echo: [] };
    const before = load();
    for (let i = 0; i < o.warmup + o.calls; i++) {
      const f = await timed(viaFleet);
      const d = await timed(viaSdk);
      const e = await timed(echo);
      if (i >= o.warmup) {
        ms.fleet.push(f);
        ms.sdk.push(d);
        ms.echo.push(e);
      }
    }
    const out = {
      tool: 'slack read_history',
      upstream: 'conversations.history',
      fleet: summary(ms.fleet),
      sdk: summary(ms.sdk),
      echo: summary(ms.echo),
      load: loadSpan(before, load()),
    };
    // per round: what the fleet adds to the direct SDK call, and beyond what any MCP server pays for
    // the stdio transport (the echo of the same round): the price of attribution, policy and audit
    out.overhead = summary(ms.fleet.map((f, i) => f - ms.sdk[i]));
    out.core = summary(ms.fleet.map((f, i) => f - ms.sdk[i] - ms.echo[i]));
    return out;
  } finally {
    await Promise.all([fleet.close(), one.close()]);
    await sandbox.close();
  }
}
