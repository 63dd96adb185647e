// examples/bot: the Worker's publish step, run as is against a local `fleet serve --http` on the
// Slack sandbox (in this process, so the editor's request message can be posted first)
// through the typed client (mcp-fleet-client): it posts once, a retried step replays instead of
// reposting, a refused post comes back as a status the workflow can branch on, and the typed
// client's retries reuse the idempotency key. The same Worker, bundled for a neutral platform with
// the built package mcp-fleet-client, also runs where only Web globals exist (no process, no
// require), as on Cloudflare Workers.
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishDraft, type Env } from '../../examples/bot/publish.js';
import { callTool, fleetClient, FleetError } from '../../client/index.js';
import { approvalsIdentity, auditRecords, ROOT, waitFor } from '../helpers.js';
import { editWithApproval, type Step } from '../../examples/bot/edit-workflow.js';
import { WebClient } from '@slack/web-api';
import { httpScopes, mintedToken, serveHttp, type HttpServed } from '../http-helpers.js';
import { join } from 'node:path';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';

let s: HttpServed;
let env: Env;
let THREAD: string;
let sb: SlackSandbox;

beforeAll(async () => {
  const scopes = httpScopes(`clients:
  bot-publish:
    owner: content-platform <content@example.com>
    purpose: The blog bot's publish step posts approved drafts in the editorial channel.
    instances: [slack.prod]
    token: env:NOT_YET_MINTED
`);
  const token = await mintedToken(scopes, 'bot-publish');
  sb = await startSlackSandbox();
  // the editor asks in the editorial channel; slack.prod reads that message back as the proof
  THREAD = sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0EDITOR1', 'please publish the release notes');
  s = await serveHttp(['--instance', 'slack.prod', '--upstream', sb.url, '--scopes', scopes], {
    vars: {
      SLACK_BOT_TOKEN_PROD: sb.issue('T0BLOGPROD', [
        'channels:read',
        'channels:history',
        'chat:write',
        'reactions:write',
        'users:read',
      ]),
      // the approvals identity, reading the approvals channel inside Slack's budget (the sandbox is strict here)
      ...approvalsIdentity(sb),
      FLEET_APPROVAL_POLL_MS: '1200',
    },
  });
  env = { FLEET_URL: s.url, FLEET_TOKEN: token };
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
  await sb.close();
});

describe('the bot example (a Worker step) through the typed client', () => {
  it('posts a draft once; the retried step replays; the trail names the client and the editor', async () => {
    const draft = {
      id: `d-${Date.now()}`,
      channel: 'C0EDITORIAL',
      text: 'Release notes 4.3 are out',
      editor: 'U0EDITOR1',
      thread: THREAD,
    };
    const first = await publishDraft(env, draft);
    expect(first).toMatchObject({ posted: true, replayed: false });
    const again = await publishDraft(env, draft);
    expect(again).toMatchObject({ posted: true, replayed: true, ts: (first as { ts: string }).ts });
    const slack = fleetClient('slack.prod', { url: `${s.url}/mcp/slack/prod`, token: env.FLEET_TOKEN });
    const history = await slack.read_history({ channel: 'C0EDITORIAL' }, { actor: 'U0EDITOR1', thread: THREAD });
    expect(history.ok).toBe(true);
    if (history.ok) expect(history.data.messages.filter((m) => m.text === draft.text)).toHaveLength(1);
    const recs = auditRecords(join(s.auditDir, 'slack.prod.jsonl')).filter((r) => r.tool === 'post_message');
    expect(
      recs.every(
        (r) => r.client_id === 'bot-publish' && r.actor === 'U0EDITOR1' && r.reason === `publish draft ${draft.id}`,
      ),
    ).toBe(true);
    expect(recs.map((r) => r.decision ?? r.outcome)).toEqual(['allow', 'ok', 'replay']);
  });

  it('returns a refusal as a status the workflow branches on', async () => {
    const r = await publishDraft(env, {
      id: `x-${Date.now()}`,
      channel: 'C0RANDOM9',
      text: 'elsewhere',
      editor: 'U0EDITOR1',
      thread: THREAD,
    });
    expect(r).toMatchObject({ posted: false, status: 'denied' });
    expect((r as { why: string }).why).toMatch(/channel C0RANDOM9 is not in post_message\.channels of slack\.prod/);
  });

  it('throws FleetError with the HTTP status for a bad credential (no retry: it cannot help)', async () => {
    let calls = 0;
    const counting: typeof fetch = (...a) => {
      calls++;
      return fetch(...a);
    };
    await expect(
      publishDraft(
        { ...env, FLEET_TOKEN: 'fleet_nope' },
        { id: 'z', channel: 'C0EDITORIAL', text: 'z', editor: 'U0EDITOR1', thread: THREAD },
        counting,
      ),
    ).rejects.toMatchObject({ name: 'FleetError', httpStatus: 401 });
    expect(calls).toBe(1);
  });

  it('retries a write only with the same idempotency key, so a lost answer never posts twice', async () => {
    const seen: string[] = [];
    let dropped = false;
    // the first answer is lost on the way back (the post happened); the client retries
    const flaky: typeof fetch = async (input, init) => {
      seen.push(JSON.parse(String(init!.body)).params._meta['fleet/idempotency-key']);
      const res = await fetch(input, init);
      if (!dropped) {
        dropped = true;
        await res.text();
        throw new TypeError('network connection lost');
      }
      return res;
    };
    const text = `flaky ${Date.now()}`;
    const r = await callTool(
      { url: `${s.url}/mcp/slack/prod`, token: env.FLEET_TOKEN, fetch: flaky },
      'post_message',
      { channel: 'C0EDITORIAL', text },
      'write',
      { actor: 'U0EDITOR1', thread: THREAD },
    );
    expect(r.ok).toBe(true);
    expect(r.data.status).toBe('replayed');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
    const slack = fleetClient('slack.prod', { url: `${s.url}/mcp/slack/prod`, token: env.FLEET_TOKEN });
    const history = await slack.read_history({ channel: 'C0EDITORIAL' }, { actor: 'U0EDITOR1', thread: THREAD });
    expect(history.ok && history.data.messages.filter((m) => m.text === text)).toHaveLength(1);
    expect(FleetError).toBeDefined();
  });

  it('runs as a Worker bundle (platform neutral) in a context with only Web globals', async () => {
    // tsconfigRaw: not the project's tsconfig, whose paths point at the client's source
    const b = await build({
      entryPoints: [join(ROOT, 'examples/bot/publish.ts')],
      bundle: true,
      platform: 'neutral',
      format: 'iife',
      globalName: 'worker',
      write: false,
      metafile: true,
      logLevel: 'silent',
      tsconfigRaw: {},
    });
    expect(Object.keys(b.metafile.inputs)).toContain('client/dist/index.js');
    const web = {
      fetch,
      Request,
      Response,
      Headers,
      URL,
      AbortSignal,
      AbortController,
      TextDecoderStream,
      TextEncoder,
      crypto,
      setTimeout,
      clearTimeout,
    };
    const worker = runInNewContext(`${b.outputFiles[0]!.text};worker.default`, web) as {
      fetch(r: Request, env: Env): Promise<Response>;
    };
    expect(runInNewContext('typeof process + typeof require', web)).toBe('undefinedundefined');
    const draft = {
      id: `w-${Date.now()}`,
      channel: 'C0EDITORIAL',
      text: 'Posted from a Worker bundle',
      editor: 'U0EDITOR1',
      thread: THREAD,
    };
    const res = await worker.fetch(
      new Request('https://bot.example/publish', { method: 'POST', body: JSON.stringify(draft) }),
      env,
    );
    expect(await res.json()).toMatchObject({ posted: true, replayed: false });
    const wrong = await worker.fetch(new Request('https://bot.example/publish'), env);
    expect(wrong.status).toBe(405);
  }, 60_000);

  it('a Workflow step starts an approval-gated edit as a task, sleeps with step.sleep, and collects the result', async () => {
    const BOT_MESSAGE = '1767226320.000112'; // posted by the prod bot in C0EDITORIAL
    const sleeps: number[] = [];
    const steps: string[] = [];
    const step: Step = {
      do: (name, fn) => {
        steps.push(name);
        return fn();
      },
      sleep: async (_name, ms) => {
        sleeps.push(ms);
        await new Promise((r) => setTimeout(r, ms));
      },
    };
    const text = `Release notes 4.3.1 (${Date.now()})`;
    const thread = sb.say('T0BLOGPROD', 'C0EDITORIAL', 'U0WRITER1', 'please fix the release notes');
    const run = editWithApproval(env, step, {
      id: `e-${Date.now()}`,
      channel: 'C0EDITORIAL',
      ts: BOT_MESSAGE,
      text,
      editor: 'U0WRITER1',
      thread,
    });
    const approvals = sb.workspace('T0BLOGPROD').channels.find((c) => c.id === 'C0APPROVALS')!;
    const req = await waitFor(
      () => approvals.messages.find((m) => m.user === 'U0APPROVALS' && m.text.includes(text)),
      20_000,
    );
    const editor = new WebClient(sb.issue('T0BLOGPROD', ['chat:write'], undefined, 'U0EDITOR1'), {
      slackApiUrl: sb.url,
      retryConfig: { retries: 0 },
    });
    await editor.chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
    expect(await run).toEqual({ edited: true, ts: BOT_MESSAGE });
    // no step held a request open for the approval: it slept between short checks, at the server's pollInterval
    expect(sleeps.length).toBeGreaterThan(0);
    expect(new Set(sleeps)).toEqual(new Set([2000]));
    expect(steps[0]).toMatch(/^start edit/);
    expect(steps.at(-1)).toMatch(/^collect edit/);
    expect(
      sb
        .workspace('T0BLOGPROD')
        .channels.find((c) => c.id === 'C0EDITORIAL')!
        .messages.find((m) => m.ts === BOT_MESSAGE)!.text,
    ).toBe(text);
    expect(sb.emulator.requests.filter((r) => r.route === 'chat.update' && r.params.text === text)).toHaveLength(1);
  }, 60_000);
});
