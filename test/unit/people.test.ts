// fleet.yaml people: — who the fleet knows, and which member IDs are whose: the directory itself
// (each ID one person's, canonical forms only), what verify says of a manifest naming a stranger
// or an exception its owner approved under another ID, and what `fleet diff` says of a changed link.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { readSide } from '../../servers/fleet/commands/diff-sides.js';
import { peopleOf, peopleSchema } from '../../shared/manifest/people.js';
import { compareSides } from '../../shared/review/diff.js';
import { verifyScopes } from '../../shared/review/verify.js';
import { SCOPES, tempDir } from '../helpers.js';

const copy = (edit: Record<string, (t: string) => string> = {}) => {
  const dir = join(tempDir('fleet-people-'), 'scopes');
  cpSync(SCOPES, dir, { recursive: true });
  for (const [f, e] of Object.entries(edit)) writeFileSync(join(dir, f), e(readFileSync(join(dir, f), 'utf8')));
  return dir;
};
const errors = (dir: string) =>
  verifyScopes(dir, { connectors: CONNECTORS, generated: false }).findings.filter((f) => f.severity === 'error');

describe('the directory', () => {
  it("takes canonical e-mails and member IDs only, each ID one person's", () => {
    expect(peopleSchema.safeParse({ 'erin@example.com': ['U0EDITOR1'] }).success).toBe(true);
    for (const bad of [
      { 'Erin@example.com': ['U0EDITOR1'] },
      { 'erin@example.com': ['u0editor1'] },
      { 'erin@example.com': ['U0EDITOR1\u200b'] },
      { 'erin@example.com': ['sam@example.com'] },
      { 'erin\u0435@example.com': [] },
    ]) {
      expect(peopleSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    const { people, problems } = peopleOf({ 'erin@example.com': ['U0EDITOR1'], 'sam@example.com': ['U0EDITOR1'] });
    expect(problems.map((p) => p.message)).toEqual([
      "U0EDITOR1 is already erin@example.com's: one ID names one person",
    ]);
    expect(people.idsOf('U0EDITOR1')).toEqual(['erin@example.com', 'U0EDITOR1']);
    expect(people.idsOf('U0EDITOR3')).toBeUndefined();
  });

  it('verify refuses an approver or exception person nobody knows, and an exception its owner approved as herself', () => {
    expect(errors(copy())).toEqual([]);
    const stranger = errors(
      copy({
        'slack.prod.yaml': (t) => t.replace('approvers: [U0EDITOR1, U0EDITOR2]', 'approvers: [U0EDITOR1, U0EDIT0R2]'),
      }),
    );
    expect(stranger.map((f) => [f.rule, f.path])).toEqual([
      ['unknown-person', 'tools.update_message.approval.approvers.1'],
    ]);
    expect(stranger[0]!.message).toMatch(/U0EDIT0R2, an approver of update_message, names nobody the fleet knows/);
    const exc = (approver: string) => (t: string) =>
      `${t}exceptions:\n  - id: x\n    tool: get_permalink\n    grant: { channels: [C0DEVGENERAL] }\n    owner: alice@example.com\n    reason: test\n    approver: ${approver}\n    expires: ${new Date(Date.now() + 86_400_000).toISOString().slice(0, 19)}Z\n`;
    expect(errors(copy({ 'slack.dev.yaml': exc('U0DEVBOB') }))).toEqual([]);
    const self = errors(copy({ 'slack.dev.yaml': exc('U0DEVALICE') }));
    expect(self.map((f) => f.message).join('\n')).toMatch(/approved by its own owner/);
  });

  it("fleet diff: an ID that stops being someone's is an escalation", () => {
    const base = copy();
    const moved = copy({
      'fleet.yaml': (t) =>
        t
          .replace('  erin@example.com: [U0EDITOR1]\n', '  erin@example.com: []\n')
          .replace('  sam@example.com: [U0EDITOR2]', '  sam@example.com: [U0EDITOR2, U0EDITOR1]'),
    });
    const changes = compareSides(readSide(base, 'scopes'), readSide(moved, 'scopes'), CONNECTORS);
    expect(changes.map((c) => [c.class, c.what])).toContainEqual([
      'escalation',
      "people: U0EDITOR1 is no longer erin@example.com's but sam@example.com's: a request by erin@example.com no longer stops U0EDITOR1 from approving it",
    ]);
    const added = copy({
      'fleet.yaml': (t) =>
        t.replace('  kim@example.com: [U0WRITER2]', '  kim@example.com: [U0WRITER2]\n  zoe@example.com: [U0ZOE1]'),
    });
    expect(
      compareSides(readSide(base, 'scopes'), readSide(added, 'scopes'), CONNECTORS).map((c) => [c.class, c.what]),
    ).toContainEqual(['neutral', 'people: zoe@example.com added (manifests may name them)']);
  });
});
