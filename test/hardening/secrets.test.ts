// Secrets on the paths nobody looks at: each connector's credential (a canary value) and a secret
// value a call carries must not show up in stderr, stdout, the audit trail or any result when the
// upstream echoes them back in an error body, when the start-up identity check fails, when a
// server is killed mid-call, or when the manifest is broken. test/e2e/canary.test.ts covers the
// normal paths of every tool; this covers the failures.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SCOPES, serve, tempDir, text } from '../helpers.js';
import { credentialVar, manifestOf, SAMPLES, upstreamFor, type Upstream } from './instances.js';

const marker = () => `cnry${randomBytes(12).toString('hex')}`;

const ROUTES: Record<string, { read: [string, string]; write: [string, string, string] }> = {
  slack: { read: ['read_history', 'conversations.history'], write: ['post_message', 'chat.postMessage', 'text'] },
  cloudflare: {
    read: ['workflow_get_instance', 'workflows.instances.get'],
    write: ['kv_put', 'kv.values.update', 'value'],
  },
  doppler: { read: ['list_secret_names', 'secrets.names'], write: ['set_secret', 'secrets.update', 'value'] },
};

/** An upstream error body in the connector's own format that quotes `leak`. */
function echoBody(connector: string, leak: string): string {
  // (Slack's error code itself must be a snake_case word, or the connector reports bad_response
  // without quoting it: the leak rides in `needed`, which the fleet does quote)
  if (connector === 'slack') return JSON.stringify({ ok: false, error: 'missing_scope', needed: leak, detail: leak });
  if (connector === 'cloudflare')
    return JSON.stringify({
      success: false,
      errors: [{ code: 10000, message: `bad token ${leak}` }],
      messages: [leak],
      result: null,
    });
  return JSON.stringify({ messages: [`Invalid value ${leak}`, leak], success: false });
}

describe.each(Object.keys(ROUTES))('secrets on failure paths: %s', (connector) => {
  const m = manifestOf(connector, 'dev');
  let up: Upstream;
  beforeAll(async () => {
    up = await upstreamFor(m, connector === 'slack' ? `canary-${marker()}` : undefined);
  });
  afterAll(() => up?.close());

  it('an upstream error body that quotes the credential or the value sent stays out of everything written', async () => {
    const value = marker();
    const s = await serve({ connector, env: 'dev', upstream: up.url, vars: { [credentialVar(m)]: up.token } });
    const [readTool, readRoute] = ROUTES[connector]!.read;
    const [writeTool, writeRoute, field] = ROUTES[connector]!.write;
    const results: string[] = [];
    const sample = SAMPLES[m.id]!;
    results.push(text(await s.call(readTool, sample[readTool]!)));
    for (const status of [400, 401, 403, 500, 200]) {
      up.emulator.inject({ route: readRoute, status, body: echoBody(connector, up.token) });
      results.push(JSON.stringify(await s.call(readTool, sample[readTool]!)));
      up.emulator.inject({ route: writeRoute, status, body: echoBody(connector, `${up.token} ${value}`) });
      results.push(JSON.stringify(await s.call(writeTool, { ...sample[writeTool]!, [field]: value })));
    }
    // arguments that quote the credential: an unknown tool, bad arguments, a refused resource
    results.push(JSON.stringify(await s.call('no_such_tool', { token: up.token })));
    results.push(JSON.stringify(await s.call(readTool, { ...sample[readTool]!, junk: up.token, limit: up.token })));
    await s.close();
    const audit = existsSync(s.auditFile) ? readFileSync(s.auditFile, 'utf8') : '';
    expect(audit.split('\n').length).toBeGreaterThan(10);
    for (const [where, out] of [
      ['results', results.join('\n')],
      ['stderr', s.stderr()],
      ['audit', audit],
    ] as const) {
      expect(out.includes(up.token), `${where} holds the credential`).toBe(false);
    }
    // the echo did reach the fleet's error texts, and was scrubbed there: the check can see a leak
    expect(results.join('\n')).toContain('[redacted]');
    // the value a write carried may be in the result the caller sent it in, never in stderr. The
    // audit trail records the argument hashed (a body) or as its length (a Doppler secret): where it
    // holds the value at all, it is only the upstream's own error text quoting a body back — and
    // never for Doppler, whose client cuts the value out of what Doppler says.
    expect(s.stderr().includes(value)).toBe(false);
    const holding = audit
      .split('\n')
      .filter((l) => l.includes(value))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (connector === 'doppler') expect(holding, 'a secret value in the audit trail').toEqual([]);
    for (const r of holding) {
      expect(r.phase).toBe('outcome');
      // (Slack's own error code is the upstream's words too: the echo puts the value there)
      expect(
        JSON.stringify({ ...r, error: undefined, error_message: undefined }).includes(value),
        `the value outside the echoed error: ${JSON.stringify(r).slice(0, 300)}`,
      ).toBe(false);
    }
  }, 60_000);

  it.each(['dev', 'prod'])(
    'a failed start-up identity check names no credential (%s)',
    async (env) => {
      const mm = manifestOf(connector, env);
      const wrong = connector === 'doppler' ? `dp.st.${marker()}` : marker();
      const r = await runCli(['serve', connector, '--env', env, '--upstream', up.url], {
        env: { [credentialVar(mm)]: wrong, FLEET_AUDIT_DIR: tempDir() },
        keepStdin: true,
        timeoutMs: 15_000,
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/cannot start/);
      expect(r.stderr.includes(wrong)).toBe(false);
    },
    30_000,
  );

  it('a server killed mid-call, and one refusing a broken manifest, print no credential', async () => {
    const [writeTool, writeRoute] = ROUTES[connector]!.write;
    const s = await serve({ connector, env: 'dev', upstream: up.url, vars: { [credentialVar(m)]: up.token } });
    up.emulator.inject({ route: writeRoute, hang: true });
    const before = up.emulator.requests.length;
    const inFlight = () => up.emulator.requests.slice(before).some((q) => q.route === writeRoute);
    const pending = s.call(writeTool, SAMPLES[m.id]![writeTool]!).catch((e: Error) => e.message);
    for (let i = 0; i < 500 && !inFlight(); i++) await new Promise((r) => setTimeout(r, 20));
    // this call's request reached the (hanging) upstream: the server dies mid-call, not before it
    expect(inFlight(), 'the write was in flight when the server was killed').toBe(true);
    process.kill(s.pid, 'SIGKILL');
    const out = String(await pending);
    up.emulator.clearFaults();
    expect((out + s.stderr()).includes(up.token)).toBe(false);

    const dir = tempDir('fleet-broken-');
    cpSync(SCOPES, dir, { recursive: true });
    const file = join(dir, `${connector}.dev.yaml`);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^credential: .*$/m, `credential: ${up.token}`));
    const r = await runCli(['serve', connector, '--env', 'dev', '--scopes', dir], {
      env: { [credentialVar(m)]: up.token },
      keepStdin: true,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.yaml:\d+: credential/);
    expect((r.stdout + r.stderr).includes(up.token)).toBe(false);
  }, 30_000);
});
