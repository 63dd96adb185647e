// The Cloudflare connector: its tools, its manifest `upstream:` block, and how to open the upstream.
import { z } from 'zod';
import type { Connector, UpstreamError } from '../../shared/connector/tool.js';
import type { CF } from './common.js';
import { HEX32 } from './names.js';
import { d1ListDatabases, d1Query } from './tools/d1.js';
import { dnsDeleteRecord, dnsListRecords, dnsUpsertRecord, listZones } from './tools/dns.js';
import { kvDelete, kvGet, kvListKeys, kvListNamespaces, kvPut } from './tools/kv.js';
import { r2DeleteObject, r2GetObject, r2ListBuckets, r2ListObjects, r2PutObject } from './tools/r2.js';
import { deleteWorker, deployWorker, getWorker, listWorkers, smokeCheckWorker } from './tools/workers.js';
import { workflowCreateInstance, workflowGetInstance, workflowListInstances } from './tools/workflows.js';

const HINTS: Record<number, string> = {
  401: 'the token is invalid, expired or revoked',
  403: "the token lacks a permission this call needs; compare the token's permission groups with the manifest's token_permissions",
  404: 'no such resource in this account',
  409: 'it already exists',
  429: 'Cloudflare is rate limiting this token',
};

function describeError(err: unknown): UpstreamError | undefined {
  const e = err as {
    name?: string;
    status?: number;
    errors?: { code?: number; message?: string }[];
    headers?: Headers;
    message?: string;
  };
  const name = e?.name ?? '';
  // The SDK's error classes set no `name` (it reads "Error"): its connection, timeout and abort
  // errors are the APIErrors that carry no HTTP status.
  const noStatus = !!e && typeof e === 'object' && 'status' in e && e.status === undefined && 'headers' in e;
  if (name === 'TimeoutError' || name === 'AbortError' || (noStatus && /timed out|aborted/i.test(e.message ?? ''))) {
    return { code: 'timeout', message: 'Cloudflare did not answer within the instance timeout' };
  }
  if (noStatus) return { code: 'request_failed', message: 'the request to Cloudflare failed: network error' };
  if (typeof e?.status === 'number') {
    const first = e.errors?.[0];
    const retry = Number(e.headers?.get?.('retry-after'));
    return {
      code: first?.code ? `cf_${first.code}` : `http_${e.status}`,
      message: `${first?.message ?? `Cloudflare answered HTTP ${e.status}`}${HINTS[e.status] ? ` (${HINTS[e.status]})` : ''}`,
      ...(e.status === 429 && Number.isFinite(retry) && retry > 0 ? { retryAfter: retry } : {}),
      // A 4xx (a 429 included) says Cloudflare did not act, so an idempotency key may be retried.
      definite: e.status < 500,
    };
  }
  // the SDK parses every answer: a body that is not JSON is Cloudflare's (or a proxy's), not ours
  if (name === 'SyntaxError' && /JSON/.test(e.message ?? '')) {
    return {
      code: 'bad_response',
      message:
        'Cloudflare answered with a body that is not JSON (an outage or proxy page?); if this was a write, check before retrying',
    };
  }
  return undefined; // not Cloudflare's: a fault of the fleet's own
}

export const cloudflare: Connector<CF> = {
  name: 'cloudflare',
  tools: [
    listWorkers,
    getWorker,
    deployWorker,
    deleteWorker,
    smokeCheckWorker,
    kvListNamespaces,
    kvListKeys,
    kvGet,
    kvPut,
    kvDelete,
    r2ListBuckets,
    r2ListObjects,
    r2GetObject,
    r2PutObject,
    r2DeleteObject,
    d1ListDatabases,
    d1Query,
    workflowListInstances,
    workflowGetInstance,
    workflowCreateInstance,
    listZones,
    dnsListRecords,
    dnsUpsertRecord,
    dnsDeleteRecord,
  ],
  upstream: z.strictObject({
    account: z
      .string()
      .regex(HEX32, 'account must be a Cloudflare account ID: 32 lower-case hex characters')
      .describe('the Cloudflare account ID the token is pinned to'),
    token_permissions: z
      .array(
        z.string().regex(/^[A-Z][A-Za-z0-9 ]+ (Read|Write)$/, 'a permission group name such as "Workers Scripts Read"'),
      )
      .min(1)
      .describe('the permission groups the API token holds, exactly'),
    // the account's workers.dev subdomain: where smoke checks reach a deployment
    workers_subdomain: z
      .string()
      .regex(/^[a-z0-9-]{1,63}$/, "workers_subdomain is the account's workers.dev subdomain, such as example")
      .describe("the account's workers.dev subdomain, where smoke checks reach a deployment")
      .optional(),
  }),
  declared: (u) => u.token_permissions,
  async open(opts) {
    const { openCloudflare } = await import('./client.js');
    return openCloudflare(opts);
  },
  async minter(opts) {
    const { cloudflareMinter } = await import('./mint.js');
    return cloudflareMinter(opts);
  },
  async sandbox(port = 0) {
    const { startCloudflareSandbox } = await import('./sandbox/index.js');
    const sb = await startCloudflareSandbox(port);
    return {
      url: sb.url,
      // The declared permissions, plus reading its own policies so the over-scope check runs.
      issueToken: (m) => sb.issue(m.upstream.account, [...m.upstream.token_permissions, 'Account API Tokens Read']),
      issueBroker: (m) => sb.issue(m.upstream.account, ['Account API Tokens Write'], { name: 'fleet broker' }),
      close: () => sb.close(),
    };
  },
  describeError,
};
