// One long-lived server per instance of scopes/, against a sandbox in this process: the suites
// see every request that reached the "upstream" and can inject its faults. Valid arguments for
// every tool (the seeds the suites mutate) live here too.
import { join } from 'node:path';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { startDopplerSandbox, type DopplerSandbox } from '../../servers/doppler/sandbox/index.js';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import type { Emulator } from '../../shared/connector/emulator.js';
import { loadManifest } from '../../shared/manifest/load.js';
import type { Manifest } from '../../shared/base/manifest.js';
import { askedInSlack, SCOPES, serve, type Served, type ServeArgs } from '../helpers.js';

/** How many generated cases a suite runs; FLEET_FUZZ_RUNS scales every suite (CI keeps the default). */
export function runs(base: number): number {
  const scale = Number(process.env.FLEET_FUZZ_RUNS);
  return Number.isFinite(scale) && scale > 0 ? Math.max(1, Math.round((base * scale) / 100)) : base;
}

export const INSTANCES = [
  ['slack', 'dev'],
  ['slack', 'prod'],
  ['cloudflare', 'dev'],
  ['cloudflare', 'prod'],
  ['doppler', 'dev'],
  ['doppler', 'prod'],
] as const;

export type AnySandbox = SlackSandbox | CloudflareSandbox | DopplerSandbox;

export interface Upstream {
  sandbox: AnySandbox;
  emulator: Emulator;
  url: string;
  token: string;
  close(): Promise<void>;
}

export const manifestOf = (connector: string, env: string): Manifest =>
  loadManifest(join(SCOPES, `${connector}.${env}.yaml`), CONNECTORS);

/**
 * A sandbox for the instance, and a credential it issued with exactly the manifest's declared
 * permissions; or, where the manifest mints its token (the shipped production Cloudflare and
 * Doppler), a broker that may only create and delete the instance's tokens.
 */
export async function upstreamFor(m: Manifest, token?: string): Promise<Upstream> {
  if (m.connector === 'slack') {
    const sb = await startSlackSandbox();
    return {
      sandbox: sb,
      emulator: sb.emulator,
      url: sb.url,
      token: sb.issue(m.upstream.workspace, m.upstream.token_scopes, token),
      close: () => sb.close(),
    };
  }
  if (m.connector === 'cloudflare') {
    const sb = await startCloudflareSandbox();
    const cred = m.mint
      ? sb.issue(m.upstream.account, ['Account API Tokens Write'], { name: 'fleet broker' })
      : sb.issue(m.upstream.account, [...m.upstream.token_permissions, 'Account API Tokens Read']);
    return { sandbox: sb, emulator: sb.emulator, url: sb.url, token: cred, close: () => sb.close() };
  }
  const sb = await startDopplerSandbox();
  const write = m.instance === 'dev';
  const cred = m.mint ? sb.issueBroker(m.upstream.project) : sb.issueAccount(m.upstream.project, write);
  return { sandbox: sb, emulator: sb.emulator, url: sb.url, token: cred, close: () => sb.close() };
}

export const credentialVar = (m: Manifest) => m.credential.replace(/^env:/, '');

export interface Live {
  manifest: Manifest;
  up: Upstream;
  server: Served;
  close(): Promise<void>;
}

/** Starts the sandbox and `serve <connector> --env <env> --upstream <url>`; waits for the identity check. */
export async function startLive(connector: string, env: string, extra: Partial<ServeArgs> = {}): Promise<Live> {
  const manifest = manifestOf(connector, env);
  const up = await upstreamFor(manifest);
  // a production instance proves its actor by the Slack message that asked: a writer asks in the
  // request channel (slack.prod reads it with its own token; the others through the approvals
  // identity, pointed at a Slack sandbox of their own)
  const asking = manifest.instance === 'prod' && manifest.connector !== 'slack' ? await startSlackSandbox() : undefined;
  const actor: Record<string, string> =
    manifest.id === 'slack.prod'
      ? {
          FLEET_ACTOR: 'U0WRITER1',
          FLEET_THREAD: (up.sandbox as SlackSandbox).say(
            'T0BLOGPROD',
            'C0EDITORIAL',
            'U0WRITER1',
            'hardening run, please',
          ),
        }
      : asking
        ? askedInSlack(asking, 'U0WRITER1', 'hardening run, please')
        : { FLEET_ACTOR: 'hardening@example.com' };
  const server = await serve({
    connector,
    env,
    upstream: up.url,
    ...extra,
    vars: { [credentialVar(manifest)]: up.token, ...actor, ...extra.vars },
  });
  // any read opens the upstream: the identity check's requests are behind us afterwards
  const first = [...Object.keys(manifest.tools)].find((t) => SAMPLES[manifest.id]?.[t] && !WRITES.has(t));
  if (first) await server.call(first, SAMPLES[manifest.id]![first]!);
  return {
    manifest,
    up,
    server,
    close: async () => {
      await server.close();
      await up.close();
      await asking?.close();
    },
  };
}

const ts = (n: number) => `${1767225600 + n * 60}.${String(100 + n).padStart(6, '0')}`;
const CF = {
  account: '5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12',
  devKv: '1d0e5f0c2b4a49e7a1c3e5f7a9b1d3e5',
  prodKv: '7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2',
  devDb: 'c0ffee00d1d14000a000000000000001',
  prodDb: 'c0ffee00d1d14000a000000000000002',
  devZone: 'ab12cd34ef5647a8b9c0d1e2f3a4b5c6',
  prodZone: 'e1b2a3c4d5e6f708192a3b4c5d6e7f80',
};
export { CF as CF_IDS };

// Tools that change something, from the connectors' own access classes.
const WRITES = new Set(
  Object.values(CONNECTORS).flatMap((c) => c.tools.filter((t) => t.access !== 'read').map((t) => t.name)),
);

/** Valid arguments for each granted tool that takes a resource, per instance. */
export const SAMPLES: Record<string, Record<string, Record<string, unknown>>> = {
  'slack.dev': {
    read_history: { channel: 'C0DEVGENERAL' },
    read_thread: { channel: 'C0DEVGENERAL', ts: ts(2) },
    get_permalink: { channel: 'C0DEVGENERAL', ts: ts(1) },
    post_message: { channel: 'C0DEVBOTTEST', text: 'hardening' },
    reply_in_thread: { channel: 'C0DEVBOTTEST', thread_ts: ts(5), text: 'hardening' },
    update_message: { channel: 'C0DEVBOTTEST', ts: ts(5), text: 'hardening' },
    delete_message: { channel: 'C0DEVBOTTEST', ts: ts(5) },
    add_reaction: { channel: 'C0DEVGENERAL', ts: ts(1), emoji: 'eyes' },
  },
  'slack.prod': {
    read_history: { channel: 'C0EDITORIAL' },
    read_thread: { channel: 'C0EDITORIAL', ts: ts(10) },
    get_permalink: { channel: 'C0EDITORIAL', ts: ts(10) },
    post_message: { channel: 'C0EDITORIAL', text: 'hardening' },
    reply_in_thread: { channel: 'C0EDITORIAL', thread_ts: ts(10), text: 'hardening' },
    update_message: { channel: 'C0EDITORIAL', ts: ts(12), text: 'hardening' },
    add_reaction: { channel: 'C0EDITORIAL', ts: ts(10), emoji: 'eyes' },
  },
  'cloudflare.dev': {
    get_worker: { name: 'blogbot-dev' },
    deploy_worker: {
      name: 'blogbot-dev-hardening',
      source: 'export default { fetch() { return new Response("ok") } }',
      bindings: [
        { name: 'CACHE', type: 'kv_namespace', value: CF.devKv },
        { name: 'MEDIA', type: 'r2_bucket', value: 'blogbot-dev-media' },
        { name: 'DB', type: 'd1', value: CF.devDb },
      ],
    },
    delete_worker: { name: 'blogbot-dev-preview' },
    smoke_check_worker: { name: 'blogbot-dev' },
    kv_list_keys: { namespace_id: CF.devKv, prefix: 'posts/' },
    kv_get: { namespace_id: CF.devKv, key: 'posts/hello-world' },
    kv_put: { namespace_id: CF.devKv, key: 'posts/hardening', value: 'x' },
    kv_delete: { namespace_id: CF.devKv, key: 'posts/hardening' },
    r2_list_objects: { bucket: 'blogbot-dev-media', prefix: 'drafts/' },
    r2_get_object: { bucket: 'blogbot-dev-media', key: 'drafts/hello.md' },
    r2_put_object: { bucket: 'blogbot-dev-media', key: 'drafts/hardening.md', text: 'x' },
    r2_delete_object: { bucket: 'blogbot-dev-media', key: 'drafts/hardening.md' },
    d1_query: { database_id: CF.devDb, sql: 'SELECT 1' },
    workflow_list_instances: { workflow: 'publish-post-dev' },
    workflow_get_instance: { workflow: 'publish-post-dev', id: 'dev-run-1' },
    workflow_create_instance: { workflow: 'publish-post-dev' },
    dns_list_records: { zone_id: CF.devZone },
    dns_upsert_record: { zone_id: CF.devZone, type: 'A', name: 'hardening.example-blog.dev', content: '192.0.2.99' },
    dns_delete_record: { zone_id: CF.devZone, id: 'd0000000000000000000000000000004' },
  },
  'cloudflare.prod': {
    get_worker: { name: 'blogbot' },
    kv_list_keys: { namespace_id: CF.prodKv, prefix: 'posts/' },
    kv_get: { namespace_id: CF.prodKv, key: 'posts/release-notes-4-2' },
    r2_list_objects: { bucket: 'blogbot-media', prefix: 'published/' },
    r2_get_object: { bucket: 'blogbot-media', key: 'published/release-notes-4-2.md' },
    d1_query: { database_id: CF.prodDb, sql: 'SELECT slug FROM posts' },
    workflow_list_instances: { workflow: 'publish-post' },
    workflow_get_instance: { workflow: 'publish-post', id: 'run-1' },
    workflow_create_instance: { workflow: 'publish-post' },
    dns_list_records: { zone_id: CF.prodZone },
  },
  'doppler.dev': {
    list_secret_names: { config: 'dev' },
    get_secret: { config: 'dev', name: 'STRIPE_KEY' },
    compare_configs: { from: 'dev', to: 'dev_ci' },
    config_activity: { config: 'dev' },
    set_secret: { config: 'dev', name: 'AGENT_HARDENING', value: 'x' },
    delete_secret: { config: 'dev', name: 'AGENT_HARDENING' },
  },
  'doppler.prod': {
    list_secret_names: { config: 'prd' },
    get_secret: { config: 'prd', name: 'STRIPE_KEY' },
    compare_configs: { from: 'stg', to: 'prd' },
    config_activity: { config: 'prd' },
  },
};

/** Resources each sandbox holds that no manifest grants, for "the other environment" near-misses. */
export const UNGRANTED: Record<string, string[]> = {
  channels: ['C0DEVPRIVATE', 'C0GENERAL', 'C0FINANCE', 'C0APPROVALS', 'C0RANDOM'],
  scripts: ['billing-worker', 'blogbot'],
  namespaces: ['9f8e7d6c5b4a43f2e1d0c9b8a7f6e5d4'],
  buckets: ['blogbot-backups', 'blogbot-media'],
  workflows: ['reindex-search'],
  zones: ['f0e1d2c3b4a5968778695a4b3c2d1e0f', 'e1b2a3c4d5e6f708192a3b4c5d6e7f80'],
  configs: ['prd', 'stg', 'dev', 'prd_backup'],
  secrets: ['STRIPE_KEY', 'DATABASE_URL', 'SLACK_BOT_TOKEN'],
};
