// The broken-manifest corpus: one folder per rule under test/fixtures/verify, each breaking
// exactly one rule of `fleet verify` on top of copies of the shipped manifests. Each must yield
// exactly one finding, naming that rule at the file:line that breaks it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { verifyScopes } from '../../shared/review/verify.js';
import { ROOT, SCOPES } from '../helpers.js';
import { vault } from '../fixtures/vault-connector.js';

const CORPUS = join(ROOT, 'test', 'fixtures', 'verify');
const connectors = { ...CONNECTORS, vault };

// review_by dates are judged against this day, so the corpus does not age
const NOW = Date.parse('2026-12-01T12:00:00Z');

function verify(name: string, fleet = join(SCOPES, 'fleet.yaml')) {
  const dir = join(CORPUS, name);
  const { findings } = verifyScopes(dir, { connectors, fleet, generated: false, now: NOW });
  return findings.map((f) => ({
    rule: f.rule,
    severity: f.severity,
    at: `${f.file.slice(dir.length + 1)}:${f.line}`,
    message: f.message,
  }));
}

// [case folder, rule, file:line, severity, a phrase the message must hold]
const CASES: [string, string, string, 'error' | 'warning', string][] = [
  ['schema', 'schema', 'slack.dev.yaml:12', 'error', 'expected a duration'],
  ['unknown-connector', 'unknown-connector', 'slack.dev.yaml:2', 'error', 'unknown connector "jira"'],
  // a name where an ID belongs, in any grant: a dev read, a prod write, a Cloudflare database
  [
    'id-not-name-dev',
    'id-not-name',
    'slack.dev.yaml:16',
    'error',
    '"#general" is not a channel ID: grant IDs such as C0123ABCD, never names',
  ],
  ['id-not-name-prod', 'id-not-name', 'slack.prod.yaml:19', 'error', '"editorial" is not a channel ID'],
  ['id-not-name-cloudflare', 'id-not-name', 'cloudflare.dev.yaml:46', 'error', '"blog-dev" is not a database ID'],
  // durations a timer cannot run: zero, and beyond 2^31-1 ms
  ['duration-zero', 'schema', 'slack.dev.yaml:12', 'error', 'expected a duration above zero'],
  ['duration-overflow', 'schema', 'slack.dev.yaml:26', 'error', '30d is longer than a timer can hold'],
  [
    'slack-approval-no-approvers',
    'schema',
    'slack.prod.yaml:25',
    'error',
    'a slack approval needs at least one approver',
  ],
  ['unknown-tool', 'unknown-tool', 'slack.dev.yaml:22', 'error', 'unknown tool "kick_user"'],
  [
    'unknown-constraint',
    'unknown-constraint',
    'slack.dev.yaml:25',
    'error',
    'unknown constraint "users" for update_message',
  ],
  ['constraint-kind', 'constraint-kind', 'slack.dev.yaml:25', 'error', 'expected array, received string'],
  // no owner key at all: the finding points at the top of the file
  ['owner', 'owner', 'slack.dev.yaml:1', 'error', 'is required'],
  ['purpose', 'purpose', 'slack.dev.yaml:6', 'error', 'purpose is required'],
  [
    'shared-credential',
    'shared-credential',
    'slack.prod.yaml:7',
    'error',
    'shares credential env:SLACK_BOT_TOKEN_DEV with slack.dev',
  ],
  [
    'shared-resource',
    'shared-resource',
    'slack.prod.yaml:16',
    'error',
    'channel "C0DEVGENERAL" is granted to both slack.prod and slack.dev',
  ],
  // dev's glob "p*" covers prod's literal config "prd"
  [
    'shared-resource-glob',
    'shared-resource',
    'doppler.prod.yaml:14',
    'error',
    'config "prd" is granted to both doppler.prod and doppler.dev',
  ],
  ['missing-permission', 'missing-permission', 'slack.prod.yaml:26', 'error', 'add_reaction needs reactions:write'],
  [
    'excess-permission-prod',
    'excess-permission',
    'slack.prod.yaml:10',
    'error',
    'files:write is declared but no granted tool needs it',
  ],
  [
    'excess-permission-dev',
    'excess-permission',
    'slack.dev.yaml:10',
    'warning',
    'files:write is declared but no granted tool needs it',
  ],
  ['prod-attribution', 'prod-attribution', 'slack.prod.yaml:11', 'error', 'must set attribution: required'],
  // required, but only asserted: the client would name the human unchecked
  [
    'prod-proven-actor',
    'prod-proven-actor',
    'slack.prod.yaml:11',
    'error',
    'must prove its actor by slack-message or oidc',
  ],
  // whatever the connector: a production Doppler instance that takes the client's word is refused too
  [
    'prod-proven-actor-any-connector',
    'prod-proven-actor',
    'doppler.prod.yaml:10',
    'error',
    'doppler.prod must prove its actor by slack-message or oidc',
  ],
  [
    'prod-no-wildcard-writes',
    'prod-no-wildcard-writes',
    'slack.prod.yaml:26',
    'error',
    'add_reaction.channels grants the wildcard "*"',
  ],
  [
    'prod-no-wildcard-writes-pattern',
    'prod-no-wildcard-writes',
    'doppler.prod.yaml:20',
    'error',
    'set_secret.configs grants the wildcard "pr*"',
  ],
  [
    'prod-destructive-approval',
    'prod-destructive-approval',
    'slack.prod.yaml:26',
    'error',
    'delete_message (destructive) needs an approval',
  ],
  ['approver-not-bot', 'approver-not-bot', 'slack.prod.yaml:26', 'error', "U0PRODBOT is one of the fleet's bots"],
  // the bot's own client would answer an elicitation: a production approval must go to Slack
  [
    'prod-approval-outside-client',
    'prod-approval-outside-client',
    'slack.prod.yaml:31',
    'error',
    'update_message is approved via elicitation, which the calling client answers itself',
  ],
  ['prod-no-reveal', 'prod-no-reveal', 'vault.prod.yaml:12', 'error', 'read_secret.reveal is true'],
  [
    'prod-forbidden-tools',
    'prod-forbidden-tools',
    'slack.prod.yaml:19',
    'error',
    'list_users must not be granted here',
  ],
  ['prod-sql-read-only', 'prod-sql-read-only', 'cloudflare.prod.yaml:33', 'error', 'd1_query.sql is "write"'],
  // a connector that can mint must, in prod; and not for longer than the rule's max_ttl
  [
    'prod-minted-credentials',
    'prod-minted-credentials',
    'cloudflare.prod.yaml:7',
    'error',
    'uses the standing credential env:CLOUDFLARE_API_TOKEN_PROD',
  ],
  [
    'prod-minted-ttl',
    'prod-minted-credentials',
    'cloudflare.prod.yaml:7',
    'error',
    'mints tokens living 4h, longer than 1h',
  ],
  // Slack cannot mint: a production Slack instance rotates its token, unless the rule exempts it by name (slack.prod, with its reason)
  [
    'prod-rotated-slack-token',
    'prod-rotated-slack-token',
    'slack.prod-alerts.yaml:7',
    'error',
    'slack cannot mint a token, but it can rotate one',
  ],
  // review_by: past in prod fails, past in dev and near anywhere warn, missing in prod fails
  [
    'review-past-prod',
    'review-by',
    'slack.prod.yaml:5',
    'error',
    'slack.prod was due for review on 2026-11-15 (16 day(s) ago)',
  ],
  ['review-past-dev', 'review-by', 'slack.dev.yaml:5', 'warning', 'slack.dev was due for review on 2026-11-01'],
  [
    'review-near',
    'review-by',
    'slack.prod.yaml:5',
    'warning',
    'slack.prod is due for review on 2026-12-20 (in 19 day(s))',
  ],
  ['review-missing', 'review-by', 'slack.prod.yaml:4', 'error', 'slack.prod has no review_by date'],
  // the same rule on each client of clients.yaml: production when it may call a production instance
  [
    'client-review-past-prod',
    'review-by',
    'clients.yaml:7',
    'error',
    'client bot-publish was due for review on 2026-11-15 (16 day(s) ago)',
  ],
  [
    'client-review-near',
    'review-by',
    'clients.yaml:13',
    'warning',
    'client bot-staging is due for review on 2026-12-20 (in 19 day(s))',
  ],
  ['client-review-missing', 'review-by', 'clients.yaml:8', 'error', 'client bot-publish has no review_by date'],
  // a tool whose declaration leaves an argument that names a resource ungoverned
  [
    'uncovered-argument',
    'uncovered-argument',
    'vault.dev.yaml:13',
    'error',
    'copy_secret: argument "to" is governed by no constraint',
  ],
  // time-boxed exceptions: no expiry, beyond the fleet maximum (7d from today), approved by its owner
  [
    'exception-no-expiry',
    'exception-limits',
    'slack.dev.yaml:29',
    'error',
    'exception incident-7 (delete_message) has no expiry',
  ],
  [
    'exception-too-long',
    'exception-limits',
    'slack.dev.yaml:35',
    'error',
    'exception incident-7 (delete_message) runs 444 h, beyond the fleet maximum of 7d from today',
  ],
  [
    'exception-self-approved',
    'exception-limits',
    'slack.dev.yaml:34',
    'error',
    'exception incident-7 (delete_message) is approved by its own owner U0DEVALICE',
  ],
];

describe('fleet verify: broken-manifest corpus', () => {
  it('the unbroken copies of the shipped manifests give no finding', () => {
    expect(verify('valid')).toEqual([]);
  });

  it.each(CASES)('%s → exactly one %s finding at its file:line', (name, rule, at, severity, phrase) => {
    const found = verify(name);
    expect(found.map(({ rule, severity, at }) => ({ rule, severity, at }))).toEqual([{ rule, severity, at }]);
    expect(found[0]!.message).toContain(phrase);
  });

  it('a production Slack instance whose token rotates passes the rule that slack.prod is exempt from', () => {
    expect(verify('slack-rotating')).toEqual([]);
  });

  it('a fleet rule finding names its reason and where the rule lives', () => {
    expect(verify('prod-attribution')[0]!.message).toMatch(
      /every production call must say who \(fleet rule prod-attribution, .*fleet\.yaml:\d+\)$/,
    );
  });

  it('a broken fleet.yaml is itself a finding at its line', () => {
    const found = verify('fleet-rules', join(CORPUS, 'fleet-rules', 'fleet.yaml'));
    expect(found.map(({ rule, at }) => ({ rule, at }))).toEqual([{ rule: 'fleet-rules', at: 'fleet.yaml:9' }]);
    expect(found[0]!.message).toContain("Expected 'attribution-required'");
  });

  it('every shipped fleet rule is exercised by a corpus case', async () => {
    const { loadFleetRules } = await import('../../shared/review/rules.js');
    const { fleet } = loadFleetRules(join(SCOPES, 'fleet.yaml'), connectors);
    const covered = new Set(CASES.map((c) => c[1]));
    expect(fleet!.rules.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });
});
