// The entry of the V8 start-up snapshot (dist/snapshot.blob), built at install by build.mjs.
// Everything `serve` needs before its first answer — zod, the MCP SDK, yaml, commander, every
// tool definition — is evaluated here, at build time, and then exercised once (manifest schemas
// built, tool schemas rendered, a real in-memory MCP session) so that zod's compiled parsers and
// the rendered tool list are in the snapshot too. A start then pays only for deserialising it.
// Upstream SDKs and sandboxes stay unevaluated until an instance first needs them.
// build.mjs takes one snapshot warmed for every connector (dist/snapshot.blob: `serve --http`, the other
// commands) and one per connector, warmed for that connector alone (dist/snapshot-<connector>.blob,
// what dist/fleet starts `serve <connector>` from): a connector's warm-up (its schemas compiled,
// its tool list rendered) is only worth its deserialising and its resident memory to that connector.
// Every snapshot holds all the code; one warmed for another connector is only slower to serve from.
import { randomInt, randomUUID } from 'node:crypto';
import v8 from 'node:v8';
import { basename, join } from 'node:path';
import { runningFrom } from '../../shared/base/install.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { loadManifest } from '../../shared/manifest/load.js';
import { manifestSchema } from '../../shared/manifest/schema.js';
import { surface } from '../../shared/transport/surface.js';
import { buildServer } from '../../shared/transport/server.js';
import { grantedTools, type Instance } from '../../shared/instance/instance.js';
import { CONNECTORS } from './connectors.js';
import { main } from './main.js';
import { traceStart } from './trace.js';
import { manifestFiles, serveFindings } from '../../shared/review/verify.js';
import { loadPeople } from '../../shared/manifest/people.js';
import { readStoreConfig } from '../../shared/state/config.js';
import { readCheckpointsConfig } from '../../shared/audit/checkpoint.js';
import { fleetExtensions } from './compose/extensions.js';
import { readApprovalsConfig } from '../slack/approvals.js';
import './commands/serve.js';

/** The connector this snapshot is warmed for (`--build-snapshot snapshot.cjs <connector>`); every one when none. */
const WARMED = process.argv[2];

async function warm(): Promise<void> {
  // the one warmed for all tells build.mjs which connectors to take one for
  if (!WARMED) process.stdout.write(`${JSON.stringify(Object.keys(CONNECTORS))}\n`);
  if (WARMED && !CONNECTORS[WARMED]) throw new Error(`no connector ${WARMED} to warm a snapshot for`);
  for (const c of WARMED ? [CONNECTORS[WARMED]!] : Object.values(CONNECTORS)) {
    manifestSchema(c, CONNECTORS);
    surface(c.tools);
  }
  let files: string[] = [];
  try {
    files = manifestFiles('scopes');
  } catch {
    /* built outside the repository: nothing to warm with */
  }
  if (files.length) readApprovalsConfig('scopes');
  if (files.length) {
    // what `serve` reads of fleet.yaml before it answers, parsed and checked once here (by content)
    loadPeople('scopes');
    readStoreConfig('scopes');
    readCheckpointsConfig(join('scopes', 'fleet.yaml'), fleetExtensions().checkpointSinks);
  }
  // scopes/<connector>.<env>.yaml: a file named for another connector is not read into this one
  for (const file of files.filter((f) => !WARMED || basename(f).startsWith(`${WARMED}.`))) {
    const manifest = loadManifest(file, CONNECTORS);
    serveFindings(manifest, CONNECTORS, join('scopes', 'fleet.yaml'));
    const connector = CONNECTORS[manifest.connector]!;
    const inst = { connector, manifest, tools: grantedTools(connector, manifest) } as Instance;
    const server = buildServer(inst, 'snapshot');
    const [a, b] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: 'snapshot', version: '0' });
    await server.connect(a);
    await client.connect(b);
    await client.listTools();
    await client.close();
    await server.close();
  }
}

// The snapshot is taken once this script and its event loop are done, so the warm-up completes first.
warm().catch((e: Error) => process.stderr.write(`snapshot warm-up skipped: ${e.message}\n`));

/**
 * Node caches random data for randomUUID (128 UUIDs) and randomInt (1,024 draws); a cache filled while
 * the snapshot was built (a module-level randomUUID() is enough) is in the snapshot, so every start
 * would draw the same call ids, task ids and owner ids. Drawing a whole cache's worth refills each
 * from this process's entropy before anything else draws. (Math.random is reseeded by V8 itself.)
 */
function freshEntropy(): void {
  for (let i = 0; i < 128; i++) randomUUID();
  for (let i = 0; i < 1024; i++) randomInt(2);
}

v8.startupSnapshot.setDeserializeMainFunction(() => {
  freshEntropy();
  // a snapshot starts only with --snapshot-blob <file> (dist/fleet passes it)
  traceStart(
    `started from the snapshot (${basename(process.execArgv[process.execArgv.indexOf('--snapshot-blob') + 1]!)})`,
  );
  // The launcher names its folder; the bundle beside it is what a child fleet process runs.
  if (process.env.FLEET_DIST) runningFrom(join(process.env.FLEET_DIST, 'cli.js'));
  // A snapshot start has no script path in argv; commander expects [node, script, ...args].
  void main([process.argv[0]!, 'fleet', ...process.argv.slice(1)]);
});
