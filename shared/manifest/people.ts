// The people the fleet knows (scopes/fleet.yaml `people:`): each person once, by their e-mail
// address, with the member IDs they have in the workspaces the fleet talks to. Every person a
// reviewed file names — a grant's approver, an exception's owner and approver — must be one of
// them (or one of the fleet's `bots`, which other rules keep from approving): a name that parses but
// matches nobody is an error, so a near miss of an approver never slips through as a stranger.
// The same entry is the declared link between an e-mail principal (an oidc actor) and its member
// IDs, so that a requester proven by e-mail is still recognised when they answer an approval as a
// member (the approval channel checks the link against the workspace before it asks).
//
//   people:
//     erin@example.com: [U0EDITOR1]
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { actor, BadIdentifier, email, person, type PersonId } from '../base/identity.js';
import { fromDoc, ManifestError, readYaml, type ManifestProblem } from '../base/yaml.js';
import { selfApproved } from './exceptions.js';
import type { Manifest } from '../base/manifest.js';

const ids = (raw: unknown, what: string) => {
  const p = person(raw, what);
  if (actor(p).kind === 'email')
    throw new BadIdentifier(what, 'must be a member ID such as U0123ABCD, not an e-mail address');
  return p;
};
const parsed =
  <T>(fn: (raw: unknown, what: string) => T, what: string) =>
  (v: unknown, ctx: z.RefinementCtx) => {
    try {
      fn(v, what);
    } catch (e) {
      if (!(e instanceof BadIdentifier)) throw e;
      ctx.addIssue({ code: 'custom', message: e.message });
    }
  };

export const peopleSchema = z
  .record(
    z
      .string()
      .superRefine(parsed((v, what) => (email(v, what) === v ? v : person(v, what)), "a person's e-mail address")),
    z.array(z.string().superRefine(parsed(ids, 'a member ID'))).default([]),
  )
  .describe("the people the fleet's files may name: e-mail address → their member IDs");

export interface People {
  /** every ID of every person (e-mails and member IDs), canonical */
  known: Set<string>;
  /** every ID of the person `id` names (itself included), or undefined when it names nobody */
  idsOf(id: string): PersonId[] | undefined;
}

/** The directory from fleet.yaml's `people` (already checked by peopleSchema), plus the fleet's bots. */
export function peopleOf(
  data: Record<string, string[]> | undefined,
  bots: string[] = [],
): { people: People; problems: { path: string; message: string }[] } {
  const byId = new Map<string, PersonId[]>();
  const problems: { path: string; message: string }[] = [];
  for (const [mail, members] of Object.entries(data ?? {})) {
    const all = [mail, ...members] as PersonId[];
    for (const [i, id] of all.entries()) {
      const other = byId.get(id);
      if (other && other[0] !== mail)
        problems.push({
          path: i ? `people.${mail}.${i - 1}` : `people.${mail}`,
          message: `${id} is already ${other[0]}'s: one ID names one person`,
        });
      else byId.set(id, all);
    }
  }
  for (const b of bots) if (!byId.has(b)) byId.set(b, [b as PersonId]);
  return { people: { known: new Set(byId.keys()), idsOf: (id) => byId.get(id) }, problems };
}

/** Every person a manifest names, with where: the approvers of its grants, its exceptions' owners and approvers. */
export function peopleNamed(m: Manifest): { id: string; path: string; role: string }[] {
  const out: { id: string; path: string; role: string }[] = [];
  for (const [tool, g] of Object.entries(m.tools)) {
    const approvers = (g.approval as { approvers?: string[] } | undefined)?.approvers ?? [];
    for (const [i, id] of approvers.entries())
      out.push({ id, path: `tools.${tool}.approval.approvers.${i}`, role: `an approver of ${tool}` });
  }
  (m.exceptions ?? []).forEach((e, i) => {
    out.push({ id: e.owner, path: `exceptions.${i}.owner`, role: `the owner of exception ${e.id}` });
    out.push({ id: e.approver, path: `exceptions.${i}.approver`, role: `the approver of exception ${e.id}` });
  });
  return out;
}

/**
 * The directory of the scopes folder's fleet.yaml (people: and bots:), as `serve` needs it; a
 * malformed entry is an error at its file:line. No fleet.yaml, or no people:, knows nobody but bots.
 */
export function loadPeople(scopes: string): { file: string; people: People } {
  const file = join(scopes, 'fleet.yaml');
  if (!existsSync(file)) return { file, people: peopleOf({}).people };
  const doc = readYaml(readFileSync(file, 'utf8'), file);
  const data = (doc.data ?? {}) as { people?: unknown; bots?: unknown };
  const parsedPeople = fromDoc(doc, peopleSchema, () => peopleSchema.optional().safeParse(data.people));
  if (!parsedPeople.success) {
    throw new ManifestError(
      parsedPeople.error.issues.map((i) => {
        const path = ['people', ...i.path.map(String)].join('.');
        return { file, line: doc.line(path), path, message: i.message };
      }),
    );
  }
  const bots = Array.isArray(data.bots) ? data.bots.filter((b): b is string => typeof b === 'string') : [];
  const { people, problems } = peopleOf(parsedPeople.data, bots);
  if (problems.length) throw new ManifestError(problems.map((p) => ({ file, line: doc.line(p.path), ...p })));
  return { file, people };
}

/**
 * Where a manifest names someone the fleet does not know (people: or bots: of fleet.yaml), or has
 * an exception approved by its own owner under another of their IDs.
 */
export function strangers(m: Manifest, people: People, fleetFile: string): ManifestProblem[] {
  const self = (m.exceptions ?? []).flatMap((e, i) =>
    people.known.has(e.owner) && people.known.has(e.approver) && selfApproved(e, people.idsOf) && e.owner !== e.approver
      ? [
          {
            file: m.file,
            line: m.line(`exceptions.${i}.approver`),
            path: `exceptions.${i}.approver`,
            message: `${e.approver} is ${e.owner} (${fleetFile} people:): exception ${e.id} is approved by its own owner`,
          },
        ]
      : [],
  );
  return self.concat(
    peopleNamed(m)
      .filter((p) => !people.known.has(p.id))
      .map((p) => ({
        file: m.file,
        line: m.line(p.path),
        path: p.path,
        message: `${p.id}, ${p.role}, names nobody the fleet knows: add them to people: in ${fleetFile} (or correct a near miss of someone listed there)`,
      })),
  );
}
