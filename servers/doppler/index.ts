// The Doppler connector: its tools, its manifest `upstream:` block, and how to open the upstream.
import { z } from 'zod';
import { isProduction } from '../../shared/connector/scopes.js';
import type { Connector, UpstreamError } from '../../shared/connector/tool.js';
import type { CredentialScheme } from '../../shared/connector/extensions.js';
import type { Doppler } from './common.js';
import { SLUG } from './common.js';
import { TOOLS } from './tools/all.js';

function describeError(err: unknown): UpstreamError | undefined {
  const e = err as { name?: string; code?: string; message?: string; status?: number; retryAfter?: number };
  // A 4xx (a 429 included) says Doppler did not act, so an idempotency key may be retried.
  if (e?.name === 'DopplerFailure') {
    return {
      code: e.code!,
      message: e.message!,
      ...(e.retryAfter ? { retryAfter: e.retryAfter } : {}),
      definite: e.status !== undefined && e.status >= 400 && e.status < 500,
    };
  }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
    return { code: 'timeout', message: 'Doppler did not answer within the instance timeout' };
  // Anything else is a bug of ours (the client turns every SDK error into a DopplerFailure).
  return undefined;
}

/**
 * `doppler:<project>/<config>/<NAME>` references, for any connector's manifest (and the state
 * store's URL, the HTTP clients' tokens): resolved at start through the Doppler API (./resolver.ts).
 */
const references: CredentialScheme = {
  scheme: 'doppler',
  pattern: /^doppler:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z_][A-Za-z0-9_]*$/,
  example: 'doppler:project/config/NAME',
  async resolve(ref, ctx) {
    const { resolveDoppler } = await import('./resolver.js');
    return resolveDoppler(ref, {
      env: ctx.env,
      manifest: ctx.manifest,
      scopes: ctx.scopes,
      timeoutMs: ctx.manifest.timeoutMs,
      connectors: ctx.connectors as never,
    });
  },
};

export const doppler: Connector<Doppler> = {
  name: 'doppler',
  tools: TOOLS,
  upstream: z.strictObject({
    project: z
      .string()
      .regex(SLUG, 'project must be a Doppler project slug such as blogbot')
      .describe('the Doppler project this instance is pinned to'),
  }),
  // Doppler tokens carry no scope list the API reports; access is enforced by the grants.
  declared: () => [],
  async open(opts) {
    const { openDoppler } = await import('./client.js');
    return openDoppler(opts);
  },
  async minter(opts) {
    const { dopplerMinter } = await import('./mint.js');
    return dopplerMinter(opts);
  },
  async sandbox(port = 0) {
    const { startDopplerSandbox } = await import('./sandbox/index.js');
    const sb = await startDopplerSandbox(port);
    return {
      url: sb.url,
      issueBroker: (m) => sb.issueBroker(m.upstream.project),
      // Read-only for production instances and for instances that grant no write.
      issueToken: (m) =>
        sb.issueAccount(
          m.upstream.project,
          !isProduction(m) && Object.keys(m.tools).some((t) => t === 'set_secret' || t === 'delete_secret'),
        ),
      close: () => sb.close(),
    };
  },
  describeError,
  extensions: { credentials: [references] },
};
