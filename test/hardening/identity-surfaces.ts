// Every surface that names a person or a client, as data: what reads the name (a pattern of the
// source, so that a census can tell when code starts reading a name somewhere no surface covers),
// which known names it may see, and how to offer it a value (through the built CLI where it is a
// command, through a served instance where it is a call, through `fleet verify`'s code where it is a
// reviewed file). Each `offer` resolves to what happened: refused (an error, a non-zero exit, a
// refused call) or accepted, with the canonical ID it was taken for when the surface records one.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { verifyScopes } from '../../shared/review/verify.js';

export type Outcome = { refused: true } | { refused: false; as?: string };

export interface Surface {
  name: string;
  /** references must name someone known; claims (who the caller says they are) must only parse */
  role: 'reference' | 'claim';
  /** the source reads the name where this pattern occurs, in one of these folders */
  reads: { pattern: RegExp; under: string[] }[];
  /** the known names near-misses are made of */
  seeds: string[];
  /** CLI and environment surfaces cannot carry a NUL: the OS refuses it before the program runs */
  noNul?: boolean;
  /** generated cases: spawning the CLI costs more than calling a served instance */
  cost: 'spawn' | 'call' | 'in-process';
}

/** A person or client named where no surface covers it is a test failure (test/hardening/identity-surfaces.test.ts). */
export const SURFACES: Surface[] = [
  {
    name: "manifest: a grant's approval.approvers",
    role: 'reference',
    // the core lists them (approvers: z.array(approver)); each approval channel gives their grammar
    reads: [
      { pattern: /approvers: z\b/, under: ['shared/'] },
      { pattern: /\bapprover: z\./, under: ['shared/connector/', 'servers/'] },
    ],
    seeds: ['U0EDITOR1', 'U0EDITOR2'],
    cost: 'in-process',
  },
  {
    name: "manifest: an exception's owner",
    role: 'reference',
    reads: [{ pattern: /\bowner: personSchema\b/, under: ['shared/'] }],
    seeds: ['U0DEVALICE', 'alice@example.com'],
    cost: 'in-process',
  },
  {
    name: "manifest: an exception's approver",
    role: 'reference',
    reads: [{ pattern: /\bapprover: personSchema\b/, under: ['shared/'] }],
    seeds: ['U0DEVBOB', 'bob@example.com'],
    cost: 'in-process',
  },
  {
    name: 'fleet suspend client:NAME',
    role: 'reference',
    // shared/ reads the stored target back (written only by this command) to say who is suspended
    reads: [
      { pattern: /'client:'/, under: ['servers/fleet/', 'shared/'] },
      { pattern: /argument\('<target>'/, under: ['servers/fleet/'] },
    ],
    seeds: ['bot-publish', 'bot-staging'],
    noNul: true,
    cost: 'spawn',
  },
  {
    name: 'fleet resume client:NAME',
    role: 'reference',
    reads: [{ pattern: /export async function resumeCmd/, under: ['servers/fleet/'] }],
    seeds: ['bot-publish'],
    noNul: true,
    cost: 'spawn',
  },
  {
    name: 'fleet audit show --actor',
    role: 'reference',
    reads: [{ pattern: /option\('--actor /, under: ['servers/fleet/'] }],
    seeds: ['U0DEVALICE'],
    noNul: true,
    cost: 'spawn',
  },
  {
    name: 'fleet clients mint NAME',
    role: 'reference',
    reads: [{ pattern: /argument\('<name>'/, under: ['servers/fleet/'] }],
    seeds: ['bot-publish'],
    noNul: true,
    cost: 'spawn',
  },
  {
    name: 'FLEET_ACTOR (stdio serve, fleet suspend)',
    role: 'claim',
    reads: [{ pattern: /env\.FLEET_ACTOR\b/, under: ['shared/', 'servers/fleet/'] }],
    seeds: ['U0DEVALICE'],
    noNul: true,
    cost: 'spawn',
  },
  {
    name: 'FLEET_CLIENT (stdio serve)',
    role: 'claim',
    reads: [{ pattern: /env\.FLEET_CLIENT\b/, under: ['servers/fleet/'] }],
    seeds: ['claude-dev'],
    noNul: true,
    cost: 'spawn',
  },
  {
    name: '_meta "fleet/actor"',
    role: 'claim',
    reads: [{ pattern: /\w\[META\.actor\]/, under: ['shared/'] }],
    seeds: ['U0DEVALICE', 'alice@example.com'],
    cost: 'call',
  },
  {
    name: "an oidc token's e-mail (or sub) claim",
    role: 'claim',
    reads: [
      { pattern: /payload\.(email|sub)\b/, under: ['shared/'] },
      { pattern: /\w\[META\.actorToken\]/, under: ['shared/'] },
    ],
    seeds: ['alice@example.com'],
    cost: 'call',
  },
];

/**
 * Names that come from an upstream, never typed by anyone: Slack gives member IDs in its own
 * form. They are compared only with parsed, known names; the Slack Connect and guest cases are
 * driven against the sandbox in test/e2e/identity.test.ts (proof author, approval answer) and
 * test/e2e/oidc-approvals.test.ts (the requester linked through people:).
 */
export const UPSTREAM_NAMES: { name: string; reads: { pattern: RegExp; under: string[] }[] }[] = [
  { name: "a proof message's author (Slack)", reads: [{ pattern: /author: m\.user\b/, under: ['servers/slack/'] }] },
  // a reply, a reaction or a button press: read from the thread, or delivered by Slack (servers/slack/events.ts)
  {
    name: "an approval answer's user (Slack)",
    reads: [
      { pattern: /return \{ user: m\.user, via: 'reply'/, under: ['servers/slack/'] },
      { pattern: /return \{ user, via: 'reaction'/, under: ['servers/slack/'] },
      { pattern: /return \{ user, via: 'button'/, under: ['servers/slack/'] },
    ],
  },
];

/**
 * Definitions, not references: these files say who exists (a new name here is a new person or
 * client, reviewed by `fleet diff`), so they are held to the parser only (test/unit/identity.test.ts
 * and the schema tests): fleet.yaml people: and bots:, clients.yaml's client names, a manifest's clients:.
 */
export const DEFINITIONS: { name: string; reads: { pattern: RegExp; under: string[] }[] }[] = [
  { name: 'fleet.yaml people:', reads: [{ pattern: /people: peopleSchema\b/, under: ['shared/'] }] },
  { name: 'clients.yaml client names', reads: [{ pattern: /clients: z\.record\(/, under: ['shared/'] }] },
  {
    name: "a manifest's clients:",
    // a chain the formatter breaks after `z` (its .array(z.string().refine(client…)) follows)
    reads: [{ pattern: /^\s*clients: z$/, under: ['shared/manifest/schema.ts'] }],
  },
  {
    name: 'clients.yaml jwt.subject (what the issuer calls the client, compared exactly)',
    reads: [{ pattern: /subject: z\.string\(\)/, under: ['shared/'] }],
  },
  // a manifest's and a client's owner name a team and its contact, free text no rule compares
  {
    name: "a manifest's or a client's owner (a team)",
    reads: [
      { pattern: /owner: z\.string\(\)/, under: ['shared/'] },
      { pattern: /^\s*owner: z$/, under: ['shared/manifest/schema.ts'] },
    ],
  },
];

/** Where the source reads a name of a person or client: every line matching one of these must be claimed above. */
export const CENSUS: RegExp[] = [
  /\b(approvers?|owners?|actors?|requesters?|clients?|people|members?|subject)\s*:\s*(z\b|personSchema|peopleSchema)/,
  /env\.FLEET_(ACTOR|CLIENT)\b/,
  /\.option\('--(actor|client|user|by|owner) </,
  /\.argument\('<(name|client|user|actor|target)>'/,
  // a read of the key (m[META.actor]); a call that sends one, or a help text that names it, reads no name
  /\w\[META\.(actor|actorToken)\](?!\s*=(?!=))/,
  /payload\.(email|sub)\b/,
  /'client:'/,
];

/** What `fleet verify` (its code, in-process) says of the shipped scopes with `file` edited. */
export function verifyEdited(scopes: string, file: string, edit: (text: string) => string): { errors: string[] } {
  const path = join(scopes, file);
  const original = readFileSync(path, 'utf8');
  try {
    writeFileSync(path, edit(original));
    const { findings } = verifyScopes(scopes, { connectors: CONNECTORS, generated: false });
    return { errors: findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`) };
  } finally {
    writeFileSync(path, original);
  }
}
