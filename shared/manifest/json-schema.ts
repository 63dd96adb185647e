// The JSON Schema of manifests, derived from the same zod schema the loader enforces, so editors
// (yaml-language-server) check a manifest as it is typed. One branch per connector, chosen by
// `connector:`.
import { z } from 'zod';
import type { Connector } from '../connector/tool.js';
import { manifestSchema } from './schema.js';
import { clientsSchema } from './clients.js';

type Json = Record<string, any>;

function forConnector(connector: Connector, connectors: Connector[]): Json {
  const js = z.toJSONSchema(manifestSchema(connector, Object.fromEntries(connectors.map((c) => [c.name, c]))), {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
  }) as Json;
  delete js.$schema;
  for (const [name, grant] of Object.entries<Json>(js.properties.tools.properties)) {
    const tool = connector.tools.find((t) => t.name === name)!;
    grant.description = `${tool.description} (${tool.access})`;
    // `get_user:` with nothing under it grants the tool with no constraints (null in YAML). The
    // grant stays one object schema (not anyOf null | object), so a misspelt constraint key reads
    // "property is not allowed" in an editor, not a type mismatch against null.
    if (!grant.required?.length) grant.type = ['object', 'null'];
  }
  // A devOnly constraint (Doppler's get_secret.reveal) is refused in a production manifest by the
  // loader; the schema says so too, so an editor or a generic validator flags it where it is typed.
  const devOnly: Json = {};
  for (const t of connector.tools) {
    for (const [key, c] of Object.entries(t.constraints))
      if (c.devOnly)
        (devOnly[t.name] ??= { properties: {} }).properties[key] = {
          const: false,
          description: `${key} is refused in a production manifest`,
        };
  }
  if (Object.keys(devOnly).length)
    js.allOf = [
      {
        if: { required: ['instance'], properties: { instance: { pattern: PRODUCTION } } },
        then: { properties: { tools: { properties: devOnly } } },
      },
    ];
  return js;
}

/** isProduction (shared/connector/scopes.ts) as a pattern on `instance`. */
const PRODUCTION = '^prod(-|$)';

/** A zod schema of a file as a draft-07 JSON Schema with a title and where it came from. */
export function fileSchema(schema: z.ZodType, title: string, from: string): Json {
  const js = z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as Json;
  delete js.$schema;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: `Generated from ${from} by \`fleet surface --update\`; checked by \`fleet verify\`.`,
    title,
    ...js,
  };
}

/** scopes/clients.yaml: the HTTP clients. */
export const clientsJsonSchema = (): Json =>
  fileSchema(clientsSchema, 'fleet HTTP clients (scopes/clients.yaml)', 'shared/manifest/clients.ts');

export function manifestJsonSchema(connectors: Connector[]): Json {
  const names = connectors.map((c) => c.name);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: 'Generated from shared/manifest/schema.ts by `fleet surface --update`; checked by `fleet verify`.',
    title: 'fleet scope manifest',
    type: 'object',
    required: ['connector'],
    properties: { connector: { type: 'string', enum: names } },
    allOf: connectors.map((c) => ({
      if: { properties: { connector: { const: c.name } } },
      then: forConnector(c, connectors),
    })),
  };
}
