// "Is this instance production" (shared/base/production.ts): properties of the one predicate, and
// the rule it exists for: an instance that reaches production is production whatever its name.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { isProductionReach, productionByName, type ProductionDecl } from '../../shared/base/production.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { verifyScopes } from '../../shared/review/verify.js';
import { SCOPES, tempDir } from '../helpers.js';

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const connector = fc.constantFrom('slack', 'cloudflare', 'doppler', 'vault');
const pin = fc.stringMatching(/^[A-Za-z0-9]{1,12}$/);
const decl: fc.Arbitrary<ProductionDecl> = fc.record({
  instances: fc.array(
    fc.tuple(connector, name).map(([c, n]) => `${c}.${n}`),
    { maxLength: 4 },
  ),
  reaches: fc.dictionary(connector, fc.array(pin, { maxLength: 3 })),
});
const reach = fc.record({
  connector,
  instance: name,
  upstream: fc.record({ workspace: pin, account: pin, project: pin }, { requiredKeys: [] }),
});

describe('isProductionReach', () => {
  it('is production by name (prod, prod-*) whatever fleet.yaml declares', () => {
    fc.assert(
      fc.property(reach, fc.option(decl, { nil: undefined }), fc.option(name, { nil: undefined }), (r, d, tail) => {
        expect(isProductionReach({ ...r, instance: tail ? `prod-${tail}` : 'prod' }, d)).toBe(true);
      }),
    );
  });

  it('is production when pinned to a workspace, account or project declared production, whatever the name', () => {
    fc.assert(
      fc.property(reach, decl, pin, fc.constantFrom('workspace', 'account', 'project'), (r, d, p, key) => {
        const declared = { ...d, reaches: { ...d.reaches, [r.connector]: [...(d.reaches[r.connector] ?? []), p] } };
        expect(isProductionReach({ ...r, upstream: { ...r.upstream, [key]: p } }, declared)).toBe(true);
      }),
    );
  });

  it('is production when declared by id', () => {
    fc.assert(
      fc.property(reach, decl, (r, d) => {
        expect(isProductionReach(r, { ...d, instances: [...d.instances, `${r.connector}.${r.instance}`] })).toBe(true);
      }),
    );
  });

  it('never stops being production when fleet.yaml declares more', () => {
    fc.assert(
      fc.property(reach, decl, decl, (r, d, more) => {
        const both: ProductionDecl = { instances: [...d.instances, ...more.instances], reaches: { ...more.reaches } };
        for (const [c, ps] of Object.entries(d.reaches)) both.reaches[c] = [...(both.reaches[c] ?? []), ...ps];
        if (isProductionReach(r, d)) expect(isProductionReach(r, both)).toBe(true);
      }),
    );
  });

  it('is not production without a name, a declaration or a pin that says so', () => {
    fc.assert(
      fc.property(
        reach.filter((r) => !productionByName(r.instance)),
        (r) => {
          expect(isProductionReach(r, undefined)).toBe(false);
          expect(isProductionReach(r, { instances: [], reaches: {} })).toBe(false);
          expect(isProductionReach(r, { instances: [], reaches: { [r.connector]: ['NOT-A-PIN-OF-ANYONE'] } })).toBe(
            false,
          );
        },
      ),
    );
  });

  it.each(['Prod', 'prod_1', 'prod.', 'production', 'preprod', 'staging-prod'])(
    'a name like %s is not production by name (pins and fleet.yaml decide)',
    (n) => {
      expect(productionByName(n)).toBe(false);
    },
  );
});

describe('production by what an instance reaches', () => {
  /** a scopes copy with slack.live: slack.dev's manifest pinned to the production workspace */
  function live(): string {
    const dir = join(tempDir('fleet-live-'), 'scopes');
    cpSync(SCOPES, dir, { recursive: true });
    const dev = readFileSync(join(dir, 'slack.dev.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'slack.live.yaml'),
      dev.replace('instance: dev', 'instance: live').replace('workspace: T0BLOGDEV', 'workspace: T0BLOGPROD'),
    );
    return dir;
  }

  it('an instance pinned to the production workspace but named live is production', () => {
    const dir = live();
    expect(loadManifest(join(dir, 'slack.live.yaml'), CONNECTORS).production).toBe(true);
    expect(loadManifest(join(dir, 'slack.dev.yaml'), CONNECTORS).production).toBe(false);
  });

  it('gets every production rule from fleet verify', () => {
    const { findings } = verifyScopes(live(), { connectors: CONNECTORS, docs: undefined });
    const onLive = findings
      .filter((f) => f.severity === 'error' && f.file.endsWith('slack.live.yaml'))
      .map((f) => f.rule);
    expect(onLive).toEqual(expect.arrayContaining(['prod-attribution', 'prod-proven-actor', 'prod-forbidden-tools']));
  });
});
