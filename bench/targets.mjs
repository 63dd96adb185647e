// What the bench starts: every fleet instance found in scopes/ (on its sandbox), the peers
// installed in bench/peers/node_modules (bench/peers/package.json, by `npm run bench`), the one-tool SDK server and a bare `node -e 0`. Every target gets
// the same minimal environment, so nothing in the caller's shell (NODE_OPTIONS,
// NODE_EXTRA_CA_CERTS, ...) weighs on one row and not another.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function baseEnv(extra = {}) {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...extra };
}

/**
 * A fleet instance as a coding agent starts it: `fleet serve <c> --env <e> --sandbox`, through the
 * installed launcher (dist/fleet: the start-up snapshot, or the bundle where there is none), or
 * `node dist/cli.js` when the bench is pointed at a build without a launcher.
 */
export function fleetTarget({ root, cli, scopes, auditDir, stateDir, instance }) {
  const { connector, env, manifest } = instance;
  const launcher = join(dirname(cli), 'fleet');
  const serve = ['serve', connector, '--env', env, '--sandbox', '--scopes', scopes];
  return {
    name: `fleet ${connector}.${env}`,
    kind: 'fleet',
    instance,
    granted: Object.keys(manifest.tools),
    ...(existsSync(launcher)
      ? { command: launcher, args: serve }
      : { command: process.execPath, args: [cli, ...serve] }),
    env: baseEnv({ FLEET_AUDIT_DIR: auditDir, FLEET_STATE_DIR: stateDir, FLEET_TRACE_START: '1' }),
    cwd: root,
    // settled once its upstream is open (servers/fleet/commands/serve.ts says so with FLEET_TRACE_START)
    opens: 'fleet: upstream open',
  };
}

const peerBin = (root, pkg, file) => join(root, 'bench', 'peers', 'node_modules', pkg, file);

/**
 * The peers. `dopplerSandbox` is the fleet's Doppler sandbox ({url, token}) when that connector is
 * registered; the Doppler server checks its token against the API before it serves anything.
 */
export function peerTargets({ root, dopplerSandbox, oneTool }) {
  const node = process.execPath;
  /** @type {{ name: string, kind: string, ref?: string, note: string, command: string, args: string[], env?: Record<string, string>, unavailable?: string }[]} */
  const peers = [
    {
      name: 'official Slack server',
      kind: 'peer',
      ref: 'slack',
      note: '@modelcontextprotocol/server-slack 2025.4.25 (SDK 1.0.1), no upstream needed to list',
      command: node,
      args: [peerBin(root, '@modelcontextprotocol/server-slack', 'dist/index.js')],
      env: baseEnv({ SLACK_BOT_TOKEN: 'xoxb-bench-not-a-token', SLACK_TEAM_ID: 'T0BENCH' }),
    },
    {
      name: 'Cloudflare server',
      kind: 'peer',
      note: '@cloudflare/mcp-server-cloudflare 0.2.0 `run <account>` with CLOUDFLARE_API_TOKEN set: lists without calling the API',
      command: node,
      args: [
        peerBin(root, '@cloudflare/mcp-server-cloudflare', 'dist/index.js'),
        'run',
        '0123456789abcdef0123456789abcdef',
      ],
      env: baseEnv({ CLOUDFLARE_API_TOKEN: 'bench-not-a-token' }),
    },
  ];
  const doppler = {
    name: 'Doppler server',
    kind: 'peer',
    note: '@dopplerhq/mcp-server 1.0.5 dist/index.js (its bin wrapper adds a second node start), DOPPLER_BASE_URL at the fleet Doppler sandbox; it checks its token with GET /v3/workplace before it serves',
    command: node,
    args: [peerBin(root, '@dopplerhq/mcp-server', 'dist/index.js')],
  };
  if (dopplerSandbox) {
    doppler.env = baseEnv({
      DOPPLER_TOKEN: dopplerSandbox.token,
      DOPPLER_BASE_URL: dopplerSandbox.url.replace(/\/+$/, ''),
    });
  } else {
    doppler.unavailable =
      'not measured: it checks its token against the Doppler API before serving, and no Doppler sandbox is registered in this build';
  }
  peers.push(doppler);
  peers.push({
    name: 'one-tool SDK server',
    kind: 'peer',
    ref: 'oneTool',
    note: 'bench/one-tool-server.mjs: @modelcontextprotocol/sdk 1.32.2 McpServer + zod, bundled as the fleet is (bench/bundle.mjs): the floor for this SDK',
    command: node,
    args: [oneTool],
    env: baseEnv(),
  });
  return peers.map((p) => ({ cwd: root, ...p }));
}

export const bareNode = () => ({
  name: 'bare `node -e 0`',
  kind: 'floor',
  command: process.execPath,
  args: ['-e', '0'],
  env: baseEnv(),
});
