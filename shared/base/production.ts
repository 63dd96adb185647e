// "Is this instance production": the one predicate every rule, check and review asks, decided by
// what the instance reaches, never by its name alone. An instance is production when it is named
// so (prod, prod-*), when scopes/fleet.yaml declares it (`production.instances`), or when its
// manifest pins it to a workspace, account or project fleet.yaml declares production
// (`production.reaches`): an instance pinned to the production workspace but named `live` gets
// every production rule. A leaf: no file is read here (./production-of.ts reads the folder).
import { z } from 'zod';

/** The keys of a manifest's `upstream:` block that pin the instance to where it acts. */
export const PIN_KEYS = ['workspace', 'account', 'project'] as const;

/** `production:` in scopes/fleet.yaml. */
export const productionSchema = z
  .strictObject({
    instances: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/, 'an instance id, <connector>.<env>'))
      .default([])
      .describe('instances that are production whatever their name'),
    reaches: z
      .record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'a connector name'), z.array(z.string().min(1)))
      .default({})
      .describe(
        'per connector, the workspaces, accounts or projects that hold production: an instance pinned to one is production',
      ),
  })
  .describe('what production is, beyond the names prod and prod-*');
export type ProductionDecl = z.infer<typeof productionSchema>;

/** What an instance reaches: its id, and its manifest's upstream block when there is one. */
export interface Reach {
  connector: string;
  instance: string;
  upstream?: Record<string, unknown>;
}

/** Named production: prod, or prod-<anything>. A floor: such an instance is production whatever else holds. */
export function productionByName(instance: string): boolean {
  return instance === 'prod' || instance.startsWith('prod-');
}

/** The pins of an upstream block, as "key:value" (e.g. "workspace:T0BLOGPROD"). */
export function pinsOf(upstream: Record<string, unknown> | undefined): string[] {
  return PIN_KEYS.flatMap((k) => (typeof upstream?.[k] === 'string' ? [String(upstream[k])] : []));
}

/** Whether an instance is production: by name, by declaration, or by what its manifest pins it to. */
export function isProductionReach(r: Reach, decl?: ProductionDecl): boolean {
  if (productionByName(r.instance)) return true;
  if (!decl) return false;
  if (decl.instances.includes(`${r.connector}.${r.instance}`)) return true;
  const held = decl.reaches[r.connector];
  return !!held && pinsOf(r.upstream).some((p) => held.includes(p));
}

/** Reads a fleet.yaml's parsed `production:` value; throws a message naming the path when it is not one. */
export function parseProduction(raw: unknown): ProductionDecl | undefined {
  if (raw === undefined || raw === null) return undefined;
  const p = productionSchema.safeParse(raw);
  if (!p.success) {
    const i = p.error.issues[0]!;
    throw new Error(`production.${i.path.map(String).join('.')}: ${i.message}`);
  }
  return p.data;
}
