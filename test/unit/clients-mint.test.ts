// `fleet clients mint` edits one entry of a reviewed file: only that client's token line changes
// (or is added, and a `revoked` line goes); comments, wrapping, flow collections and the other
// clients stay byte for byte.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { withToken } from '../../servers/fleet/commands/clients.js';

const FILE = `# who may call over HTTP
clients:
  # the publisher
  bot-publish:
    owner: content-platform <content@example.com>
    purpose: A very long purpose line that a YAML printer would wrap at eighty columns, which a reviewer would then see as a change.
    instances: [slack.prod]
    token: sha256:aaaa   # rotated quarterly
    review_by: '2027-05-31'
  bot-new:
    owner: content-platform <content@example.com>
    purpose: Not minted yet.
    instances: [ slack.dev ]
  bot-back:
    owner: content-platform <content@example.com>
    purpose: Revoked, now minted again.
    instances: [slack.dev]
    revoked: 2026-11-01 leaked in a log
    jwt: { issuer: 'https://a.example/', jwks: 'https://a.example/jwks', subject: x }
`;

const changed = (a: string, b: string) => {
  const x = a.split('\n');
  const y = b.split('\n');
  return { removed: x.filter((l) => !y.includes(l)), added: y.filter((l) => !x.includes(l)) };
};

describe('clients mint edits one entry in place', () => {
  it('replaces an existing token and nothing else (its comment stays)', () => {
    const out = withToken(FILE, 'bot-publish', 'sha256:bbbb');
    expect(changed(FILE, out)).toEqual({
      removed: ['    token: sha256:aaaa   # rotated quarterly'],
      added: ['    token: sha256:bbbb   # rotated quarterly'],
    });
  });
  it('adds a token line to a client that had none, indented like its entries', () => {
    const out = withToken(FILE, 'bot-new', 'sha256:cccc');
    expect(changed(FILE, out)).toEqual({ removed: [], added: ['    token: sha256:cccc'] });
    expect(parse(out).clients['bot-new'].token).toBe('sha256:cccc');
  });
  it('drops the revoked line of a client minted again', () => {
    const out = withToken(FILE, 'bot-back', 'sha256:dddd');
    expect(changed(FILE, out)).toEqual({
      removed: ['    revoked: 2026-11-01 leaked in a log'],
      added: ['    token: sha256:dddd'],
    });
    expect(parse(out).clients['bot-back']).not.toHaveProperty('revoked');
  });
});
