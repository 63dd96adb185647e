// `fleet demo --promotion`: proof before promotion, end to end. One Cloudflare sandbox in this
// process; the dev and prod instances run as child processes against it over stdio, as Claude
// Code and the bot would. The shipped prod manifest never deploys, so the scene uses a copy of the
// scopes whose prod grants deploy_worker with `promotion: { from: cloudflare.dev, within: 1h }`.
// Production proves its actor: Erin asks in #editorial of a Slack sandbox, and the prod instance's
// calls carry that message as their thread (read back through the approvals identity).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCheckpointKey } from '../../../shared/audit/checkpoint.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startSlackSandbox } from '../../slack/sandbox/index.js';
import { IDS } from '../../cloudflare/sandbox/seed.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import { CONNECTORS } from '../connectors.js';
import type { AuditCommands } from '../audit-commands.js';
import { VERSION } from '../version.js';

const say = (s = '') => console.log(s);
const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
const first = (r: CallToolResult) => (r.content[0]?.type === 'text' ? r.content[0].text : '');

export async function demoPromotion(
  opts: { scopes: string; cli: string },
  { auditShow, auditVerify }: Pick<AuditCommands, 'auditShow' | 'auditVerify'>,
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-demo-promotion-'));
  const sb = await CONNECTORS.cloudflare!.sandbox();
  const slack = await startSlackSandbox();
  try {
    const scopes = join(dir, 'scopes');
    cpSync(opts.scopes, scopes, { recursive: true });
    const prodFile = join(scopes, 'cloudflare.prod.yaml');
    const grant = `  deploy_worker:\n    scripts: [blogbot]\n    namespaces: [${IDS.prodKv}]\n    promotion: { from: cloudflare.dev, within: 1h }   # the dev instance's verified trail must show it\n`;
    writeFileSync(prodFile, readFileSync(prodFile, 'utf8').replace(/^tools:\n/m, `tools:\n${grant}`));
    const audit = join(dir, 'audit');
    // evidence counts only where a signed checkpoint covers it: the scene's own key, its notes beside the trails' folder
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    const checkpoints = {
      FLEET_CHECKPOINT_KEY: join(dir, 'keys', 'checkpoint.pem'),
      FLEET_CHECKPOINT_FILE: join(dir, 'keys', 'checkpoints.txt'),
    };
    const key = generateCheckpointKey();
    writeFileSync(checkpoints.FLEET_CHECKPOINT_KEY, key.privatePem, { mode: 0o600 });
    const fleetFile = join(scopes, 'fleet.yaml');
    writeFileSync(
      fleetFile,
      readFileSync(fleetFile, 'utf8')
        .replace(/^ {2}key: \{[^}\n]*\}$/m, `  key: { name: fleet-demo, public: ${key.public} }`)
        .replace(/\n {2}slack: \{ reader: [^\n]*\}\n/, '\n'),
    );
    const connect = async (env: string, vars: Record<string, string>) => {
      const client = new Client({ name: `fleet-demo-${env}`, version: VERSION });
      const e = {
        ...process.env,
        FLEET_AUDIT_DIR: audit,
        FLEET_STATE_DIR: join(dir, `state-${env}`),
        FLEET_ACTOR: 'alice@example.com',
        ...checkpoints,
        ...vars,
      } as Record<string, string>;
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [opts.cli, 'serve', 'cloudflare', '--env', env, '--scopes', scopes, '--upstream', sb.url],
          env: e,
          stderr: 'inherit',
        }),
      );
      return client;
    };
    say('fleet demo --promotion — a dev deploy, its smoke check, and the production promotion that cites them');
    say(
      `  sandbox: ${sb.url}; scopes: a copy whose cloudflare.prod grants deploy_worker with promotion: { from: cloudflare.dev, within: 1h }`,
    );
    // each instance's credential as its manifest declares it (the connector's sandbox issues it)
    const manifest = (env: string) => loadManifest(join(scopes, `cloudflare.${env}.yaml`), CONNECTORS);
    const dev = await connect('dev', { CLOUDFLARE_API_TOKEN_DEV: sb.issueToken(manifest('dev')) });
    // production as shipped: its token is minted at start from a broker that may only create and delete
    // tokens, and it proves its actor: Erin asked in #editorial, read back through the approvals identity
    const asked = slack.say(
      'T0BLOGPROD',
      'C0EDITORIAL',
      'U0EDITOR1',
      '@blogbot please promote the checked blogbot Worker',
    );
    say(
      `  production proves its actor: Erin (U0EDITOR1) asked in #editorial (message ${asked}), read back through the approvals identity`,
    );
    const prod = await connect('prod', {
      CLOUDFLARE_BROKER_TOKEN_PROD: sb.issueBroker!(manifest('prod')),
      FLEET_ACTOR: 'U0EDITOR1',
      FLEET_THREAD: asked,
      SLACK_APPROVALS_TOKEN: slack.issue(
        'T0BLOGPROD',
        ['chat:write', 'channels:history', 'users:read'],
        undefined,
        'U0APPROVALS',
      ),
      FLEET_APPROVALS_SLACK_URL: slack.url,
    });
    let n = 0;
    const step = async (who: Client, inst: string, title: string, name: string, a: Record<string, unknown>) => {
      say();
      say(`${++n}. ${title}`);
      say(`   [${inst}] ${name} ${JSON.stringify(a).slice(0, 160)}`);
      const r = (await who.callTool({ name, arguments: a })) as CallToolResult;
      say(`   ${r.isError ? '✗ refused' : '✓ ok'}`);
      say(indent(first(r)));
      return r;
    };
    try {
      const source = 'export default { async fetch(req, env) { return new Response("blog v43"); } };\n';
      const bindings = (ns: string) => [{ name: 'CACHE', type: 'kv_namespace', value: ns }];
      await step(
        prod,
        'cloudflare.prod',
        'Production tries first: nothing in dev shows this script yet',
        'deploy_worker',
        { name: 'blogbot', source, bindings: bindings(IDS.prodKv) },
      );
      await step(dev, 'cloudflare.dev', 'The developer deploys it to the dev Worker', 'deploy_worker', {
        name: 'blogbot-dev',
        source,
        bindings: bindings(IDS.devKv),
      });
      await step(prod, 'cloudflare.prod', 'Deployed in dev, but not checked: still refused', 'deploy_worker', {
        name: 'blogbot',
        source,
        bindings: bindings(IDS.prodKv),
      });
      await step(
        dev,
        'cloudflare.dev',
        'The dev smoke check the grant declares (GET / must answer 200)',
        'smoke_check_worker',
        { name: 'blogbot-dev' },
      );
      await step(prod, 'cloudflare.prod', 'One byte different from what dev checked: refused', 'deploy_worker', {
        name: 'blogbot',
        source: `${source} `,
        bindings: bindings(IDS.prodKv),
      });
      await step(
        prod,
        'cloudflare.prod',
        'The exact script and binding shape dev deployed and checked: promoted',
        'deploy_worker',
        { name: 'blogbot', source, bindings: bindings(IDS.prodKv) },
      );
    } finally {
      await Promise.all([dev.close(), prod.close()]);
    }
    const prodTrail = join(audit, 'cloudflare.prod.jsonl');
    say();
    say(`${++n}. The production trail cites its evidence (fleet audit show ${prodTrail})`);
    await auditShow(prodTrail, {}, (s) => say(indent(s)));
    say();
    say(`${++n}. Both chains (fleet audit verify)`);
    const a = await auditVerify(join(audit, 'cloudflare.dev.jsonl'), {}, (s) => say(`    ${s}`));
    const b = await auditVerify(prodTrail, {}, (s) => say(`    ${s}`));
    return a || b;
  } finally {
    await Promise.all([sb.close(), slack.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
