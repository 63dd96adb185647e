// Separation of duties across proof kinds, through the real CLI over stdio against the Slack
// sandbox (which, as Slack does, hides profile.email from a token without users:read.email): a
// production instance proves its actors by oidc (an e-mail) while its approvers answer in Slack
// (member IDs). The requester is recognised as a member only through the link fleet.yaml people:
// declares, checked against the workspace; without a link that holds, nobody is asked.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackSandbox, type SlackSandbox } from '../../servers/slack/sandbox/index.js';
import { auditRecords, text, waitFor, type Served } from '../helpers.js';
import { BOT_MESSAGE, serveSlackProd, slackScopes, workspace } from '../slack-prod.js';

const ISSUER = 'https://id.fleet.test';
let sb: SlackSandbox;
let people: ReturnType<typeof workspace>;
let key: CryptoKey;
let jwks: string;

beforeAll(async () => {
  sb = await startSlackSandbox();
  people = workspace(sb);
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
});
afterAll(() => sb.close());

const token = (email: string) =>
  new SignJWT({ email })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience('slack.prod')
    .setSubject(`sub-${email}`)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);

/** slack.prod proving actors by oidc, its approvals in Slack; fleet.yaml's people: passed through `links` */
function oidcScopes(links: (t: string) => string = (t) => t): string {
  const dir = slackScopes((f, t) => {
    if (f === 'slack.prod.yaml') {
      return t
        .replace(
          /^attribution:\n( {2}.*\n)+/m,
          `attribution: { required: true, proof: oidc, issuer: '${ISSUER}', jwks: 'file:jwks.json', max_age: 10m }\n`,
        )
        .replace('timeout: 15m }', 'timeout: 20s }');
    }
    return f === 'fleet.yaml' ? links(t) : t;
  });
  writeFileSync(join(dir, 'jwks.json'), jwks);
  return dir;
}

const approvals = () => people.channel('C0APPROVALS');
const request = (marker: string) =>
  waitFor(() =>
    approvals().messages.find(
      (m) => m.user === 'U0APPROVALS' && m.text.includes('Approval needed') && m.text.includes(marker),
    ),
  );
const steps = (s: Served) =>
  auditRecords(s.auditFile)
    .filter((x) => x.phase === 'approval')
    .map((x) => [x.status, x.by ?? '', x.why ?? '']);

describe('an oidc requester and Slack approvers', () => {
  it('the requester cannot approve their own call as the member fleet.yaml links to their e-mail', async () => {
    const s = await serveSlackProd(sb, { scopes: oidcScopes() });
    try {
      const pending = s.call(
        'update_message',
        { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: 'Published: oidc 1' },
        { 'fleet/actor-token': await token('wes@example.com') },
      );
      const req = await request('oidc 1');
      // Wes (U0WRITER1, wes@example.com) answers his own request; the approvals token cannot read e-mails
      await people.as('U0WRITER1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
      await waitFor(() => steps(s).some(([st, by]) => st === 'ignored' && by === 'U0WRITER1') || undefined);
      expect(people.edited()).not.toBe('Published: oidc 1');
      await people.as('U0EDITOR1').chat.postMessage({ channel: 'C0APPROVALS', thread_ts: req.ts, text: 'approve' });
      const r = await pending;
      expect(r.isError, text(r)).toBeFalsy();
      expect(steps(s)).toContainEqual(['ignored', 'U0WRITER1', 'the requester cannot approve their own request']);
      expect(steps(s).at(-1)!.slice(0, 2)).toEqual(['approved', 'U0EDITOR1']);
    } finally {
      await s.close();
    }
  }, 60_000);

  it.each([
    [
      'is linked to no member ID',
      (t: string) => t,
      'zed@example.com',
      /no approval of update_message can be asked: the requester zed@example\.com \(proven by oidc\) is linked to no member ID/,
    ],
    [
      'is linked only to a deleted account',
      (t: string) => t.replace('\npeople:\n', '\npeople:\n  zed@example.com: [U0FORMER1]\n'),
      'zed@example.com',
      /cannot be told apart from an approver: none of the member IDs .*\(U0FORMER1\) is a full member/,
    ],
    [
      'is linked only to a Slack Connect member',
      (t: string) => t.replace('\npeople:\n', '\npeople:\n  zed@example.com: [U0PARTNER1]\n'),
      'zed@example.com',
      /cannot be told apart from an approver: none of the member IDs .*\(U0PARTNER1\) is a full member/,
    ],
  ])(
    'a requester who %s is refused before anyone approves, on the record',
    async (_what, links, who, why) => {
      const s = await serveSlackProd(sb, { scopes: oidcScopes(links) });
      try {
        const before = approvals().messages.length;
        const r = await s.call(
          'update_message',
          { channel: 'C0EDITORIAL', ts: BOT_MESSAGE, text: `Published: ${who}` },
          { 'fleet/actor-token': await token(who) },
        );
        expect(r.isError).toBe(true);
        expect(text(r)).toMatch(why);
        expect(people.edited()).not.toBe(`Published: ${who}`);
        expect(approvals().messages.length).toBe(before);
        const last = auditRecords(s.auditFile).at(-1)!;
        expect(last).toMatchObject({ decision: 'deny', rule: 'tools.update_message.approval' });
        expect(auditRecords(s.auditFile).some((x) => x.phase === 'approval' && x.status === 'refused')).toBe(true);
      } finally {
        await s.close();
      }
    },
    60_000,
  );
});
