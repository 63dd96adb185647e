// The JSON Schemas shipped beside the manifests (scopes/manifest.schema.json, fleet.schema.json,
// clients.schema.json) as a generic validator uses them: every shipped file read the way YAML 1.1
// readers (ajv-cli, js-yaml, PyYAML) read it — where an unquoted 2027-05-31 is a date, not a
// string — validates; and the schema refuses what verify refuses where a schema can say it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SCOPES } from '../helpers.js';

const schema = (f: string) => JSON.parse(readFileSync(join(SCOPES, f), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
const validators = {
  manifest: ajv.compile(schema('manifest.schema.json')),
  fleet: ajv.compile(schema('fleet.schema.json')),
  clients: ajv.compile(schema('clients.schema.json')),
};
const kindOf = (f: string) => (f === 'fleet.yaml' ? 'fleet' : f === 'clients.yaml' ? 'clients' : 'manifest');
/** as a YAML 1.1 reader sees it: timestamps become dates */
const yaml11 = (text: string) => parse(text, { version: '1.1' });
const errors = (kind: keyof typeof validators, data: unknown) =>
  validators[kind](data)
    ? []
    : validators[kind].errors!.map((e: { instancePath: string; message?: string }) => `${e.instancePath} ${e.message}`);

describe('the shipped JSON Schemas under a YAML 1.1 reader', () => {
  const files = readdirSync(SCOPES).filter((f) => f.endsWith('.yaml'));

  it('the reader is a YAML 1.1 one: an unquoted date is a date', () => {
    expect(yaml11('review_by: 2027-05-31').review_by).toBeInstanceOf(Date);
  });

  it.each(files)('%s validates against its schema', (f) => {
    expect(errors(kindOf(f), yaml11(readFileSync(join(SCOPES, f), 'utf8')))).toEqual([]);
  });

  it.each(files)('%s names its schema on its first line, for editors', (f) => {
    expect(readFileSync(join(SCOPES, f), 'utf8').split('\n', 1)[0]).toBe(
      `# yaml-language-server: $schema=./${kindOf(f)}.schema.json`,
    );
  });

  it('refuses reveal: true in a production manifest, as verify does, and allows it in dev', () => {
    const prod = yaml11(readFileSync(join(SCOPES, 'doppler.prod.yaml'), 'utf8'));
    prod.tools.get_secret = { ...prod.tools.get_secret, reveal: true };
    expect(errors('manifest', prod).join('\n')).toMatch(/tools\/get_secret\/reveal must be equal to constant/);
    expect(errors('manifest', { ...prod, instance: 'prod-eu' }).length).toBeGreaterThan(0);
    expect(errors('manifest', { ...prod, instance: 'staging' })).toEqual([]);
  });

  it('refuses a raw token in clients.yaml, and an unknown key in fleet.yaml', () => {
    const clients = yaml11(readFileSync(join(SCOPES, 'clients.yaml'), 'utf8'));
    clients.clients['bot-staging'].token = 'xoxb-not-a-hash';
    expect(errors('clients', clients).join('\n')).toMatch(/clients\/bot-staging\/token must match pattern/);
    const fleet = yaml11(readFileSync(join(SCOPES, 'fleet.yaml'), 'utf8'));
    expect(errors('fleet', { ...fleet, rulez: [] }).join('\n')).toMatch(/must NOT have additional properties/);
  });
});
