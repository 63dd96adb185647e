// scopes/clients.yaml: every routine that may call an instance over HTTP, reviewed like a manifest.
// A client names its owner and purpose, the instances it may call, and how it proves itself: a
// bearer token (only its sha256, or a reference to where the token lives) or a JWT from an
// external authorization server. Every error names file:line.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { rateSchema } from '../base/rate.js';
import { productionDecl, productionOfId } from './production-of.js';
import { ManifestError, readYaml, type ManifestProblem } from '../base/yaml.js';
import { DATE } from './schema.js';

export const CLIENTS_FILE = 'clients.yaml';

const NAME = /^[a-z][a-z0-9-]{1,62}$/;
const INSTANCE = /^[a-z][a-z0-9]*\.[a-z][a-z0-9-]*$/;
/** sha256:<64 hex> (from `fleet clients mint`), env:NAME or a reference of a scheme a connector contributes (<scheme>:<path>) */
const TOKEN_REF = /^(sha256:[0-9a-f]{64}|env:[A-Z_][A-Z0-9_]*|(?!sha256:|env:)[a-z][a-z0-9-]*:[\w.-]+(\/[\w.-]+)*)$/;

export const jwtSchema = z.strictObject({
  issuer: z.url().describe('the authorization server (iss claim)'),
  jwks: z.string().min(1).describe("JWKS URL, or a file of the issuer's public keys"),
  subject: z.string().min(1).max(256).describe('the sub (or client_id) claim naming this client'),
  algorithms: z
    .array(z.enum(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']))
    .min(1)
    .default(['RS256', 'ES256', 'EdDSA']),
});

export const clientSchema = z.strictObject({
  owner: z.string().min(3).describe('team and contact'),
  purpose: z.string().min(10).describe('what this routine does with its access'),
  instances: z.array(z.string().regex(INSTANCE, 'an instance is <connector>.<env>, such as <connector>.prod')).min(1),
  token: z
    .string()
    .regex(
      TOKEN_REF,
      "token is sha256:<hex> (from `fleet clients mint`), env:NAME or a secret manager's <scheme>:<path> — never the token itself",
    )
    .optional(),
  jwt: jwtSchema.optional(),
  revoked: z
    .union([z.string().min(1), z.literal(true)])
    .optional()
    .describe('a revoked client is refused (the date or reason)'),
  rate: rateSchema('requests per window for this client (default 20/second)').optional(),
  review_by: DATE.optional().describe(
    'when the owner next recertifies this client (YYYY-MM-DD); fleet rule kind review-due',
  ),
});

export const clientsSchema = z.strictObject({
  clients: z.record(z.string().regex(NAME, 'a client name is lower-case letters, digits and dashes'), clientSchema),
});

export type ClientDef = z.infer<typeof clientSchema>;

export interface Clients {
  file: string;
  clients: Record<string, ClientDef>;
  line(path: string): number;
}

/** The clients file beside the manifests; none is an empty list (no HTTP client is admitted). */
export function loadClients(scopes: string): Clients {
  const file = join(scopes, CLIENTS_FILE);
  if (!existsSync(file)) return { file, clients: {}, line: () => 1 };
  return parseClients(readFileSync(file, 'utf8'), file);
}

export function parseClients(text: string, file: string): Clients {
  const { data, line } = readYaml(text, file);
  const parsed = clientsSchema.safeParse(data ?? { clients: {} });
  if (!parsed.success) {
    throw new ManifestError(
      parsed.error.issues.flatMap((i) => {
        const path = i.path.map(String).join('.');
        if (i.code === 'unrecognized_keys')
          return i.keys.map((k) => ({
            file,
            line: line(path ? `${path}.${k}` : k),
            path: path ? `${path}.${k}` : k,
            message: `unknown key "${k}"`,
          }));
        if (i.code === 'invalid_key')
          return [
            {
              file,
              line: line(path),
              path,
              message: 'a client name is 2 to 63 lower-case letters, digits and dashes, starting with a letter',
            },
          ];
        return [
          {
            file,
            line: line(path),
            path,
            message: i.code === 'invalid_type' && i.input === undefined ? 'is required' : i.message,
          },
        ];
      }),
    );
  }
  const problems: ManifestProblem[] = [];
  const decl = productionDecl(dirname(file));
  for (const [name, c] of Object.entries(parsed.data.clients)) {
    const at = `clients.${name}`;
    if (!c.token === !c.jwt)
      problems.push({
        file,
        line: line(at),
        path: at,
        message: 'a client proves itself with exactly one of token: or jwt:',
      });
    const prod = c.instances.filter((i) => productionOfId(i, dirname(file), decl));
    if (prod.length && prod.length < c.instances.length) {
      problems.push({
        file,
        line: line(`${at}.instances`),
        path: `${at}.instances`,
        message: `lists production (${prod.join(', ')}) and non-production instances: a dev and a prod instance never accept the same credential; give each environment its own client`,
      });
    }
  }
  const seen = new Map<string, string>();
  for (const [name, c] of Object.entries(parsed.data.clients)) {
    if (!c.token) continue;
    const other = seen.get(c.token);
    if (other)
      problems.push({
        file,
        line: line(`clients.${name}.token`),
        path: `clients.${name}.token`,
        message: `is the same credential as client ${other}'s: mint one per client (fleet clients mint ${name})`,
      });
    else seen.set(c.token, name);
  }
  if (problems.length) throw new ManifestError(problems);
  return { file, clients: parsed.data.clients, line };
}
