// The JSON Schema of manifests, derived from the same zod schema the loader enforces, so editors
// (yaml-language-server) check a manifest as it is typed. One branch per connector, chosen by
// `connector:`.
import { z } from 'zod';
import type { Connector } from '../connector/tool.js';
import { manifestSchema } from './schema.js';

type Json = Record<string, any>;

function forConnector(connector: Connector, connectors: Connector[]): Json {
  const js = z.toJSONSchema(manifestSchema(connector, Object.fromEntries(connectors.map((c) => [c.name, c]))), { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as Json;
  delete js.$schema;
  for (const [name, grant] of Object.entries<Json>(js.properties.tools.properties)) {
    const tool = connector.tools.find((t) => t.name === name)!;
    grant.description = `${tool.description} (${tool.access})`;
    // `get_user:` with nothing under it grants the tool with no constraints (null in YAML). The
    // grant stays one object schema (not anyOf null | object), so a misspelt constraint key reads
    // "property is not allowed" in an editor, not a type mismatch against null.
    if (!grant.required?.length) grant.type = ['object', 'null'];
  }
  return js;
}

export function manifestJsonSchema(connectors: Connector[]): Json {
  const names = connectors.map((c) => c.name);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: 'Generated from shared/manifest/schema.ts by `fleet surface --update`; checked by `fleet verify`.',
    title: 'fleet scope manifest',
    type: 'object',
    required: ['connector'],
    properties: { connector: { type: 'string', enum: names } },
    allOf: connectors.map((c) => ({ if: { properties: { connector: { const: c.name } } }, then: forConnector(c, connectors) })),
  };
}
