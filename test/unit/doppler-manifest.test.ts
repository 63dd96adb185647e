// The Doppler manifests and the devOnly rule: `reveal` may be granted in a dev manifest only.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { parseRef } from '../../servers/doppler/resolver.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { ManifestError } from '../../shared/base/yaml.js';
import { SCOPES, tempDir } from '../helpers.js';

const shipped = (env: string) => readFileSync(join(SCOPES, `doppler.${env}.yaml`), 'utf8');

function load(text: string, name: string) {
  const dir = tempDir('fleet-doppler-manifest-');
  writeFileSync(join(dir, name), text);
  return loadManifest(join(dir, name), CONNECTORS);
}

describe('doppler manifests', () => {
  it('load as shipped: dev reveals, prod does not', () => {
    expect(loadManifest(join(SCOPES, 'doppler.dev.yaml'), CONNECTORS).tools.get_secret!.reveal).toBe(true);
    const prod = loadManifest(join(SCOPES, 'doppler.prod.yaml'), CONNECTORS);
    expect(prod.tools.get_secret!.reveal).toBeUndefined();
    expect(Object.keys(prod.tools)).not.toContain('set_secret');
  });

  it('refuse reveal: true in a production manifest, at its line', () => {
    const text = shipped('prod').replace('STRIPE_KEY] }', 'STRIPE_KEY], reveal: true }');
    let err: unknown;
    try {
      load(text, 'doppler.prod.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    const p = (err as ManifestError).problems[0]!;
    expect(p.line).toBe(text.split('\n').findIndex((l) => l.includes('reveal: true')) + 1);
    expect(p.path).toBe('tools.get_secret.reveal');
    expect(p.message).toBe(
      'reveal is refused in a production manifest (instance prod); only a dev instance may grant it',
    );
  });

  it('refuse it for prod-* instances too, and accept an explicit reveal: false', () => {
    const text = shipped('prod')
      .replace('instance: prod', 'instance: prod-eu')
      .replace('STRIPE_KEY] }', 'STRIPE_KEY], reveal: true }');
    expect(() => load(text, 'doppler.prod-eu.yaml')).toThrow(
      /reveal is refused in a production manifest \(instance prod-eu\)/,
    );
    expect(
      load(shipped('prod').replace('STRIPE_KEY] }', 'STRIPE_KEY], reveal: false }'), 'doppler.prod.yaml').tools
        .get_secret!.reveal,
    ).toBe(false);
  });

  it('require configs and secrets on every secret tool (deny by default)', () => {
    expect(() =>
      load(
        shipped('dev').replace(
          'get_secret:        { configs: [dev, "dev_*"], secrets: ["*"], reveal: true }',
          'get_secret: { reveal: true }',
        ),
        'doppler.dev.yaml',
      ),
    ).toThrow(/tools\.get_secret\.configs: is required[\s\S]*tools\.get_secret\.secrets: is required/);
  });
});

describe('doppler: references', () => {
  it('split into project, config and name', () => {
    expect(parseRef('doppler:blogbot/dev/SLACK_BOT_TOKEN')).toEqual({
      project: 'blogbot',
      config: 'dev',
      name: 'SLACK_BOT_TOKEN',
    });
    expect(() => parseRef('doppler:blogbot/SLACK_BOT_TOKEN')).toThrow(
      'credential doppler:blogbot/SLACK_BOT_TOKEN is not a doppler:<project>/<config>/<NAME> reference',
    );
  });
});
