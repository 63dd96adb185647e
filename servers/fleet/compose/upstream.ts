// The upstream and its credential: where it is (a sandbox, --upstream, the real one), which
// credential the connector's client uses (a reference resolved, a rotated token exchanged, a token
// minted), and the start-up identity check that judges what that token holds against the manifest.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StartupError } from '../../../shared/base/errors.js';
import { bundleFile, fleetDir } from '../../../shared/base/install.js';
import type { Log } from '../../../shared/base/log.js';
import type { Redactor } from '../../../shared/base/redaction.js';
import { MintedCredential, tokenPrefix } from '../../../shared/connector/minting.js';
import { RotatingCredential } from '../../../shared/connector/rotation.js';
import { checkHeld, isProduction } from '../../../shared/connector/scopes.js';
import type { Connector, MintedToken, Sandbox, Upstream } from '../../../shared/connector/tool.js';
import type { Manifest } from '../../../shared/base/manifest.js';
import { activeSuspension, SUSPENSION_CACHE_MS } from '../../../shared/state/suspension.js';
import type { StateStore } from '../../../shared/state/store.js';
import type { Resolve } from './credentials.js';
import type { ServeOptions } from './options.js';
import { traceStart } from '../trace.js';

const REVOKE_WAIT_MS = 5000;

/** Where an instance's upstream is, and the credential its client uses (a minted token, when it mints). */
export interface Reach {
  credential: string;
  baseUrl?: string;
  minted?: MintedToken;
}

/** An instance's upstream, opened once: by the first call, or at start (`openNow`). */
export interface UpstreamLink {
  /** the open upstream: waits for the start-up check, and for a token minted again after a suspension */
  upstream(): Promise<Upstream<unknown>>;
  /**
   * Opens the upstream now; a failure (identity check, credential) is handed to `fail`, and so is a
   * later one (a renewed token refused). With `inChild`, the identity check runs in a short-lived
   * child process instead, so the upstream's SDK (and fetch) load into this one only on the first call.
   */
  openNow(fail: (e: Error) => void, how?: { inChild?: boolean }): void;
  /** deletes the token this process minted, for a suspension */
  revoke(reason: string): Promise<void>;
  /** stops the child check and the rotation, revokes a minted token (bounded), closes the sandbox */
  close(why: string): Promise<void>;
}

export interface UpstreamDeps {
  connector: Connector;
  manifest: Manifest;
  opts: ServeOptions;
  resolve: Resolve;
  redactor: Redactor;
  log: Log;
  /** the instance's store, for the trail's credential records and suspensions (opened lazily) */
  store: () => StateStore;
}

export function linkUpstream({ connector, manifest, opts, resolve, redactor, log, store }: UpstreamDeps): UpstreamLink {
  let sandbox: Sandbox | undefined;
  let minting: MintedCredential | undefined;
  let rotating: RotatingCredential | undefined;
  // where a failure after start (a renewed token refused) goes: set by openNow
  let fatal: (e: Error) => void = (e) => log.error(e.message);

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
      else
        credential =
          manifest.mint && sandbox.issueBroker ? sandbox.issueBroker(manifest) : sandbox.issueToken(manifest);
      baseUrl = sandbox.url;
    } else if (manifest.rotate) {
      const r = manifest.rotate;
      const [refresh_token, client_id, client_secret] = await Promise.all([
        resolve(r.refresh_token),
        resolve(r.client_id),
        resolve(r.client_secret),
      ]);
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
        exchange: (refreshToken) =>
          connector.rotate!({ refreshToken, clientId, clientSecret, baseUrl, timeoutMs: manifest.timeoutMs }),
        audit: store().audit,
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
      const minter = await connector.minter!({
        manifest,
        broker: credential,
        baseUrl,
        timeoutMs: manifest.timeoutMs,
        prefix,
        warn: log.warn,
      });
      minting = new MintedCredential({
        manifest,
        minter,
        prefix,
        audit: store().audit,
        redactor,
        log,
        // `fleet suspend` of this instance deletes the token; none is minted until it is lifted
        suspended: async () => {
          const s = await activeSuspension(store().suspensions, manifest.id, undefined);
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
    const reached = await reach();
    // a minted token may have been renewed since (the upstream opens on the first call)
    const r = minting?.token ? { ...reached, credential: minting.token.value } : reached;
    const up = await connectUpstream(connector, manifest, r, checkedInChild ? () => {} : log.warn);
    if (minting) minting.rebind = up.rebind;
    if (rotating) {
      // A renewed token is checked like the first (who it is, what it holds) before calls use it.
      rotating.accept = async (access) => {
        check(
          await connector.open({
            manifest,
            credential: access,
            baseUrl: r.baseUrl,
            timeoutMs: manifest.timeoutMs,
            warn: log.warn,
          }),
        );
        up.rebind!(access);
      };
    }
    return up;
  };

  let opened: Promise<Upstream<unknown>> | undefined;
  // the start-up identity check under way in a child process, if any
  let childCheck: Promise<void> | undefined;
  let checking: ChildProcess | undefined;
  let opening = false;
  return {
    // a minted token deleted by a suspension that has since been lifted is minted again first
    async upstream() {
      // no call reaches the upstream before the start-up check has judged the token
      await childCheck;
      const up = await (opened ??= open());
      await minting?.ready();
      return up;
    },
    openNow(fail, how) {
      fatal = fail;
      if (opening) return;
      opening = true;
      // a rotated token is exchanged here, with the SDK (and a rotation's refresh token may be used
      // once): its check stays in this process; a minted one is made here without the SDK (plain
      // HTTP requests) and checked in the child like any other
      // opening (and its identity check) only: a suspension holding a minted token is not a start-up failure
      // a call that came first has opened the upstream here, with its check: no child needed
      if (!how?.inChild || manifest.rotate || opened) (opened ??= open()).then(tracedOpen, fail);
      else {
        childCheck = reach()
          .then((r) => checkInChild(opts, r, manifest.timeoutMs, (c) => (checking = c)))
          .then(() => void (checkedInChild = true));
        childCheck.then(tracedOpen, fail);
      }
    },
    async revoke(reason) {
      await opened?.catch(() => {});
      await minting?.stop(reason);
    },
    async close(why) {
      checking?.kill();
      rotating?.stop();
      // A minted token dies with the process (bounded: a hung upstream must not keep it alive).
      if (minting)
        await Promise.race([
          minting.stop(why).catch(() => {}),
          new Promise((r) => setTimeout(r, REVOKE_WAIT_MS).unref()),
        ]);
      await sandbox?.close().catch(() => {});
    },
  };
}

/**
 * Opens the upstream through the connector (its SDK and identity check) and judges what the token
 * holds: a production instance refuses a token whose permissions cannot be checked or that holds
 * more than the manifest declares; a development one warns.
 */
export async function connectUpstream(
  connector: Connector,
  manifest: Manifest,
  r: Reach,
  warn: (m: string) => void,
): Promise<Upstream<unknown>> {
  const up = await connector.open({
    manifest,
    credential: r.credential,
    baseUrl: r.baseUrl,
    timeoutMs: manifest.timeoutMs,
    warn,
    ...(r.minted ? { minted: { permissions: r.minted.permissions } } : {}),
  });
  judgeUpstream(connector, manifest, up, warn);
  return up;
}

/** What the token may do, as the upstream reports it, against the manifest (see connectUpstream). */
export function judgeUpstream(
  connector: Connector,
  manifest: Manifest,
  up: Upstream<unknown>,
  warn: (m: string) => void,
): void {
  if (up.unchecked) {
    // What the token may do is unknown: it may hold anything. Production needs to know.
    if (isProduction(manifest)) {
      throw new StartupError(
        `${up.unchecked}; refusing to start a production instance whose token's permissions cannot be checked (${manifest.file}:${manifest.line('upstream')})`,
      );
    }
    warn(up.unchecked);
  }
  if (up.reachesBeyond?.length) {
    // the token reaches more than the manifest pins: production refuses it, as it refuses an over-scoped one
    const msg = `the token also reaches ${up.reachesBeyond.join(', ')}, beyond what the manifest pins (${manifest.file}:${manifest.line('upstream')})`;
    if (isProduction(manifest))
      throw new StartupError(
        `${msg}; refusing to start a production instance whose token reaches more than it declares`,
      );
    warn(`${msg}; calls stay where the manifest pins them`);
  }
  if (up.held) {
    const { excess, missing } = checkHeld(connector, manifest, up.held);
    if (excess.length) {
      const msg = `the token holds ${excess.join(', ')} beyond the manifest's declared permissions (${manifest.file}:${manifest.line('upstream')})`;
      if (isProduction(manifest))
        throw new StartupError(`${msg}; refusing to start a production instance with an over-scoped token`);
      warn(msg);
    }
    if (missing.length) warn(`the token lacks ${missing.join(', ')}, which granted tools need; those calls will fail`);
  }
}

/** FLEET_TRACE_START: says when the upstream is open (the bench reads a settled server's memory then). */
const tracedOpen = () => traceStart('upstream open');

/** The hidden flag that makes `fleet serve` the start-up check's child instead of a server. */
const CHECK_FLAG = '--check-upstream';

/**
 * Runs the start-up identity check (connectUpstream) in a child `fleet` process, which is handed the
 * credential on its stdin (never in argv or the environment) and answers one JSON line on its
 * stdout; its warnings go to this process's stderr. Resolves when the check passed.
 */
function checkInChild(
  opts: ServeOptions,
  r: Reach,
  timeoutMs: number,
  started: (c: ChildProcess) => void,
): Promise<void> {
  const bundle = bundleFile();
  const launcher = join(dirname(bundle), 'fleet');
  const args = ['serve', opts.connector, '--env', opts.env, '--scopes', opts.scopes, CHECK_FLAG];
  const child = existsSync(launcher)
    ? spawn(launcher, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, [bundle, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
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
      else
        reject(
          new StartupError(answer?.error ?? `the upstream check ended without an answer (${signal ?? `exit ${code}`})`),
        );
    });
    child.stdin!.on('error', () => {}); // a child that died early: its close says why
    child.stdin!.end(JSON.stringify(r));
  });
}
