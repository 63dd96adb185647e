// The call path itself, in this process: a test connector whose "upstream" is a counter (so each
// test knows exactly whether the upstream was called), a real manifest, audit trail and key store.
// Each case here is a bug that once passed the suite; each test failed before its fix.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { runCall, type CallRequest } from '../../shared/call/call.js';
import { EmbeddedState } from '../../shared/state/embedded.js';
import { Redactor } from '../../shared/base/redaction.js';
import { grantedTools, type Instance } from '../../shared/instance/instance.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { probe, type Probe } from '../fixtures/probe-connector.js';
import { auditRecords, tempDir, text } from '../helpers.js';

const KEY = 'fleet/idempotency-key';
let open: Instance[] = [];
afterEach(() => {
  for (const i of open) i.audit.close();
  open = [];
});

function instance(tools: string, timeout = '1s') {
  const dir = tempDir('fleet-call-');
  const file = join(dir, 'probe.dev.yaml');
  writeFileSync(
    file,
    `connector: probe\ninstance: dev\nowner: tests <t@example.com>\npurpose: call-path tests\ncredential: env:PROBE_TOKEN\nupstream: { home: probe }\ntimeout: ${timeout}\ntools:\n${tools}`,
  );
  const manifest = loadManifest(file, { probe });
  const up: Probe = { calls: [] };
  const stderr: string[] = [];
  const state = new EmbeddedState(join(dir, 'audit.jsonl'), join(dir, 'state.db'), manifest.id);
  const inst: Instance<Probe> = {
    connector: probe,
    manifest,
    tools: grantedTools(probe, manifest),
    upstream: async () => ({ client: up, identity: { home: 'probe' }, sent: () => up.calls.length }),
    audit: state.audit,
    store: state,
    redactor: new Redactor(),
    log: { warn: (m) => void stderr.push(m), error: (m) => void stderr.push(m) },
    env: {},
    keys: state.keys,
    stateDir: dir,
  };
  open.push(inst);
  const call = (
    name: string,
    args: Record<string, unknown>,
    more: Partial<CallRequest> = {},
  ): Promise<CallToolResult> => runCall(inst, { name, arguments: args, ...more });
  return { inst, up, stderr, call, records: () => auditRecords(join(dir, 'audit.jsonl')) };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the upstream timer', () => {
  it('starts after approval: a slow human is not a slow upstream (an approved call once died as a false timeout)', async () => {
    const p = instance('  put_item: { paths: ["a/**"], approval: { via: elicitation, timeout: 30s } }\n', '1s');
    const r = await p.call(
      'put_item',
      { path: 'a/1' },
      {
        elicit: async () => {
          await sleep(1500);
          return 'accept';
        },
      },
    );
    expect(text(r)).toBe('wrote a/1');
    expect(r.structuredContent).toMatchObject({ status: 'completed', written: true });
    expect(p.up.calls).toEqual(['put a/1']);
  });

  it('still bounds the upstream call itself', async () => {
    const p = instance('  put_item: { paths: ["a/**"] }\n', '1s');
    const r = await p.call('put_item', { path: 'a/1', slow: 1500 }, { meta: { [KEY]: 'slow-1' } });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^probe error: timeout: the probe did not answer within the instance timeout/);
    expect(p.records().at(-1)).toMatchObject({ phase: 'outcome', outcome: 'error', error: 'timeout' });
  });
});

describe('lists: filter, then limit', () => {
  it('a limit below the position of the only granted item still finds it', async () => {
    const p = instance('  list_items: { paths: ["c/3"] }\n');
    for (const limit of [1, 2, 3])
      expect((await p.call('list_items', { limit })).structuredContent).toEqual({ items: ['c/3'] });
  });

  it('cuts to the limit among granted items only, in the upstream order', async () => {
    const p = instance('  list_items: { paths: ["c/**", "d/**"] }\n');
    expect((await p.call('list_items', { limit: 2 })).structuredContent).toEqual({ items: ['c/1', 'c/2'] });
    expect((await p.call('list_items', {})).structuredContent).toEqual({ items: ['c/1', 'c/2', 'c/3', 'c/4', 'd/1'] });
  });
});

describe("the fleet's own faults", () => {
  const grant = '  put_item: { paths: ["a/**"] }\n';

  it('a TypeError before the upstream call: definite, said so, on the record, cause on stderr, the key freed', async () => {
    const p = instance(grant);
    const r = await p.call('put_item', { path: 'a/1', fault: 'before' }, { meta: { [KEY]: 'k-before' } });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ status: 'failed' });
    expect(text(r)).toMatch(
      /^internal error: put_item failed inside fleet \(TypeError\), not in probe; the upstream was not called, nothing was done/,
    );
    expect(text(r)).not.toMatch(/probe error/);
    expect(p.up.calls).toEqual([]);
    expect(p.records().at(-1)).toMatchObject({
      phase: 'outcome',
      outcome: 'internal',
      error: 'internal',
      error_message: 'TypeError',
      upstream_called: false,
    });
    expect(p.stderr.join('\n')).toMatch(
      /internal error in put_item \(call [0-9a-f-]+\): TypeError: Cannot read properties of undefined/,
    );
    // the key was freed: the same key runs the (fixed) call instead of replaying the fault
    const again = await p.call('put_item', { path: 'a/1', fault: 'before' }, { meta: { [KEY]: 'k-before' } });
    expect(text(again)).not.toMatch(/^replayed/);
    expect(text(again)).toMatch(/^internal error/);
  });

  it('an answer that fails the output schema: the upstream acted, so the key keeps it and a retry does not repeat it', async () => {
    const p = instance(grant);
    const r = await p.call('put_item', { path: 'a/2', fault: 'after' }, { meta: { [KEY]: 'k-after' } });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ status: 'completed' });
    expect(text(r)).toMatch(
      /^internal error: put_item failed inside fleet \(ZodError\), not in probe; the upstream call itself completed, so its action was done: do not repeat the call/,
    );
    expect(p.records().at(-1)).toMatchObject({ outcome: 'internal', upstream_called: true });
    const again = await p.call('put_item', { path: 'a/2', fault: 'after' }, { meta: { [KEY]: 'k-after' } });
    expect(text(again)).toMatch(/^replayed: idempotency key k-after already ran/);
    expect(p.up.calls).toEqual(['put a/2']);
  });
});

describe('approval channels that fail', () => {
  const grant = '  put_item: { paths: ["a/**"], approval: { via: elicitation, timeout: 30s } }\n';

  it('an elicitation that fails is not "the user cancelled"', async () => {
    const p = instance(grant);
    const r = await p.call(
      'put_item',
      { path: 'a/1' },
      { elicit: async () => Promise.reject(new Error('Connection closed')) },
    );
    expect(r.structuredContent).toMatchObject({ status: 'failed' });
    expect(text(r)).toMatch(
      /^refused: no approval for put_item could be had: the approval could not be requested: Connection closed \(.*probe\.dev\.yaml:\d+\); nothing was done$/,
    );
    expect(text(r)).not.toMatch(/cancel|declined/);
    expect(
      p
        .records()
        .filter((x) => x.phase === 'approval')
        .map((x) => x.status),
    ).toEqual(['requested', 'failed']);
    expect(p.up.calls).toEqual([]);
  });
});

describe('time-boxed exceptions', () => {
  it('a call only an exception allows is refused if the exception ends while its approval waits', async () => {
    const expires = new Date(Date.now() + 1500).toISOString();
    const p = instance(`  list_items: { paths: ["c/**"] }
exceptions:
  - id: hotfix
    tool: put_item
    grant: { paths: ["a/**"], approval: { via: elicitation, timeout: 30s } }
    owner: alice@example.com
    reason: a hotfix
    approver: bob@example.com
    expires: ${expires}
`);
    const { refreshExceptions } = await import('../../shared/instance/instance.js');
    refreshExceptions(p.inst);
    const r = await p.call(
      'put_item',
      { path: 'a/1' },
      {
        elicit: async () => {
          await sleep(2000);
          return 'accept';
        },
      },
    );
    expect(text(r)).toMatch(
      new RegExp(
        `^denied: exception hotfix of probe\\.dev ended at ${expires.replace(/\./g, '\\.')} while the call waited \\(.*probe\\.dev\\.yaml:\\d+\\); nothing was done`,
      ),
    );
    expect(p.up.calls).toEqual([]);
    expect(p.records().at(-1)).toMatchObject({ decision: 'deny', rule: 'exception', exception: 'hotfix' });
  });
});
