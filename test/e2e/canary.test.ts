// The canary: every secret value in the Doppler sandbox carries a unique marker, then every tool of
// every connector's instances in scopes/ runs over stdio (plus `serve slack` with its token drawn
// from Doppler through a doppler: reference). The marker, and that Slack token, must appear in no
// stdout message, stderr line, audit record or tool result — except get_secret with reveal under
// the dev grant, which must show it (so the check is known to see a leak when there is one).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { loadManifest } from '../../shared/manifest/load.js';
import type { Manifest } from '../../shared/base/manifest.js';
import type { Sandbox } from '../../shared/connector/tool.js';
import { askedInSlack, fleetCommand, ROOT, SCOPES, tempDir } from '../helpers.js';
// valid, granted arguments for every Cloudflare tool (placeholders would be refused before the upstream)
import { SAMPLES as HARDENING } from '../hardening/instances.js';

const MARKER = `cnry${randomBytes(10).toString('hex')}`;

// Arguments that reach the upstream for the connectors whose sandboxes this test knows; tools of
// any other connector get arguments built from their input schema and the manifest's grant.
const ts = (n: number) => `${1767225600 + n * 60}.${String(100 + n).padStart(6, '0')}`;
const SAMPLES: Record<string, Record<string, Record<string, unknown>[]>> = {
  'slack.dev': {
    read_history: [{ channel: 'C0DEVGENERAL' }],
    read_thread: [{ channel: 'C0DEVGENERAL', ts: ts(2) }],
    search_messages: [{ query: 'draft' }],
    get_permalink: [{ channel: 'C0DEVGENERAL', ts: ts(1) }],
    get_user: [{ user: 'U0DEVALICE' }],
    post_message: [{ channel: 'C0DEVBOTTEST', text: 'canary run' }],
    reply_in_thread: [{ channel: 'C0DEVBOTTEST', thread_ts: ts(5), text: 'canary reply' }],
    update_message: [{ channel: 'C0DEVBOTTEST', ts: ts(5), text: 'canary edit' }],
    delete_message: [{ channel: 'C0DEVBOTTEST', ts: ts(5) }],
    add_reaction: [{ channel: 'C0DEVGENERAL', ts: ts(1), emoji: 'eyes' }],
  },
  'slack.prod': {
    read_history: [{ channel: 'C0EDITORIAL' }],
    read_thread: [{ channel: 'C0EDITORIAL', ts: ts(10) }],
    get_permalink: [{ channel: 'C0EDITORIAL', ts: ts(10) }],
    get_user: [{ user: 'U0EDITOR1' }],
    post_message: [{ channel: 'C0EDITORIAL', text: 'canary run' }],
    reply_in_thread: [{ channel: 'C0EDITORIAL', thread_ts: ts(10), text: 'canary reply' }],
    update_message: [{ channel: 'C0EDITORIAL', ts: ts(12), text: 'canary edit' }],
    delete_message: [{ channel: 'C0EDITORIAL', ts: ts(12) }],
    add_reaction: [{ channel: 'C0EDITORIAL', ts: ts(10), emoji: 'eyes' }],
  },
  'doppler.dev': {
    list_secret_names: [{ config: 'dev' }],
    get_secret: [
      { config: 'dev', name: 'STRIPE_KEY' },
      { config: 'dev', name: 'STRIPE_KEY', reveal: true },
    ],
    compare_configs: [{ from: 'dev', to: 'dev_ci' }],
    config_activity: [{ config: 'dev' }],
    set_secret: [{ config: 'dev', name: 'AGENT_CANARY', value: `agent-${MARKER}` }],
    delete_secret: [{ config: 'dev', name: 'AGENT_CANARY' }],
  },
  'doppler.prod': {
    list_secret_names: [{ config: 'prd' }],
    get_secret: [
      { config: 'prd', name: 'STRIPE_KEY' },
      { config: 'prd', name: 'STRIPE_KEY', reveal: true },
    ],
    compare_configs: [{ from: 'stg', to: 'prd' }],
    config_activity: [{ config: 'prd' }],
  },
};
/** The one call allowed to show a value: a dev grant with reveal: true, asked to reveal. */
const mayReveal = (id: string, tool: string, args: Record<string, unknown>) =>
  id === 'doppler.dev' && tool === 'get_secret' && args.reveal === true;

/** Arguments for a tool this test has no sample for: each required property from the grant or its type. */
function synthesize(tool: Tool, grant: Record<string, unknown>): Record<string, unknown> {
  const props = (tool.inputSchema.properties ?? {}) as Record<string, { type?: string }>;
  const out: Record<string, unknown> = {};
  for (const key of tool.inputSchema.required ?? []) {
    const granted = grant[`${key}s`] ?? grant[key];
    const first = Array.isArray(granted) ? granted.find((g) => typeof g === 'string' && !g.includes('*')) : undefined;
    const type = props[key]?.type;
    out[key] =
      first ??
      (type === 'number' || type === 'integer'
        ? 1
        : type === 'boolean'
          ? false
          : type === 'array'
            ? []
            : type === 'object'
              ? {}
              : 'canary');
  }
  return out;
}

interface Run {
  id: string;
  /** the credential this instance was started with (issued by its sandbox for this run) */
  token?: string;
  /** every JSON-RPC message the server wrote to stdout, and any line that was not one */
  stdout: string[];
  stderr: string;
  audit: string;
  results: { tool: string; args: Record<string, unknown>; text: string }[];
  tools: string[];
}

async function runInstance(m: Manifest, args: string[], vars: Record<string, string>, scopes = SCOPES): Promise<Run> {
  const auditDir = tempDir('fleet-canary-');
  const transport = new StdioClientTransport({
    ...fleetCommand(['serve', m.connector, '--env', m.instance, '--scopes', scopes, ...args]),
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      FLEET_AUDIT_DIR: auditDir,
      FLEET_ACTOR: 'canary@example.com',
      ...vars,
    },
    stderr: 'pipe',
    cwd: ROOT,
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stdout: string[] = [];
  const client = new Client({ name: 'fleet-canary', version: '1.0.0' });
  await client.connect(transport);
  // Tap what arrives on stdout: every parsed message, and any line the transport could not parse.
  const onmessage = transport.onmessage!;
  transport.onmessage = (msg) => {
    stdout.push(JSON.stringify(msg));
    onmessage(msg);
  };
  const onerror = transport.onerror;
  transport.onerror = (e) => {
    stdout.push(String(e));
    onerror?.(e);
  };
  const { tools } = await client.listTools();
  const results: Run['results'] = [];
  for (const t of tools) {
    const sample = SAMPLES[m.id] ?? HARDENING[m.id];
    const known = SAMPLES[m.id]?.[t.name] ?? (HARDENING[m.id]?.[t.name] ? [HARDENING[m.id]![t.name]!] : undefined);
    const calls = known ?? [sample ? {} : synthesize(t, m.tools[t.name] ?? {})];
    for (const a of calls) {
      let text: string;
      try {
        text = JSON.stringify(await client.callTool({ name: t.name, arguments: a }, undefined, { timeout: 10_000 }));
      } catch (e) {
        text = `no answer: ${(e as Error).message}`;
      }
      results.push({ tool: t.name, args: a, text });
    }
  }
  await client.close();
  const file = join(auditDir, `${m.id}.jsonl`);
  return {
    id: m.id,
    stdout,
    stderr,
    audit: existsSync(file) ? readFileSync(file, 'utf8') : '',
    results,
    tools: tools.map((t) => t.name),
  };
}

let doppler: DopplerSandbox;
let slack: SlackSandbox;
const others: Sandbox[] = [];
let slackToken: string;
const runs: Run[] = [];
const skipped: string[] = [];

beforeAll(async () => {
  doppler = await startDopplerSandbox();
  slack = await startSlackSandbox();
  for (const p of doppler.projects) {
    for (const c of p.configs)
      for (const [name, value] of [...c.secrets]) doppler.setSecret(p.slug, c.name, name, `${value}-${MARKER}`);
  }
  const manifests: Manifest[] = [];
  for (const f of readdirSync(SCOPES)
    .filter((x) => /^[a-z0-9-]+\.[a-z0-9-]+\.ya?ml$/.test(x))
    .sort()) {
    const connector = f.split('.')[0]!;
    if (!CONNECTORS[connector]) {
      skipped.push(f);
      continue;
    }
    manifests.push(loadManifest(join(SCOPES, f), CONNECTORS));
  }
  for (const m of manifests) {
    const envName = m.credential.startsWith('env:') ? m.credential.slice(4) : undefined;
    if (!envName)
      throw new Error(`${m.id}: the canary expects env: credentials in scopes/ (it adds the doppler: case itself)`);
    let url: string;
    let token: string;
    if (m.connector === 'doppler') {
      url = doppler.url;
      // a minted manifest (doppler.prod) starts from its broker: the broker is the credential that must never show
      token = m.mint
        ? doppler.issueBroker(m.upstream.project)
        : doppler.issueAccount(m.upstream.project, m.instance === 'dev');
    } else if (m.connector === 'slack') {
      url = slack.url;
      token = slack.issue(m.upstream.workspace, m.upstream.token_scopes);
    } else {
      const sb = await CONNECTORS[m.connector]!.sandbox();
      others.push(sb);
      url = sb.url;
      token = m.mint && sb.issueBroker ? sb.issueBroker(m) : sb.issueToken(m);
    }
    // a production instance of another connector proves its actor by the Slack message that asked,
    // read by the approvals identity (slack.prod's calls stay unproven: its approvals would wait)
    const actor = m.instance === 'prod' && m.connector !== 'slack' ? askedInSlack(slack) : {};
    runs.push({ ...(await runInstance(m, ['--upstream', url], { [envName]: token, ...actor })), token });
  }

  // `serve slack` with its bot token drawn from Doppler: doppler:blogbot/dev/SLACK_BOT_TOKEN.
  slackToken = slack.issue(
    'T0BLOGDEV',
    loadManifest(join(SCOPES, 'slack.dev.yaml'), CONNECTORS).upstream.token_scopes as string[],
  );
  doppler.setSecret('blogbot', 'dev', 'SLACK_BOT_TOKEN', slackToken);
  const dir = tempDir('fleet-canary-scopes-');
  writeFileSync(
    join(dir, 'slack.dev.yaml'),
    readFileSync(join(SCOPES, 'slack.dev.yaml'), 'utf8').replace(
      /^credential: .*$/m,
      'credential: doppler:blogbot/dev/SLACK_BOT_TOKEN',
    ),
  );
  const viaDoppler = loadManifest(join(dir, 'slack.dev.yaml'), CONNECTORS);
  const run = await runInstance(
    viaDoppler,
    ['--upstream', slack.url],
    { DOPPLER_TOKEN: doppler.issueServiceToken('blogbot', 'dev'), DOPPLER_API_URL: doppler.url },
    dir,
  );
  runs.push({ ...run, id: 'slack.dev (doppler: credential)', token: slackToken });
}, 180_000);

afterAll(async () => {
  await Promise.all([doppler?.close(), slack?.close(), ...others.map((s) => s.close())]);
});

describe('canary: secret values never leave the fleet unless a dev grant reveals them', () => {
  it('ran every tool of every registered instance, and the doppler: credential case', () => {
    const ids = runs.map((r) => r.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'cloudflare.dev',
        'cloudflare.prod',
        'doppler.dev',
        'doppler.prod',
        'slack.dev',
        'slack.prod',
        'slack.dev (doppler: credential)',
      ]),
    );
    // Cloudflare's tools ran with granted arguments: their calls reached the upstream, not a refusal
    for (const id of ['cloudflare.dev', 'cloudflare.prod']) {
      const refused = runs
        .find((r) => r.id === id)!
        .results.filter((x) => /"isError":true/.test(x.text) && /invalid arguments|denied: (?!approval)/.test(x.text));
      expect(
        refused.map((x) => `${x.tool}: ${x.text.slice(0, 200)}`),
        id,
      ).toEqual([]);
    }
    for (const r of runs) {
      expect(r.tools.length, r.id).toBeGreaterThan(0);
      expect(new Set(r.results.map((x) => x.tool)), r.id).toEqual(new Set(r.tools));
    }
    // skipped: manifests of connectors not registered yet (none once they land)
    expect(skipped.every((f) => !CONNECTORS[f.split('.')[0]!])).toBe(true);
  });

  it('the Slack instance started on the Doppler-held token and served real answers', () => {
    const r = runs.find((x) => x.id === 'slack.dev (doppler: credential)')!;
    expect(r.stderr).not.toMatch(/cannot start/);
    const history = r.results.find((x) => x.tool === 'read_history')!;
    expect(history.text).toContain('Welcome to the blog dev sandbox.');
    expect(slack.emulator.requests.filter((q) => q.route === 'auth.test').length).toBeGreaterThan(0);
  });

  it('shows the marker where the dev grant reveals it: the check can see a leak', () => {
    const shown = runs
      .find((r) => r.id === 'doppler.dev')!
      .results.filter((x) => mayReveal('doppler.dev', x.tool, x.args));
    expect(shown).toHaveLength(1);
    expect(shown[0]!.text).toContain(MARKER);
    const prodReveal = runs
      .find((r) => r.id === 'doppler.prod')!
      .results.find((x) => x.tool === 'get_secret' && x.args.reveal)!;
    expect(prodReveal.text).toMatch(/denied: secret value STRIPE_KEY is not allowed by get_secret\.reveal/);
  });

  it('finds neither the marker nor any issued credential in any result, stdout message, stderr line or audit record', () => {
    const leaks: string[] = [];
    // every instance's own credential, and every other's: a token must not show up anywhere
    const tokens = [...new Set(runs.map((r) => r.token).filter((t): t is string => !!t))];
    expect(tokens.length).toBe(runs.length);
    for (const r of runs) {
      const written = [...r.results.map((x) => x.text), ...r.stdout, r.stderr, r.audit].join('\n');
      for (const t of tokens)
        if (written.includes(t)) leaks.push(`${r.id} wrote the credential of ${runs.find((x) => x.token === t)!.id}`);
      for (const x of r.results) {
        if (mayReveal(r.id, x.tool, x.args)) continue;
        if (x.text.includes(MARKER) || x.text.includes(slackToken))
          leaks.push(`${r.id} ${x.tool} ${JSON.stringify(x.args)} result`);
      }
      // stdout: every message except the one reveal answer
      const revealed = r.results.filter((x) => mayReveal(r.id, x.tool, x.args)).length;
      const onStdout = r.stdout.filter((s) => s.includes(MARKER)).length;
      if (onStdout > revealed) leaks.push(`${r.id} stdout (${onStdout} messages)`);
      if (r.stdout.some((s) => s.includes(slackToken))) leaks.push(`${r.id} stdout has the Slack token`);
      if (r.stderr.includes(MARKER) || r.stderr.includes(slackToken)) leaks.push(`${r.id} stderr`);
      if (r.audit.includes(MARKER) || r.audit.includes(slackToken)) leaks.push(`${r.id} audit`);
    }
    expect(leaks).toEqual([]);
    // and the audit trails recorded the calls (the check above is not vacuous)
    for (const r of runs)
      expect(r.audit.split('\n').filter(Boolean).length, r.id).toBeGreaterThanOrEqual(r.results.length);
  });

  it('kept the value a write carried out of the audit trail, recording its length', () => {
    const audit = runs
      .find((r) => r.id === 'doppler.dev')!
      .audit.split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const intent = audit.find((a) => a.tool === 'set_secret' && a.phase === 'intent');
    expect(intent.args.value).toEqual({ len: `agent-${MARKER}`.length });
  });
});
