// `fleet serve`: one process, one instance, over stdio. The manifest is read before anything is
// served; right after, the credential is resolved (the sandbox started) and the token's identity is
// checked in a short-lived child process; the upstream's SDK loads here on the first call, which
// waits for it (a production instance on a real upstream checks in process, before it answers). A
// failed identity check ends the process with one line and exit 1.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Checkpointer, fileSink, loadPrivateKey, rawPublicKey, readCheckpointsConfig } from '../../../shared/audit/checkpoint.js';
import { parseDuration } from '../../../shared/base/duration.js';
import { openOtlpExport, otlpConfigured, type AuditExport } from '../../../shared/audit/export.js';
import type { Log } from '../../../shared/base/log.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { resolveCredential } from '../../../shared/connector/credentials.js';
import { StartupError } from '../../../shared/base/errors.js';
import { grantedTools, type Instance } from '../../../shared/connector/instance.js';
import { stderrLog } from '../../../shared/base/log.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import { Redactor } from '../../../shared/call/redaction.js';
import { checkHeld, isProduction } from '../../../shared/connector/scopes.js';
import { bundleFile, fleetDir } from '../../../shared/base/install.js';
import { embeddedPaths, readStoreConfig } from '../../../shared/state/config.js';
import { openState } from '../../../shared/state/open.js';
import { activeSuspension, SUSPENSION_CACHE_MS } from '../../../shared/state/suspension.js';
import { guardStdin, MAX_LINE } from '../../../shared/transport/stdio-guard.js';
import type { ApprovalChannel } from '../../../shared/call/approval.js';
import type { Manifest } from '../../../shared/manifest/schema.js';
import { openSlackApprovals, readApprovalsConfig, SANDBOX_APPROVALS_BOT, type SlackApprovalsConfig } from '../../slack/approvals.js';
import { watchWithdrawn, type LateWatch } from '../../../shared/call/late.js';
import { buildServer } from '../../../shared/transport/server.js';
import { attributionRule } from '../../../shared/manifest/attribution.js';
import { BadIdentifier, client as clientName } from '../../../shared/call/identity.js';
import type { ClientPrincipal } from '../../../shared/call/attribution.js';
import type { MessageReader } from '../../../shared/call/proof.js';
import type { WebClient } from '@slack/web-api';
import { slackReader } from '../../slack/reader.js';
import { slackCheckpointSink, type SlackCheckpointSink } from '../../slack/checkpoints.js';
import type { Connector, MintedToken, Sandbox, Upstream } from '../../../shared/connector/tool.js';
import { MintedCredential, tokenPrefix } from '../../../shared/connector/minting.js';
import { RotatingCredential } from '../../../shared/connector/rotation.js';
import { CONNECTORS } from '../connectors.js';
import { readAnchors } from './audit.js';
import { VERSION } from '../version.js';

const OPEN_FALLBACK_MS = 300;
const REVOKE_WAIT_MS = 5000;
/**
 * A production instance on a real upstream opens it (credential, identity check) as soon as it
 * starts and answers nothing until that check is done, up to this long: a failed check ends the
 * process (exit 1) before `initialize` is answered, so a client shows the server as failed, not as
 * connected. A check still running then is waited for by tools/list (up to as long again), whose
 * answer is its failure.
 */
const PROD_LIST_WAIT_MS = 1000;
const POST_WAIT_MS = 1000;

export interface ServeOptions {
  connector: string;
  env: string;
  scopes: string;
  sandbox?: boolean;
  /** base URL of the upstream API (e.g. a sandbox started elsewhere) */
  upstream?: string;
}

/** The instance's trail: FLEET_AUDIT_DIR, else the project's .fleet/audit (beside its scopes folder). */
export function auditFile(id: string, scopes: string, env: NodeJS.ProcessEnv = process.env): string {
  return embeddedPaths(id, scopes, env).audit;
}

/** The instance's manifest file; when it is missing, which environments the connector does have. */
function manifestFor(opts: ServeOptions): string {
  const file = join(opts.scopes, `${opts.connector}.${opts.env}.yaml`);
  if (existsSync(file)) return file;
  if (!existsSync(opts.scopes)) {
    throw new StartupError(`no scopes folder at ${resolve(opts.scopes)}: run fleet in your project (where scopes/ is, or below it) or pass --scopes DIR`);
  }
  const envs = readdirSync(opts.scopes)
    .map((f) => new RegExp(`^${opts.connector}\\.([a-z][a-z0-9-]*)\\.yaml$`).exec(f)?.[1])
    .filter((e): e is string => !!e)
    .sort();
  throw new StartupError(
    `no manifest ${file} for ${opts.connector} --env ${opts.env}; ` +
      (envs.length ? `${opts.connector} has: ${envs.map((e) => `--env ${e}`).join(', ')}` : `${opts.scopes} holds no ${opts.connector} manifest`),
  );
}

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
}

export async function instanceFor(opts: ServeOptions): Promise<Running> {
  const connector = CONNECTORS[opts.connector];
  if (!connector) throw new StartupError(`unknown connector "${opts.connector}" (known: ${Object.keys(CONNECTORS).join(', ')})`);
  const manifest = loadManifest(manifestFor(opts), CONNECTORS);
  const storeConfig = readStoreConfig(opts.scopes);
  const redactor = new Redactor();
  const log = stderrLog(manifest.id, redactor);
  let sandbox: Sandbox | undefined;
  let minting: MintedCredential | undefined;
  let rotating: RotatingCredential | undefined;
  // where a failure after start (a renewed token refused) goes: set by openNow
  let fatal: (e: Error) => void = (e) => log.error(e.message);
  const resolve = (ref: string) =>
    resolveCredential(ref, process.env, {
      // loaded only when a manifest names a doppler: reference
      doppler: async (r) => (await import('../../doppler/resolver.js')).resolveDoppler(r, { env: process.env, manifest, scopes: opts.scopes, timeoutMs: manifest.timeoutMs, connectors: CONNECTORS }),
    });

  /** What the token may do, as the upstream reports it, against the manifest: production refuses an unknown or over-scoped token. */
  const check = (up: Upstream<unknown>) => judgeUpstream(connector, manifest, up, log.warn);

  // Where the upstream is and with which credential: the sandbox started, the references resolved,
  // a rotated token exchanged, a token minted. Once per process.
  let reached: Promise<Reach> | undefined;
  const reach = () => (reached ??= reachUpstream());
  const reachUpstream = async (): Promise<Reach> => {
    let credential = '';
    let baseUrl = opts.upstream;
    let rotation: { refresh_token: string; client_id: string; client_secret: string } | undefined;
    if (opts.sandbox) {
      sandbox = await connector.sandbox();
      if (manifest.rotate && sandbox.issueRotation) rotation = sandbox.issueRotation(manifest);
      else credential = manifest.mint && sandbox.issueBroker ? sandbox.issueBroker(manifest) : sandbox.issueToken(manifest);
      baseUrl = sandbox.url;
    } else if (manifest.rotate) {
      const r = manifest.rotate;
      const [refresh_token, client_id, client_secret] = await Promise.all([resolve(r.refresh_token), resolve(r.client_id), resolve(r.client_secret)]);
      rotation = { refresh_token, client_id, client_secret };
    } else {
      credential = await resolve(manifest.credential);
    }
    if (rotation) {
      // the refresh token seeds (or, once rotated, is replaced by) the chain kept in the state folder
      for (const v of Object.values(rotation)) redactor.add(v);
      const { client_id: clientId, client_secret: clientSecret } = rotation;
      rotating = new RotatingCredential({
        manifest,
        file: join(fleetDir('state', opts.scopes), `${manifest.id}.rotation.json`),
        seed: rotation.refresh_token,
        exchange: (refreshToken) => connector.rotate!({ refreshToken, clientId, clientSecret, baseUrl, timeoutMs: manifest.timeoutMs }),
        audit: inst.audit,
        redactor,
        log,
        fatal: (e) => fatal(e),
      });
      credential = await rotating.start();
    }
    redactor.add(credential);
    let minted: MintedToken | undefined;
    if (manifest.mint) {
      // `credential` is the broker: it mints this run's token and is used for nothing else.
      const prefix = tokenPrefix(manifest);
      const minter = await connector.minter!({ manifest, broker: credential, baseUrl, timeoutMs: manifest.timeoutMs, prefix, warn: log.warn });
      minting = new MintedCredential({
        manifest, minter, prefix, audit: inst.audit, redactor, log,
        // `fleet suspend` of this instance deletes the token; none is minted until it is lifted
        suspended: async () => {
          const s = await activeSuspension(state.suspensions, manifest.id, undefined);
          return s && `${s.reason} (by ${s.by})`;
        },
        pollMs: SUSPENSION_CACHE_MS,
      });
      minted = await minting.start();
      credential = minted.value;
    }
    return { credential, baseUrl, ...(minted ? { minted } : {}) };
  };
  // set once a child process has checked the upstream at start: what it warned is not said twice
  let checkedInChild = false;
  const open = async (): Promise<Upstream<unknown>> => {
    const r = await reach();
    const up = await connectUpstream(connector, manifest, r, checkedInChild ? () => {} : log.warn);
    if (minting) minting.rebind = up.rebind;
    if (rotating) {
      // A renewed token is checked like the first (who it is, what it holds) before calls use it.
      rotating.accept = async (access) => {
        check(await connector.open({ manifest, credential: access, baseUrl: r.baseUrl, timeoutMs: manifest.timeoutMs, warn: log.warn }));
        up.rebind!(access);
      };
    }
    return up;
  };

  const trail = auditFile(manifest.id, opts.scopes);
  const exporter = otlpConfigured(process.env) ? await openOtlpExport(manifest.id, process.env, log.warn) : undefined;
  let approvalsSandbox: { close(): Promise<void> } | undefined;
  const slack = approvalsSlack(manifest, opts, redactor, (sb) => (approvalsSandbox = sb));
  const checkpointer = openCheckpoints(manifest, opts.scopes, trail, log, exporter, slack);

  let opened: Promise<Upstream<unknown>> | undefined;
  // the start-up identity check under way in a child process, if any
  let childCheck: Promise<void> | undefined;
  // a minted token deleted by a suspension that has since been lifted is minted again first
  const upstream = async () => {
    // no call reaches the upstream before the start-up check has judged the token
    await childCheck;
    const up = await (opened ??= open());
    await minting?.ready();
    return up;
  };
  const slackApprovals = slackApprovalsFor(manifest, opts, slack, log);
  // the instance's state (the trail among it), opened on first use: no database nor its driver is
  // touched before the first call
  const state = openState(storeConfig, manifest.id, opts.scopes, process.env, (ref) => resolveStoreCredential(ref, manifest, opts, redactor), {
    onBroken: (why) => log.error(why),
    // after the record is stored: the export first, then a checkpoint that may follow it
    onRecord: (r, head, line) => {
      exporter?.record(r, head, line);
      checkpointer?.record(head);
    },
  });
  const inst: Instance = {
    connector,
    manifest,
    tools: grantedTools(connector, manifest),
    upstream,
    audit: state.audit,
    state,
    auditOf: (id) => auditFile(id, opts.scopes),
    // the other instance's signed checkpoints, where this machine keeps them: its trail must reach and agree with each
    anchorsOf: (id) => {
      const file = process.env.FLEET_CHECKPOINT_FILE;
      if (!file || !existsSync(file)) return undefined;
      const a = readAnchors(file, id, join(opts.scopes, 'fleet.yaml'));
      if (a.problem) throw new Error(a.problem);
      return a.anchors;
    },
    redactor,
    log,
    env: process.env,
    keys: state.keys,
    stateDir: fleetDir('state', opts.scopes),
    revokeCredential: async (reason) => {
      await opened?.catch(() => {});
      await minting?.stop(reason);
    },
    slackApprovals,
    messages: messageReaderFor(manifest, opts, upstream, slack),
  };
  let opening = false;
  let late: LateWatch | undefined;
  let checking: ChildProcess | undefined;
  return {
    inst,
    openNow(fail, how) {
      fatal = fail;
      if (opening) return;
      opening = true;
      // a minted or rotated token is made here, with the SDK (and a rotation's refresh token may be
      // used once): its check stays in this process
      // opening (and its identity check) only: a suspension holding a minted token is not a start-up failure
      // a call that came first has opened the upstream here, with its check: no child needed
      if (!how?.inChild || manifest.mint || manifest.rotate || opened) (opened ??= open()).catch(fail);
      else {
        childCheck = reach()
          .then((r) => checkInChild(opts, r, manifest.timeoutMs, (c) => (checking = c)))
          .then(() => void (checkedInChild = true));
        childCheck.catch(fail);
      }
      // answers to this instance's withdrawn approval requests, whoever withdrew them (shared/call/late.ts)
      if (slackApprovals) late = watchWithdrawn(inst, approvalPollMs());
    },
    async close(why) {
      checking?.kill();
      rotating?.stop();
      await late?.stop();
      // A minted token dies with the process (bounded: a hung upstream must not keep it alive).
      if (minting) await Promise.race([minting.stop(why).catch(() => {}), new Promise((r) => setTimeout(r, REVOKE_WAIT_MS).unref())]);
      await sandbox?.close().catch(() => {});
      checkpointer?.close();
      const posted = checkpointer?.posted;
      if (posted) {
        // the last checkpoint is posted before the approvals connection goes; the wait is short, as
        // a client ending the process gives it a few seconds (the MCP SDK: 2 s, then SIGTERM)
        await posted.flush(POST_WAIT_MS);
        if (posted.failed || posted.dropped) {
          log.warn(`audit checkpoints: ${posted.failed + posted.dropped} of ${posted.posted + posted.failed + posted.dropped} never reached the approvals channel (${posted.failed} refused or unanswered, ${posted.dropped} dropped)`);
          await inst.audit.append({ v: 1, time: new Date().toISOString(), instance: manifest.id, phase: 'checkpoints', to: 'slack', posted: posted.posted, failed: posted.failed, dropped: posted.dropped }).catch(() => {});
        }
      }
      await approvalsSandbox?.close().catch(() => {});
      if (exporter) {
        await exporter.shutdown();
        // what the export lost is itself on the record, where the trail stays the source of truth
        if (exporter.dropped) {
          log.warn(`audit export: ${exporter.dropped} record(s) never reached the OTLP collector (${exporter.exported} did)`);
          await inst.audit.append({ v: 1, time: new Date().toISOString(), instance: manifest.id, phase: 'export', dropped: exporter.dropped, exported: exporter.exported }).catch(() => {});
        }
      }
      await state.close().catch(() => {});
    },
  };
}

export async function serve(opts: ServeOptions): Promise<void> {
  const principal = stdioPrincipal(process.env);
  const { inst, openNow: open, close } = await instanceFor(opts);
  const log = inst.log;
  let onListed!: () => void;
  const listed = new Promise<void>((resolve) => (onListed = resolve));
  // On a sandbox the token is minted for the manifest, so there is no credential to find wrong.
  const checkFirst = isProduction(inst.manifest) && !opts.sandbox;
  const beforeList = checkFirst ? () => checked(inst.upstream(), PROD_LIST_WAIT_MS, (e) => `${inst.manifest.id} cannot serve: ${inst.redactor.scrub(e.message)}`) : undefined;
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
    if (await checked(inst.upstream(), PROD_LIST_WAIT_MS, (e) => e.message).then(() => false, () => true)) return;
  }
  await server.connect(transport);
  listed.then(() => setImmediate(openNow));
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

/** Where an instance's upstream is, and the credential its client uses (a minted token, when it mints). */
export interface Reach {
  credential: string;
  baseUrl?: string;
  minted?: MintedToken;
}

/**
 * Opens the upstream through the connector (its SDK and identity check) and judges what the token
 * holds: a production instance refuses a token whose permissions cannot be checked or that holds
 * more than the manifest declares; a development one warns.
 */
export async function connectUpstream(connector: Connector, manifest: Manifest, r: Reach, warn: (m: string) => void): Promise<Upstream<unknown>> {
  const up = await connector.open({ manifest, credential: r.credential, baseUrl: r.baseUrl, timeoutMs: manifest.timeoutMs, warn, ...(r.minted ? { minted: { permissions: r.minted.permissions } } : {}) });
  judgeUpstream(connector, manifest, up, warn);
  return up;
}

/** What the token may do, as the upstream reports it, against the manifest (see connectUpstream). */
export function judgeUpstream(connector: Connector, manifest: Manifest, up: Upstream<unknown>, warn: (m: string) => void): void {
  if (up.unchecked) {
    // What the token may do is unknown: it may hold anything. Production needs to know.
    if (isProduction(manifest)) {
      throw new StartupError(`${up.unchecked}; refusing to start a production instance whose token's permissions cannot be checked (${manifest.file}:${manifest.line('upstream')})`);
    }
    warn(up.unchecked);
  }
  if (up.held) {
    const { excess, missing } = checkHeld(connector, manifest, up.held);
    if (excess.length) {
      const msg = `the token holds ${excess.join(', ')} beyond the manifest's declared permissions (${manifest.file}:${manifest.line('upstream')})`;
      if (isProduction(manifest)) throw new StartupError(`${msg}; refusing to start a production instance with an over-scoped token`);
      warn(msg);
    }
    if (missing.length) warn(`the token lacks ${missing.join(', ')}, which granted tools need; those calls will fail`);
  }
}

/** The hidden flag that makes `fleet serve` the start-up check's child instead of a server. */
export const CHECK_FLAG = '--check-upstream';

/**
 * Runs the start-up identity check (connectUpstream) in a child `fleet` process, which is handed the
 * credential on its stdin (never in argv or the environment) and answers one JSON line on its
 * stdout; its warnings go to this process's stderr. Resolves when the check passed.
 */
export function checkInChild(opts: ServeOptions, r: Reach, timeoutMs: number, started: (c: ChildProcess) => void): Promise<void> {
  const bundle = bundleFile();
  const launcher = join(dirname(bundle), 'fleet');
  const args = ['serve', opts.connector, '--env', opts.env, '--scopes', opts.scopes, CHECK_FLAG];
  const child = existsSync(launcher) ? spawn(launcher, args, { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(process.execPath, [bundle, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  started(child);
  return new Promise((resolve, reject) => {
    let out = '';
    // the child's own start (a loaded machine) comes on top of the upstream's timeout
    const timer = setTimeout(() => child.kill(), timeoutMs + 30_000);
    child.stdout!.on('data', (d) => (out += d));
    child.on('error', (e) => reject(new StartupError(`cannot run the upstream check: ${e.message}`)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let answer: { ok?: boolean; error?: string } | undefined;
      try {
        answer = JSON.parse(out);
      } catch {
        /* no answer: said below */
      }
      if (answer?.ok) resolve();
      else reject(new StartupError(answer?.error ?? `the upstream check ended without an answer (${signal ?? `exit ${code}`})`));
    });
    child.stdin!.on('error', () => {}); // a child that died early: its close says why
    child.stdin!.end(JSON.stringify(r));
  });
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

/** The state database's URL, from its credential reference; registered with the redactor at once. */
async function resolveStoreCredential(ref: string, manifest: Manifest, opts: ServeOptions, redactor: Redactor): Promise<string> {
  const value = await resolveCredential(ref, process.env, {
    doppler: async (r) => (await import('../../doppler/resolver.js')).resolveDoppler(r, { env: process.env, manifest, scopes: opts.scopes, timeoutMs: manifest.timeoutMs, connectors: CONNECTORS }),
  });
  redactor.add(value);
  const password = /^[a-z]+:\/\/[^:/@]*:([^@]+)@/i.exec(value)?.[1];
  if (password) redactor.add(decodeURIComponent(password));
  return value;
}

/**
 * Signed checkpoints of the trail, when the environment names a signing key (FLEET_CHECKPOINT_KEY,
 * a PKCS#8 PEM file) and where to put them (FLEET_CHECKPOINT_FILE). The key must match the public
 * key in fleet.yaml, and neither it nor the checkpoint file may sit in the trail's folder: whoever
 * can rewrite the trail must not be able to sign for it, or rewrite what was signed.
 */
function openCheckpoints(
  manifest: Manifest,
  scopes: string,
  trail: string,
  log: Log,
  exporter: AuditExport | undefined,
  slack: ApprovalsSlack,
): (Pick<Checkpointer, 'record' | 'close'> & { posted?: SlackCheckpointSink }) | undefined {
  const fleetFile = join(scopes, 'fleet.yaml');
  const keyFile = process.env.FLEET_CHECKPOINT_KEY;
  let config;
  try {
    config = readCheckpointsConfig(fleetFile);
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
        log.warn(`no FLEET_CHECKPOINT_KEY: the trail of ${manifest.id} gets no signed checkpoints, so a cut tail or a rewritten trail cannot be proven (${fleetFile}: checkpoints)`);
      },
      close: () => {},
    };
  }
  if (!config) throw new StartupError(`FLEET_CHECKPOINT_KEY is set but ${fleetFile} names no checkpoints key; add a checkpoints: block (fleet audit keygen prints one)`);
  const trailDir = realDir(dirname(trail));
  const inside = (p: string) => {
    const d = realDir(dirname(resolve(p)));
    return d === trailDir || d.startsWith(`${trailDir}/`);
  };
  if (inside(keyFile)) throw new StartupError(`the checkpoint signing key ${keyFile} is in the audit trail's folder ${trailDir}; keep it where the instance's trail is not (another user's file, a secret mount)`);
  let privateKey;
  try {
    privateKey = loadPrivateKey(readFileSync(keyFile, 'utf8'));
  } catch (e) {
    throw new StartupError(`cannot read the checkpoint signing key ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (rawPublicKey(privateKey) !== config.key.public) {
    throw new StartupError(`the checkpoint signing key ${keyFile} does not match the public key ${config.key.name} in ${fleetFile}; run fleet audit keygen <new key file> --scopes ${scopes} to make a pair and write its public half there`);
  }
  const out = process.env.FLEET_CHECKPOINT_FILE;
  if (config.slack) readApprovalsConfig(scopes); // posted by the approvals identity: it must be declared (file:line)
  const posted = config.slack ? slackCheckpointSink({ open: slack, timeoutMs: manifest.timeoutMs, warn: log.warn }) : undefined;
  if (!out && !exporter && !posted) {
    throw new StartupError(`FLEET_CHECKPOINT_KEY is set but checkpoints go nowhere: set FLEET_CHECKPOINT_FILE (outside the trail's folder), name an OTLP collector (OTEL_EXPORTER_OTLP_ENDPOINT) or add checkpoints.slack to ${fleetFile}`);
  }
  if (out && inside(out)) throw new StartupError(`the checkpoint file ${out} is in the audit trail's folder ${trailDir}; checkpoints go where the instance cannot rewrite them`);
  const checkpointer = new Checkpointer({
    instance: manifest.id,
    key: { name: config.key.name, privateKey },
    sinks: [...(out ? [fileSink(out)] : []), ...(exporter ? [exporter] : []), ...(posted ? [posted] : [])],
    every: config.every,
    intervalMs: parseDuration(config.interval)!,
    onError: (m) => log.error(m),
  });
  return { record: (h) => checkpointer.record(h), close: () => checkpointer.close(), ...(posted ? { posted } : {}) };
}

function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

/** The approvals identity's Slack connection (scopes/fleet.yaml `approvals.slack`), opened once, on first need. */
type ApprovalsSlack = () => Promise<{ config: SlackApprovalsConfig; credential: string; baseUrl?: string }>;

function approvalsSlack(
  manifest: Manifest,
  opts: ServeOptions,
  redactor: Redactor,
  keepSandbox: (sb: { close(): Promise<void> }) => void,
): ApprovalsSlack {
  let config: SlackApprovalsConfig | undefined;
  let opened: ReturnType<ApprovalsSlack> | undefined;
  return () =>
    (opened ??= (async () => {
      config ??= readApprovalsConfig(opts.scopes);
      let credential: string;
      let baseUrl = process.env.FLEET_APPROVALS_SLACK_URL || (manifest.connector === 'slack' ? opts.upstream : undefined);
      if (opts.sandbox) {
        const { startSlackSandbox } = await import('../../slack/sandbox/index.js');
        const sb = await startSlackSandbox();
        keepSandbox(sb);
        credential = sb.issue(config.workspace, config.token_scopes, undefined, SANDBOX_APPROVALS_BOT);
        baseUrl = sb.url;
      } else {
        credential = await resolveCredential(config.credential, process.env);
      }
      redactor.add(credential);
      return { config, credential, baseUrl };
    })());
}

/**
 * The Slack approvals identity, when a grant asks for Slack approval: its config is checked now
 * (a missing or broken fleet.yaml block stops the start), the connection opens on first need.
 */
function slackApprovalsFor(manifest: Manifest, opts: ServeOptions, slack: ApprovalsSlack, log: { warn(message: string): void }): (() => Promise<ApprovalChannel>) | undefined {
  const wanted = Object.values(manifest.tools).some((g) => (g.approval as { via?: string } | undefined)?.via === 'slack');
  if (!wanted) return undefined;
  readApprovalsConfig(opts.scopes);
  let channel: Promise<ApprovalChannel> | undefined;
  return () =>
    (channel ??= (async () => {
      const { config, credential, baseUrl } = await slack();
      return openSlackApprovals({ config, credential, baseUrl, timeoutMs: manifest.timeoutMs, pollMs: approvalPollMs(), warn: log.warn });
    })());
}

/** How often a pending approval's thread is read (and withdrawn requests' threads, for late answers). */
const approvalPollMs = () => Number(process.env.FLEET_APPROVAL_POLL_MS) || 2000;

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

/**
 * Where a slack-message proof reads the request message: a Slack instance's own identity, or (any
 * other connector, or `reader: approvals`) the approvals identity of scopes/fleet.yaml, whose token
 * then needs channels:history and users:read.
 */
function messageReaderFor(manifest: Manifest, opts: ServeOptions, upstream: () => Promise<Upstream<unknown>>, slack: ApprovalsSlack): (() => Promise<MessageReader>) | undefined {
  const rule = attributionRule(manifest.attribution);
  if (rule.proof !== 'slack-message') return undefined;
  let reader: Promise<MessageReader> | undefined;
  if (manifest.connector === 'slack' && rule.reader !== 'approvals') {
    return () => (reader ??= upstream().then((u) => slackReader(u.client as WebClient)));
  }
  readApprovalsConfig(opts.scopes); // a missing approvals identity stops the start, at its file:line
  return () =>
    (reader ??= (async () => {
      const { credential, baseUrl } = await slack();
      const { webClient } = await import('../../slack/client.js');
      return slackReader(webClient(credential, baseUrl, manifest.timeoutMs));
    })());
}
