// Signed checkpoints of the trail, and where they go: a file of notes, the OTLP export, the sinks
// connectors contribute (CheckpointSinkKind, each switched on by its block under `checkpoints:`). Also where another instance's checkpoints are read back (promotion evidence).
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readAnchors } from '../../../shared/audit/anchors.js';
import {
  Checkpointer,
  fileSink,
  loadPrivateKey,
  rawPublicKey,
  readCheckpointsConfig,
} from '../../../shared/audit/checkpoint.js';
import type { AuditExport } from '../../../shared/audit/export.js';
import { parseDuration } from '../../../shared/base/duration.js';
import { StartupError } from '../../../shared/base/errors.js';
import type { Log } from '../../../shared/base/log.js';
import { isProduction } from '../../../shared/connector/scopes.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import type { CheckpointSinkKind, ExtensionContext, PostedSink } from '../../../shared/connector/extensions.js';

/** The instance's checkpointer, and the sinks connectors contribute that it posts to (each tells at the end what it lost). */
export type Checkpoints = Pick<Checkpointer, 'record' | 'close'> & {
  posted?: { kind: CheckpointSinkKind; sink: PostedSink }[];
};

/**
 * Signed checkpoints of the trail, when the environment names a signing key (FLEET_CHECKPOINT_KEY,
 * a PKCS#8 PEM file) and where to put them (FLEET_CHECKPOINT_FILE). The key must match the public
 * key in fleet.yaml, and neither it nor the checkpoint file may sit in the trail's folder: whoever
 * can rewrite the trail must not be able to sign for it, or rewrite what was signed.
 */
export function openCheckpoints(
  manifest: Manifest,
  scopes: string,
  trail: string,
  log: Log,
  exporter: AuditExport | undefined,
  sinks: readonly CheckpointSinkKind[],
  ctx: ExtensionContext,
): Checkpoints | undefined {
  const fleetFile = join(scopes, 'fleet.yaml');
  const keyFile = process.env.FLEET_CHECKPOINT_KEY;
  let config;
  try {
    config = readCheckpointsConfig(fleetFile, sinks);
  } catch (e) {
    throw new StartupError(`checkpoints: ${(e as Error).message}`);
  }
  if (!keyFile) {
    if (!config || !isProduction(manifest)) return undefined;
    // said once the trail is written to, so that a start-up failure stays one line
    let said = false;
    return {
      record: () => {
        if (said) return;
        said = true;
        log.warn(
          `no FLEET_CHECKPOINT_KEY: the trail of ${manifest.id} gets no signed checkpoints, so a cut tail or a rewritten trail cannot be proven (${fleetFile}: checkpoints)`,
        );
      },
      close: () => {},
    };
  }
  if (!config)
    throw new StartupError(
      `FLEET_CHECKPOINT_KEY is set but ${fleetFile} names no checkpoints key; add a checkpoints: block (fleet audit keygen prints one)`,
    );
  // judged where the paths really lead: a key or checkpoint file reached through a link into the
  // trail's folder is in it
  const trailDir = realDir(dirname(trail));
  const inside = (p: string) => {
    const d = realFileDir(p);
    return d === trailDir || d.startsWith(`${trailDir}/`);
  };
  if (inside(keyFile))
    throw new StartupError(
      `the checkpoint signing key ${keyFile} is in the audit trail's folder ${trailDir}; keep it where the instance's trail is not (another user's file, a secret mount)`,
    );
  let privateKey;
  try {
    privateKey = loadPrivateKey(readFileSync(keyFile, 'utf8'));
  } catch (e) {
    throw new StartupError(
      `cannot read the checkpoint signing key ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (rawPublicKey(privateKey) !== config.key.public) {
    throw new StartupError(
      `the checkpoint signing key ${keyFile} does not match the public key ${config.key.name} in ${fleetFile}; run fleet audit keygen <new key file> --scopes ${scopes} to make a pair and write its public half there`,
    );
  }
  const out = process.env.FLEET_CHECKPOINT_FILE;
  const posted = sinks
    .filter((kind) => config[kind.name] !== undefined)
    .map((kind) => ({ kind, sink: kind.open(ctx, config[kind.name]) }));
  if (!out && !exporter && !posted.length) {
    const add = sinks.map((k) => `checkpoints.${k.name}`).join(' or ');
    throw new StartupError(
      `FLEET_CHECKPOINT_KEY is set but checkpoints go nowhere: set FLEET_CHECKPOINT_FILE (outside the trail's folder)${add ? ', ' : ' or '}name an OTLP collector (OTEL_EXPORTER_OTLP_ENDPOINT)${add ? ` or add ${add} to ${fleetFile}` : ''}`,
    );
  }
  if (out && inside(out))
    throw new StartupError(
      `the checkpoint file ${out} is in the audit trail's folder ${trailDir}; checkpoints go where the instance cannot rewrite them`,
    );
  const checkpointer = new Checkpointer({
    instance: manifest.id,
    key: { name: config.key.name, privateKey },
    sinks: [...(out ? [fileSink(out)] : []), ...(exporter ? [exporter] : []), ...posted.map((p) => p.sink)],
    every: config.every,
    intervalMs: parseDuration(config.interval)!,
    onError: (m) => log.error(m),
  });
  return {
    record: (h, now) => checkpointer.record(h, now),
    close: () => checkpointer.close(),
    ...(posted.length ? { posted } : {}),
  };
}

/** Another instance's signed checkpoints, where this machine keeps them: its trail must reach and agree with each. */
export function anchorsOf(
  scopes: string,
  sinks: readonly CheckpointSinkKind[],
): (id: string) => Map<number, string> | undefined {
  return (id) => {
    const file = process.env.FLEET_CHECKPOINT_FILE;
    if (!file || !existsSync(file)) return undefined;
    const a = readAnchors(file, id, join(scopes, 'fleet.yaml'), sinks);
    if (a.problem) throw new Error(a.problem);
    return a.anchors;
  };
}

/** The real folder of a file: its links followed (the file's own too, when it exists). */
function realFileDir(file: string): string {
  try {
    return dirname(realpathSync(file));
  } catch {
    return realDir(dirname(resolve(file)));
  }
}

function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}
