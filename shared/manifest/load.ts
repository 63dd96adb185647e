// Reads one manifest. Every error names file:line and the offending key.
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { Connector } from '../connector/tool.js';
import { parseDuration } from '../base/duration.js';
import { isProductionReach } from '../base/production.js';
import { productionDecl } from './production-of.js';
import { manifestSchema, referenceForms } from './schema.js';
import type { Manifest } from '../base/manifest.js';
import { extensionsOf } from '../connector/extensions.js';
import { ManifestError, readYaml } from '../base/yaml.js';

const MAX_BYTES = 256 * 1024;

/**
 * Manifests already read, by file name and content hash: the same bytes always give the same
 * manifest, and the start-up snapshot carries the shipped ones already parsed. A changed file is a
 * new key.
 */
const loaded = new Map<string, Manifest>();

function describeIssue(issue: z.core.$ZodIssue, connector: Connector): { path: string; message: string }[] {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const at = path ? `${path}.${key}` : key;
      if (path === 'tools') {
        const known = connector.tools.map((t) => t.name).join(', ');
        return { path: at, message: `unknown tool "${key}" for ${connector.name} (known: ${known})` };
      }
      if (issue.path.length === 2 && issue.path[0] === 'tools') {
        const tool = connector.tools.find((t) => t.name === issue.path[1]);
        const known = Object.keys(tool?.constraints ?? {}).join(', ') || 'none';
        return { path: at, message: `unknown constraint "${key}" for ${String(issue.path[1])} (it takes: ${known})` };
      }
      return { path: at, message: `unknown key "${key}"` };
    });
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return [{ path, message: 'is required' }];
  return [{ path, message: issue.message }];
}

/**
 * Loads and validates `file` against the connector it names. `connectors` maps a name to its
 * definition; a name missing there is itself an error at the `connector:` line.
 */
export function loadManifest(file: string, connectors: Record<string, Connector>): Manifest {
  const fail = (line: number, path: string, message: string): never => {
    throw new ManifestError([{ file, line, path, message }]);
  };
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return fail(1, '', 'cannot read the manifest file');
  }
  if (size > MAX_BYTES) fail(1, '', `manifest is ${size} bytes; the limit is ${MAX_BYTES}`);
  const bytes = readFileSync(file);
  const hash = createHash('sha256').update(bytes).digest('hex');
  // The file name is part of the key (it must match connector.instance); the folder is not, so a
  // manifest parsed ahead of time under scopes/ is found again under /abs/path/scopes/.
  // what production is comes from the folder's fleet.yaml too, so it is part of the key
  let decl;
  try {
    decl = productionDecl(dirname(file));
  } catch (e) {
    return fail(1, '', `fleet.yaml beside it: ${(e as Error).message}`);
  }
  const key = `${basename(file)}\0${hash}\0${JSON.stringify(decl ?? null)}`;
  const known = loaded.get(key);
  if (known) return known.file === file ? known : { ...known, file };
  const { data, line } = readYaml(bytes.toString('utf8'), file);
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    fail(1, '', 'a manifest is a mapping of keys (connector, instance, owner, ...)');
  const obj = data as Record<string, unknown>;
  const name = obj.connector;
  const connector = typeof name === 'string' ? connectors[name] : undefined;
  if (!connector)
    fail(
      line('connector'),
      'connector',
      `unknown connector ${JSON.stringify(name)} (known: ${Object.keys(connectors).join(', ')})`,
    );

  const parsed = manifestSchema(connector!, connectors).safeParse(obj, { reportInput: true });
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) =>
      describeIssue(issue, connector!).map((d) => ({ file, line: line(d.path), ...d })),
    );
    throw new ManifestError(problems);
  }
  const m = parsed.data;
  const expected = `${m.connector}.${m.instance}.yaml`;
  if (basename(file) !== expected)
    fail(
      line('instance'),
      'instance',
      `file name must be ${expected} for connector ${m.connector}, instance ${m.instance}`,
    );

  // A devOnly constraint (Doppler's get_secret.reveal) cannot be turned on in a production manifest.
  const production = isProductionReach(
    { connector: m.connector, instance: m.instance, upstream: m.upstream as Record<string, unknown> },
    decl,
  );
  if (production) {
    for (const tool of connector!.tools) {
      for (const [key, c] of Object.entries(tool.constraints)) {
        const granted = (m.tools as Record<string, Record<string, unknown> | undefined>)[tool.name]?.[key];
        const path = `tools.${tool.name}.${key}`;
        if (c.devOnly && granted !== undefined && granted !== false)
          fail(
            line(path),
            path,
            `${key} is refused in a production manifest (instance ${m.instance}); only a dev instance may grant it`,
          );
      }
    }
  }

  // A minted credential: the process resolves the broker; the connector must know how to mint.
  const minted = typeof m.credential === 'object' && 'broker' in m.credential ? m.credential : undefined;
  if (minted && !connector!.minter)
    fail(
      line('credential.mint'),
      'credential.mint',
      `${connector!.name} cannot mint credentials; use a reference (${referenceForms(extensionsOf(connectors).credentials)})`,
    );
  // A rotating credential: the connector must know its upstream's token exchange.
  const rotated = typeof m.credential === 'object' && 'rotate' in m.credential ? m.credential : undefined;
  if (rotated && !connector!.rotate)
    fail(
      line('credential.rotate'),
      'credential.rotate',
      `${connector!.name} has no token rotation; use a reference (${referenceForms(extensionsOf(connectors).credentials)})${connector!.minter ? ', or { broker, mint: { ttl } }' : ''}`,
    );

  const manifest: Manifest = {
    ...m,
    credential: minted ? minted.broker : rotated ? rotated.rotate.refresh_token : (m.credential as string),
    ...(minted ? { mint: { ttl: minted.mint.ttl, ttlMs: parseDuration(minted.mint.ttl)! } } : {}),
    ...(rotated ? { rotate: { ...rotated.rotate } } : {}),
    upstream: m.upstream as Record<string, any>,
    tools: m.tools as Manifest['tools'],
    exceptions: m.exceptions as Manifest['exceptions'],
    id: `${m.connector}.${m.instance}`,
    production,
    file,
    hash,
    timeoutMs: parseDuration(m.timeout)!,
    line,
  };
  loaded.set(key, manifest);
  return manifest;
}
