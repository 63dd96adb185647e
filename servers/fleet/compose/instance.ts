// The composition root: one instance, ready to serve, put together from the factories beside this
// file (upstream and credentials, identity check, the connectors' extensions: approval channels,
// actor provers, checkpoint sinks; the store, shutdown). `fleet serve` and `fleet serve --http` parse their flags and call `composeInstance`.
import { join } from 'node:path';
import { openOtlpExport, otlpConfigured } from '../../../shared/audit/export.js';
import { OwedFile } from '../../../shared/audit/owed.js';
import { StartupError } from '../../../shared/base/errors.js';
import { fleetDir } from '../../../shared/base/install.js';
import { stderrLog } from '../../../shared/base/log.js';
import { watchWithdrawn, type LateWatch } from '../../../shared/call/late.js';
import { Redactor } from '../../../shared/base/redaction.js';
import { grantedTools, type Instance } from '../../../shared/instance/instance.js';
import type { InboundEndpoint } from '../../../shared/connector/extensions.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import { ManifestError } from '../../../shared/base/yaml.js';
import { loadPeople, strangers } from '../../../shared/manifest/people.js';
import { enforceFleetRules } from './fleet-rules.js';
import { embeddedPaths, readStoreConfig } from '../../../shared/state/config.js';
import type { StateStore } from '../../../shared/state/store.js';
import { CONNECTORS } from '../connectors.js';
import { VERSION } from '../version.js';
import { anchorsOf, openCheckpoints } from './checkpoints.js';
import { credentialResolver } from './credentials.js';
import {
  actorProver,
  approvalChannels,
  approvalPollMs,
  extensionContext,
  fleetExtensions,
  inboundEndpoints,
} from './extensions.js';
import { manifestFor, type ServeOptions } from './options.js';
import { shutdownOf } from './shutdown.js';
import { servingStore } from './store.js';
import { linkUpstream } from './upstream.js';

export type { ServeOptions } from './options.js';

/** One instance, ready to serve: its upstream opens on `openNow` (or on the first call). */
export interface Running {
  inst: Instance;
  /**
   * opens the upstream now; a failure (identity check, credential) is handed to `fail`. With
   * `inChild`, the identity check runs in a short-lived child process instead, so the upstream's SDK
   * (and fetch) load into this one only on the first call.
   */
  openNow(fail: (e: Error) => void, how?: { inChild?: boolean }): void;
  /** revokes a minted token, closes the sandboxes, the checkpoints, the export and the trail */
  close(why: string): Promise<void>;
  /** what `fleet serve --http` serves beside the instance for its approval channels (Slack's callbacks) */
  inbound: InboundEndpoint[];
}

/** The instance's trail file: FLEET_AUDIT_DIR, else the project's .fleet/audit (beside its scopes folder). */
export function trailFile(id: string, scopes: string, env: NodeJS.ProcessEnv = process.env): string {
  return embeddedPaths(id, scopes, env).audit;
}

export async function composeInstance(opts: ServeOptions): Promise<Running> {
  const connector = CONNECTORS[opts.connector];
  if (!connector)
    throw new StartupError(`unknown connector "${opts.connector}" (known: ${Object.keys(CONNECTORS).join(', ')})`);
  const manifest = loadManifest(manifestFor(opts), CONNECTORS);
  // every person the manifest names is someone the fleet knows, as verify demands
  const directory = loadPeople(opts.scopes);
  const strange = strangers(manifest, directory.people, directory.file);
  if (strange.length) throw new ManifestError(strange);
  const storeConfig = readStoreConfig(opts.scopes);
  const redactor = new Redactor();
  const log = stderrLog(manifest.id, redactor);
  enforceFleetRules(manifest, opts.scopes, log);
  const resolve = credentialResolver(opts.scopes, () => manifest);
  // the instance's store (the trail among it), opened on first use: no database nor its driver is
  // touched before the first call
  let store: StateStore | undefined;
  const link = linkUpstream({ connector, manifest, opts, resolve, redactor, log, store: () => store! });

  const trail = trailFile(manifest.id, opts.scopes);
  // what the collector misses is owed (kept in the state folder) and re-sent from the trail
  const resend = {
    owed: new OwedFile(join(fleetDir('state', opts.scopes), `${manifest.id}.otlp-owed.json`)),
    lines: () => store!.audit.lines(),
  };
  const exporter = otlpConfigured(process.env)
    ? await openOtlpExport(manifest.id, process.env, log.warn, { version: VERSION }, resend)
    : undefined;
  const upstream = () => link.upstream();
  const ext = fleetExtensions();
  const extensions = extensionContext({ manifest, opts, redactor, log, resolve, upstream, store: () => store });
  const checkpoints = openCheckpoints(manifest, opts.scopes, trail, log, exporter, ext.checkpointSinks, extensions.ctx);
  const channels = approvalChannels(extensions.ctx, ext);
  store = servingStore(storeConfig, opts.scopes, manifest.id, resolve, redactor, {
    onBroken: (why) => log.error(why),
    // after the record is stored: the export first, then a checkpoint that may follow it
    onRecord: (r, head, line) => {
      exporter?.record(r, head, line);
      // evidence another instance will rely on (a promotion's) is signed at once
      checkpoints?.record(head, r.phase === 'outcome' && !!r.evidence);
    },
  });
  const inst: Instance = {
    connector,
    manifest,
    tools: grantedTools(connector, manifest),
    upstream,
    audit: store.audit,
    store,
    trailFileOf: (id) => trailFile(id, opts.scopes),
    anchorsOf: anchorsOf(opts.scopes, ext.checkpointSinks),
    redactor,
    log,
    env: process.env,
    keys: store.keys,
    stateDir: fleetDir('state', opts.scopes),
    revokeCredential: (reason) => link.revoke(reason),
    ...(channels ? { approvalChannels: channels } : {}),
    people: directory.people,
  };
  const prover = actorProver(extensions.ctx, ext);
  if (prover) inst.prover = prover;
  let late: LateWatch | undefined;
  return {
    inst,
    openNow(fail, how) {
      link.openNow(fail, how);
      // answers to this instance's withdrawn approval requests, whoever withdrew them (shared/call/late.ts)
      if (channels && !late) late = watchWithdrawn(inst, approvalPollMs());
    },
    close: shutdownOf({ manifest, log, link, late: () => late, checkpoints, extensions, exporter, store }),
    inbound: inboundEndpoints(extensions.ctx, ext),
  };
}
