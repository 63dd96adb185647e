// scopes/clients.yaml: what verify refuses (at file:line) and how diff classes a change.
import { describe, expect, it } from 'vitest';
import { parseClients } from '../../shared/manifest/clients.js';
import { compareClientDocs } from '../../shared/review/clients.js';
import { ManifestError } from '../../shared/base/yaml.js';

const H = (c: string) => `sha256:${c.repeat(64)}`;
const client = (extra: string) =>
  `clients:\n  bot:\n    owner: team <t@example.com>\n    purpose: Posts drafts for the blog.\n${extra}`;
const problems = (text: string) => {
  try {
    parseClients(text, 'scopes/clients.yaml');
    return [];
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    return e.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`);
  }
};

describe('clients.yaml rules', () => {
  it('accepts a token hash, an env reference and a JWT client', () => {
    expect(problems(client(`    instances: [slack.prod]\n    token: ${H('a')}\n`))).toEqual([]);
    expect(problems(client(`    instances: [slack.prod]\n    token: env:BOT_TOKEN\n`))).toEqual([]);
    expect(
      problems(
        client(
          `    instances: [slack.prod]\n    jwt: { issuer: 'https://as.example/', jwks: 'https://as.example/jwks', subject: bot }\n`,
        ),
      ),
    ).toEqual([]);
  });

  it('refuses a token written in the file, naming the line', () => {
    expect(problems(client(`    instances: [slack.prod]\n    token: fleet_abcdefabcdefabcdef\n`))).toEqual([
      expect.stringMatching(/^6: clients\.bot\.token: token is sha256:<hex>.*never the token itself/),
    ]);
  });

  it('refuses a client of both a production and a dev instance', () => {
    expect(problems(client(`    instances: [slack.prod, slack.dev]\n    token: ${H('a')}\n`))).toEqual([
      expect.stringMatching(
        /^5: clients\.bot\.instances: lists production \(slack\.prod\) and non-production instances/,
      ),
    ]);
  });

  it('refuses two clients with one credential, and a client with none or two', () => {
    const two = `clients:\n  aa:\n    owner: team <t@example.com>\n    purpose: Posts drafts for the blog.\n    instances: [slack.dev]\n    token: ${H('b')}\n  bb:\n    owner: team <t@example.com>\n    purpose: Posts drafts for the blog.\n    instances: [slack.dev]\n    token: ${H('b')}\n`;
    expect(problems(two)).toEqual([
      expect.stringMatching(/^11: clients\.bb\.token: is the same credential as client aa's/),
    ]);
    expect(problems(client(`    instances: [slack.dev]\n`))).toEqual([
      expect.stringMatching(/exactly one of token: or jwt:/),
    ]);
  });
});

describe('clients.yaml diff', () => {
  const run = (a: unknown, b: unknown) => {
    const out: string[] = [];
    compareClientDocs(a as never, b as never, (cls, what) => out.push(`${cls}: ${what}`));
    return out;
  };
  const base = { clients: { bot: { instances: ['slack.prod'], token: H('a') } } };

  it('a new client, or a client given a new instance, is an escalation', () => {
    expect(
      run(base, { clients: { ...base.clients, mod: { instances: ['slack.prod'], jwt: { issuer: 'https://as/' } } } }),
    ).toEqual(['escalation: new client mod may call slack.prod (JWT from https://as/)']);
    expect(run(base, { clients: { bot: { ...base.clients.bot, instances: ['slack.prod', 'doppler.prod'] } } })).toEqual(
      ['escalation: client bot may now call doppler.prod'],
    );
  });

  it('removal and revocation are reductions; a rotated token is neutral; an unrevoked client escalates', () => {
    expect(run(base, { clients: {} })).toEqual(['reduction: client bot removed: it may call nothing']);
    expect(run(base, { clients: { bot: { ...base.clients.bot, revoked: 'today' } } })).toEqual([
      'reduction: client bot revoked',
    ]);
    expect(run({ clients: { bot: { ...base.clients.bot, revoked: 'x' } } }, base)).toEqual([
      'escalation: client bot is no longer revoked',
    ]);
    expect(run(base, { clients: { bot: { ...base.clients.bot, token: H('c') } } })).toEqual([
      "neutral: client bot's token rotated",
    ]);
  });
});
