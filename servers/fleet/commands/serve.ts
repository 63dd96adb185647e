// `fleet serve`: one process, one instance, over stdio. The manifest is read before anything is
// served; right after, the credential is resolved (the sandbox started) and the token's identity is
// checked in a short-lived child process; the upstream's SDK loads here on the first call, which
// waits for it (a production instance on a real upstream checks in process, before it answers). A
// failed identity check ends the process with one line and exit 1.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StartupError } from '../../../shared/base/errors.js';
import { stderrLog } from '../../../shared/base/log.js';
import { BadIdentifier, client as clientName } from '../../../shared/base/identity.js';
import type { ClientPrincipal } from '../../../shared/call/attribution.js';
import { Redactor } from '../../../shared/base/redaction.js';
import { isProduction } from '../../../shared/connector/scopes.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import { buildServer } from '../../../shared/transport/server.js';
import { guardStdin, MAX_LINE } from '../../../shared/transport/stdio-guard.js';
import { composeInstance } from '../compose/instance.js';
import { manifestFor, type ServeOptions } from '../compose/options.js';
import { connectUpstream, type Reach } from '../compose/upstream.js';
import { CONNECTORS } from '../connectors.js';
import { VERSION } from '../version.js';
import { traceStart } from '../trace.js';

const OPEN_FALLBACK_MS = 300;
/**
 * A production instance on a real upstream opens it (credential, identity check) as soon as it
 * starts and answers nothing until that check is done, up to this long: a failed check ends the
 * process (exit 1) before `initialize` is answered, so a client shows the server as failed, not as
 * connected. A check still running then is waited for by tools/list (up to as long again), whose
 * answer is its failure.
 */
const PROD_LIST_WAIT_MS = 1000;

export async function serve(opts: ServeOptions): Promise<void> {
  const principal = stdioPrincipal(process.env);
  const { inst, openNow: open, close } = await composeInstance(opts);
  const log = inst.log;
  let onListed!: () => void;
  const listed = new Promise<void>((resolve) => (onListed = resolve));
  // On a sandbox the token is minted for the manifest, so there is no credential to find wrong.
  const checkFirst = isProduction(inst.manifest) && !opts.sandbox;
  const beforeList = checkFirst
    ? () =>
        checked(
          inst.upstream(),
          PROD_LIST_WAIT_MS,
          (e) => `${inst.manifest.id} cannot serve: ${inst.redactor.scrub(e.message)}`,
        )
    : undefined;
  const server = buildServer(inst, VERSION, { onListed, beforeList, principal });
  // stdin goes through the wire guard: oversized, non-UTF-8, non-JSON and pre-initialize lines get a
  // JSON-RPC error and the server keeps reading (the SDK's transport would stop or stay silent).
  const transport: StdioServerTransport = new StdioServerTransport(
    guardStdin(process.stdin, (e) => void transport.send(e as never)),
    process.stdout,
    { maxBufferSize: 2 * MAX_LINE },
  );
  let stopping = false;
  const shutdown = async (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    // calls still in flight (an approval waiting) are withdrawn: they take back their requests and
    // write their records before the process ends
    await server.withdrawAll(5000);
    await close(why);
    process.exit(code);
  };
  transport.onclose = () => void shutdown(0, 'exit');
  process.stdin.on('end', () => void shutdown(0, 'exit'));
  process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => void shutdown(0, 'SIGINT'));
  // A dev instance opens its upstream (its SDK, the sandbox, the identity check) once tools/list
  // has been answered, so loading it never delays the first answers; or on the first call; or
  // after a short while with no client traffic, so a bad credential still ends the process
  // promptly.
  // Otherwise the identity check runs in a child process that exits once it has answered: the
  // upstream's SDK and fetch (together 10–40 MB resident, for good: V8 does not give code back) load
  // into this process only on the first call, so an instance that sits idle stays small.
  const openNow = () =>
    open(
      (e) => {
        log.error(`cannot start: ${e.message}`);
        setImmediate(() => void shutdown(1, 'start failed'));
      },
      { inChild: !checkFirst },
    );
  if (checkFirst) {
    // A production instance on a real upstream checks its credential and identity before it answers
    // anything (up to PROD_LIST_WAIT_MS; the client's first messages wait in stdin): a failed check
    // ends the process before `initialize` is answered, so a client marks the server failed, not
    // connected. A slower check goes on in the background and tools/list waits for it.
    openNow();
    if (
      await checked(inst.upstream(), PROD_LIST_WAIT_MS, (e) => e.message).then(
        () => false,
        () => true,
      )
    )
      return;
  }
  await server.connect(transport);
  listed.then(() => {
    traceStart('tools/list answered');
    setImmediate(openNow);
  });
  setTimeout(openNow, OPEN_FALLBACK_MS).unref();
}

/** Waits for `p` up to `ms`: its failure is thrown (worded by `say`), a slow success is not awaited. */
function checked(p: Promise<unknown>, ms: number, say: (e: Error) => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([p.then(() => undefined), slow])
    .catch((e: Error) => {
      throw new Error(say(e));
    })
    .finally(() => clearTimeout(timer));
}

/** The child's side of checkInChild: reads the credential from stdin, checks, answers on stdout. */
export async function checkUpstreamCmd(opts: ServeOptions): Promise<number> {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const r = JSON.parse(input) as Reach;
  const connector = CONNECTORS[opts.connector];
  if (!connector) throw new StartupError(`unknown connector "${opts.connector}"`);
  const manifest = loadManifest(manifestFor(opts), CONNECTORS);
  const redactor = new Redactor();
  redactor.add(r.credential);
  const log = stderrLog(manifest.id, redactor);
  let answer: { ok: true } | { error: string };
  try {
    await connectUpstream(connector, manifest, r, log.warn);
    answer = { ok: true };
  } catch (e) {
    answer = { error: redactor.scrub((e as Error).message) };
  }
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(answer)}\n`, () => resolve()));
  return 0;
}

/** The stdio client principal: FLEET_CLIENT names the routine this process serves. */
export function stdioPrincipal(env: NodeJS.ProcessEnv): ClientPrincipal {
  if (!env.FLEET_CLIENT) return { id: 'local', via: 'stdio-default' };
  try {
    return { id: clientName(env.FLEET_CLIENT, 'FLEET_CLIENT'), via: 'stdio-env' };
  } catch (e) {
    if (e instanceof BadIdentifier) throw new StartupError(e.message);
    throw e;
  }
}
