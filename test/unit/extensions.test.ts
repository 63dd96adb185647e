// A fourth connector plugs in with no edit under shared/: the pager fixture (test/fixtures/
// pager-connector.ts) brings its own person IDs, approval channel and actor proof, and the core
// asks for them by kind: its manifest schema (and JSON Schema) takes them, `fleet verify` errors
// stay at file:line, and the call path proves the actor and asks for approval through them, with
// separation of duties on the pager's IDs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCall } from '../../shared/call/call.js';
import { registerPeople } from '../../shared/base/identity.js';
import { Redactor } from '../../shared/base/redaction.js';
import { extensionsOf, type ExtensionContext } from '../../shared/connector/extensions.js';
import { grantedTools, type Instance } from '../../shared/instance/instance.js';
import { manifestJsonSchema } from '../../shared/manifest/json-schema.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { ManifestError } from '../../shared/base/yaml.js';
import { EmbeddedState } from '../../shared/state/embedded.js';
import { pager, pagerConnector } from '../fixtures/pager-connector.js';
import { auditRecords, tempDir, text } from '../helpers.js';

const CONNECTORS = { pager: pagerConnector };
const ext = extensionsOf(CONNECTORS);
// what servers/fleet/connectors.ts does for the fleet's connectors
registerPeople(ext.people);

const MANIFEST = `connector: pager
instance: dev
owner: tests <t@example.com>
purpose: extension tests
credential: env:PAGER_TOKEN
upstream: { team: ops }
attribution: { proof: pager-ack, pager_group: ops }
tools:
  ping: { approval: { via: pager, approvers: [P0001, P0002], timeout: 1m } }
`;

function write(yaml: string): string {
  const file = join(tempDir('fleet-pager-'), 'pager.dev.yaml');
  writeFileSync(file, yaml);
  return file;
}

function problems(yaml: string): string[] {
  try {
    loadManifest(write(yaml), CONNECTORS);
  } catch (e) {
    if (e instanceof ManifestError) return e.problems.map((p) => `${p.line}: ${p.message}`);
    throw e;
  }
  return [];
}

let open: Instance[] = [];
afterEach(() => {
  for (const i of open) i.audit.close();
  open = [];
  pager.answer = undefined;
  pager.acks.clear();
  pager.paged = [];
});

/** An instance as the composition root makes it: the channels and the prover opened by kind. */
function instance() {
  const file = write(MANIFEST);
  const manifest = loadManifest(file, CONNECTORS);
  const store = new EmbeddedState(join(file, '../audit.jsonl'), join(file, '../state.db'), manifest.id);
  const ctx = { manifest } as ExtensionContext;
  const kind = ext.provers.find((p) => p.proof === 'pager-ack')!;
  const inst: Instance = {
    connector: pagerConnector,
    manifest,
    tools: grantedTools(pagerConnector, manifest),
    upstream: async () => ({ client: {}, identity: { home: 'ops', bot: 'P0999' } }),
    audit: store.audit,
    store,
    redactor: new Redactor(),
    log: { warn: () => {}, error: () => {} },
    env: {},
    keys: store.keys,
    stateDir: join(file, '..'),
    approvalChannels: Object.fromEntries(ext.approvals.map((k) => [k.via, k.open(ctx)])),
    prover: { ...kind.open(ctx), howTo: kind.howTo },
  };
  open.push(inst);
  const call = (actor?: string, thread?: string) =>
    runCall(inst, {
      name: 'ping',
      arguments: { note: 'hi' },
      meta: { ...(actor ? { 'fleet/actor': actor } : {}), ...(thread ? { 'fleet/thread': thread } : {}) },
      principal: { id: 'bot', via: 'http-credential' },
    });
  return { inst, call, records: () => auditRecords(join(file, '../audit.jsonl')) };
}

describe('a connector that plugs in', () => {
  it('adds its approval channel, proof and IDs to the manifest schema, with errors at file:line', () => {
    expect(problems(MANIFEST)).toEqual([]);
    expect(problems(MANIFEST.replace('[P0001, P0002]', '[P0001, U0EDITOR1]'))).toEqual([
      '9: pager approvers are pager IDs (P1234)',
    ]);
    expect(problems(MANIFEST.replace(', approvers: [P0001, P0002]', ''))).toEqual([
      '9: a pager approval needs at least one approver',
    ]);
    expect(problems(MANIFEST.replace('pager_group: ops', 'pager_grup: ops'))).toEqual([expect.stringMatching(/^7: /)]);
    expect(problems(MANIFEST.replace('via: pager', 'via: carrier-pigeon'))).toEqual([
      expect.stringMatching(/^9: .*elicitation.*pager/),
    ]);
  });

  it('is in the JSON Schema editors check manifests with', () => {
    const js = JSON.stringify(manifestJsonSchema([pagerConnector]));
    expect(js).toContain('"enum":["elicitation","pager"]');
    expect(js).toContain('"const":"pager-ack"');
    expect(js).toContain('"pattern":"^P\\\\d{4}$"');
  });

  it('proves the actor with its prover, and says what to pass when a call names nobody', async () => {
    const p = instance();
    expect(text(await p.call())).toContain('pass _meta "fleet/actor" (their pager ID)');
    expect(text(await p.call('P0001', 'page-7'))).toContain('denied: the actor P0001 is not proven');
    expect(text(await p.call('erin@example.com'))).toContain('is not proven');
    expect(
      p
        .records()
        .filter((r) => r.phase === 'decision')
        .map((r) => r.rule),
    ).toEqual(['attribution', 'attribution.proof', 'attribution.proof']);
  });

  it('asks its approval channel, and the requester cannot approve their own call', async () => {
    const p = instance();
    pager.acks.set('P0001', 'page-7');
    pager.answer = { by: 'P0002', approve: true };
    expect(text(await p.call('P0001', 'page-7'))).toBe('pinged');
    pager.answer = { by: 'P0001', approve: true };
    expect(text(await p.call('P0001', 'page-7'))).toContain('the requester cannot approve their own request');
    pager.answer = { by: 'P0003', approve: true };
    expect(text(await p.call('P0001', 'page-7'))).toContain('P0003 is not a listed approver');
    expect(pager.paged).toEqual(['ping', 'ping', 'ping']);
    const approved = p.records().find((r) => r.phase === 'approval' && r.status === 'approved')!;
    expect(approved).toMatchObject({
      via: 'pager',
      by: 'P0002',
      actor: 'P0001',
      actor_proof: { kind: 'pager-ack', verified: true },
    });
  });
});
