import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../shared/manifest/load.js';
import { ManifestError } from '../../shared/base/yaml.js';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { SCOPES } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'fleet-manifest-'));
const GOOD = `connector: slack
instance: dev
owner: team <t@example.com>
purpose: testing
credential: env:SLACK_TOKEN_TEST
upstream:
  workspace: T0BLOGDEV
  token_scopes: [chat:write]
tools:
  post_message:
    channels: [C0DEVBOTTEST]
`;

function load(text: string, name = 'slack.dev.yaml') {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadManifest(file, CONNECTORS);
}

function problem(text: string, name?: string) {
  try {
    load(text, name);
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return (e as ManifestError).problems[0]!;
  }
  throw new Error('expected the manifest to be refused');
}

describe('manifest loading', () => {
  it('loads the shipped manifests', () => {
    for (const env of ['dev', 'prod']) {
      const m = loadManifest(join(SCOPES, `slack.${env}.yaml`), CONNECTORS);
      expect(m.id).toBe(`slack.${env}`);
      expect(m.hash).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('gives defaults and line numbers of keys', () => {
    const m = load(GOOD);
    expect(m.attribution).toBe('optional');
    expect(m.timeoutMs).toBe(10_000);
    expect(m.line('tools.post_message.channels')).toBe(11);
    expect(m.line('tools.post_message.channels.0')).toBe(11);
    expect(m.line('credential')).toBe(5);
  });

  it('names the line of a YAML syntax error', () => {
    const p = problem(GOOD.replace('purpose: testing', 'purpose: [unclosed'));
    expect(p.file).toContain('slack.dev.yaml');
    expect(p.line).toBeGreaterThanOrEqual(4);
  });

  it('refuses a duplicate key at its line', () => {
    const p = problem(GOOD.replace('purpose: testing\n', 'purpose: testing\npurpose: again\n'));
    expect(p.line).toBe(5);
    expect(p.message).toMatch(/unique|duplicate/i);
  });

  it('refuses an unknown tool at its line, listing the known ones', () => {
    const p = problem(`${GOOD}  post_mesage:\n    channels: [C0DEVBOTTEST]\n`);
    expect(p.line).toBe(12);
    expect(p.path).toBe('tools.post_mesage');
    expect(p.message).toContain('unknown tool "post_mesage"');
    expect(p.message).toContain('post_message');
  });

  it('refuses an unknown constraint at its line', () => {
    const p = problem(`${GOOD}    chanels: [C0X]\n`);
    expect(p.line).toBe(12);
    expect(p.message).toContain('unknown constraint "chanels" for post_message');
  });

  it('refuses a constraint value of the wrong kind at its line', () => {
    const p = problem(GOOD.replace('channels: [C0DEVBOTTEST]', 'channels: C0DEVBOTTEST'));
    expect(p.line).toBe(11);
    expect(p.path).toBe('tools.post_message.channels');
  });

  it('requires a channels constraint on a channel tool (deny by default)', () => {
    const p = problem(GOOD.replace('    channels: [C0DEVBOTTEST]\n', '    max_length: 10\n'));
    expect(p.path).toBe('tools.post_message.channels');
    expect(p.message).toBe('is required');
    expect(p.line).toBe(10);
  });

  it('requires an owner and a purpose', () => {
    expect(problem(GOOD.replace('owner: team <t@example.com>\n', '')).path).toBe('owner');
    const p = problem(GOOD.replace('purpose: testing', 'purpose: "  "'));
    expect(p.path).toBe('purpose');
    expect(p.line).toBe(4);
  });

  it('refuses a credential given as a value rather than a reference', () => {
    const p = problem(GOOD.replace('env:SLACK_TOKEN_TEST', 'xoxb-1234-abcd'));
    expect(p.line).toBe(5);
    expect(p.message).toContain('env:NAME');
  });

  it('refuses an unknown connector at the connector line', () => {
    const p = problem(GOOD.replace('connector: slack', 'connector: jira'));
    expect(p.line).toBe(1);
    expect(p.message).toContain('unknown connector "jira"');
  });

  it('requires the file name to match connector and instance', () => {
    const p = problem(GOOD, 'slack.prod.yaml');
    expect(p.path).toBe('instance');
    expect(p.message).toContain('slack.dev.yaml');
  });

  it('reuses a parse of the same bytes from another folder, naming the path it was given', () => {
    const a = load(GOOD);
    const other = mkdtempSync(join(tmpdir(), 'fleet-manifest-'));
    writeFileSync(join(other, 'slack.dev.yaml'), GOOD);
    const b = loadManifest(join(other, 'slack.dev.yaml'), CONNECTORS);
    expect(b.file).toBe(join(other, 'slack.dev.yaml'));
    expect(b.hash).toBe(a.hash);
    expect(b.tools).toEqual(a.tools);
    const changed = load(GOOD.replace('C0DEVBOTTEST', 'C0DEVSCRATCH'));
    expect(changed.tools.post_message!.channels).toEqual(['C0DEVSCRATCH']);
    writeFileSync(join(other, 'slack.prod.yaml'), GOOD);
    expect(() => loadManifest(join(other, 'slack.prod.yaml'), CONNECTORS)).toThrow(
      /file name must be slack\.dev\.yaml/,
    );
  });

  it('refuses a document that is not a mapping', () => {
    expect(problem('- a\n- b\n').line).toBe(1);
  });
});

describe('minted credentials', () => {
  const CF = `connector: cloudflare
instance: prod
owner: team <t@example.com>
purpose: testing
credential:
  broker: env:CF_BROKER
  mint: { ttl: 20m }
upstream:
  account: 5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12
  token_permissions: [Workers Scripts Read]
tools:
  list_workers: { scripts: [blogbot] }
`;
  it('loads { broker, mint }: the broker is the reference the process resolves', () => {
    const m = load(CF, 'cloudflare.prod.yaml');
    expect(m.credential).toBe('env:CF_BROKER');
    expect(m.mint).toEqual({ ttl: '20m', ttlMs: 20 * 60_000 });
    expect(load(CF.replace('  mint: { ttl: 20m }\n', ''), 'cloudflare.prod.yaml').mint).toEqual({
      ttl: '1h',
      ttlMs: 3600_000,
    });
    expect(load(GOOD).mint).toBeUndefined();
  });

  it('refuses a ttl out of bounds, a bad broker, and minting where the connector cannot', () => {
    expect(problem(CF.replace('ttl: 20m', 'ttl: 2d'), 'cloudflare.prod.yaml')).toMatchObject({
      line: 7,
      message: expect.stringContaining('from 10s to 24h'),
    });
    expect(problem(CF.replace('env:CF_BROKER', 'CF_BROKER'), 'cloudflare.prod.yaml').message).toContain(
      'credential must be a reference',
    );
    const slack = GOOD.replace(
      'credential: env:SLACK_TOKEN_TEST',
      'credential:\n  broker: env:SLACK_BROKER\n  mint: { ttl: 1h }',
    );
    expect(problem(slack)).toMatchObject({
      line: 7,
      message: expect.stringContaining('slack cannot mint credentials'),
    });
  });
});

describe('rotating credentials', () => {
  const ROTATE =
    'credential:\n  rotate:\n    refresh_token: env:SLACK_REFRESH\n    client_id: env:SLACK_CLIENT_ID\n    client_secret: env:SLACK_CLIENT_SECRET';
  it('loads { rotate }: the refresh token is the reference, the client credentials go along', () => {
    const m = load(GOOD.replace('credential: env:SLACK_TOKEN_TEST', ROTATE));
    expect(m.credential).toBe('env:SLACK_REFRESH');
    expect(m.rotate).toEqual({
      refresh_token: 'env:SLACK_REFRESH',
      client_id: 'env:SLACK_CLIENT_ID',
      client_secret: 'env:SLACK_CLIENT_SECRET',
    });
    expect(m.mint).toBeUndefined();
    expect(load(GOOD).rotate).toBeUndefined();
  });

  it('refuses a value where a reference belongs, a missing part, and rotation where the upstream has none', () => {
    expect(
      problem(GOOD.replace('credential: env:SLACK_TOKEN_TEST', ROTATE.replace('env:SLACK_CLIENT_SECRET', 'hunter2')))
        .message,
    ).toContain('credential must be a reference');
    expect(
      problem(GOOD.replace('credential: env:SLACK_TOKEN_TEST', ROTATE.replace(/\n {4}client_id: .*/, ''))),
    ).toMatchObject({ path: expect.stringMatching(/^credential/) });
    const cf = `connector: cloudflare
instance: prod
owner: team <t@example.com>
purpose: testing
credential:
  rotate: { refresh_token: env:A, client_id: env:B, client_secret: env:C }
upstream:
  account: 5f3c7e2a9b1d4c6e8a0b2d4f6a8c0e12
  token_permissions: [Workers Scripts Read]
tools:
  list_workers: { scripts: [blogbot] }
`;
    expect(problem(cf, 'cloudflare.prod.yaml')).toMatchObject({
      line: 6,
      message: expect.stringContaining('cloudflare has no token rotation'),
    });
  });
});
