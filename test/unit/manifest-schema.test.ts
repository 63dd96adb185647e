// The manifest JSON Schema as an editor uses it (yaml-language-server validates with the same
// draft-7 rules as Ajv): it carries what the loader checks wherever a schema can, describes every
// field, and names a misspelt constraint key instead of complaining about null.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { SCOPES } from '../helpers.js';

const SCHEMA = JSON.parse(readFileSync(join(SCOPES, 'manifest.schema.json'), 'utf8'));
const validate = new Ajv({ strict: false, allErrors: true }).compile(SCHEMA);
const shipped = (name: string) => parse(readFileSync(join(SCOPES, name), 'utf8'));
const errors = (m: unknown) => (validate(m) ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message}`));

/** Every property of every object schema below `node`, with its path. */
function fields(node: any, path = '', out: [string, any][] = []): [string, any][] {
  if (Array.isArray(node)) for (const [i, n] of node.entries()) fields(n, `${path}[${i}]`, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries<any>(node.properties ?? {})) {
      out.push([`${path}.${k}`, v]);
      fields(v, `${path}.${k}`, out);
    }
    // if/then restate fields declared (and described) beside them
    for (const [k, v] of Object.entries<any>(node))
      if (!['properties', 'if', 'then'].includes(k) && typeof v === 'object') fields(v, path, out);
  }
  return out;
}

describe('scopes/manifest.schema.json', () => {
  it('gives every field of every connector a one-line description', () => {
    const all = fields(SCHEMA.allOf.map((b: any) => b.then));
    expect(all.length).toBeGreaterThan(50);
    // add .describe('...') to the zod schema of each field listed here, then fleet surface --update
    const missing = all.filter(([, v]) => typeof v.description !== 'string');
    expect(missing.map(([p]) => p)).toEqual([]);
    expect(
      all
        .filter(
          ([, v]) => typeof v.description === 'string' && (v.description.includes('\n') || v.description.length > 160),
        )
        .map(([p]) => p),
    ).toEqual([]);
  });

  it('accepts the shipped manifests', () => {
    for (const f of [
      'slack.dev.yaml',
      'slack.prod.yaml',
      'cloudflare.dev.yaml',
      'cloudflare.prod.yaml',
      'doppler.dev.yaml',
      'doppler.prod.yaml',
    ])
      expect(errors(shipped(f)), f).toEqual([]);
  });

  it('names a misspelt constraint key, not a mismatch against null', () => {
    const m = shipped('slack.dev.yaml');
    m.tools.add_reaction = { ...m.tools.add_reaction, emojis: m.tools.add_reaction.emoji };
    const found = errors(m);
    expect(found).toContain('/tools/add_reaction must NOT have additional properties');
    expect(found.join('\n')).not.toMatch(/must be null/);
    // a grant with nothing under it still grants the tool
    expect(shipped('slack.dev.yaml').tools.get_user).toBeNull();
  });

  it.each([
    [
      'a channel name where an ID belongs',
      (m: any) => (m.tools.read_history.channels = ['#general']),
      '/tools/read_history/channels/0 must match pattern',
    ],
    ['a zero duration', (m: any) => (m.timeout = '0s'), '/timeout must match pattern'],
    [
      'a zero approval timeout',
      (m: any) => (m.tools.delete_message.approval.timeout = '0ms'),
      '/tools/delete_message/approval/timeout must match pattern',
    ],
    [
      'a slack approval without approvers',
      (m: any) => (m.tools.delete_message.approval = { via: 'slack' }),
      "/tools/delete_message/approval must have required property 'approvers'",
    ],
    [
      'a slack approval with an empty list of approvers',
      (m: any) => (m.tools.delete_message.approval = { via: 'slack', approvers: [] }),
      '/tools/delete_message/approval/approvers must NOT have fewer than 1 items',
    ],
  ])('refuses %s', (_what, breakIt, message) => {
    const m = shipped('slack.dev.yaml');
    breakIt(m);
    expect(
      errors(m).some((e) => e.startsWith(message)),
      errors(m).join('\n'),
    ).toBe(true);
  });

  it('refuses a Cloudflare database name where its ID belongs', () => {
    const m = shipped('cloudflare.dev.yaml');
    m.tools.d1_query.databases = ['blog-dev'];
    expect(errors(m).some((e) => e.startsWith('/tools/d1_query/databases/0 must match pattern'))).toBe(true);
  });
});
