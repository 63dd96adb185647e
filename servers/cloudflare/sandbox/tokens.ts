// API tokens as the sandbox keeps them: each token is a list of policies (permission groups on
// resources), and every request is admitted only by a policy that names one of the route's
// permission groups AND covers the account or zone the request is about. Account-owned tokens can
// be created (with policies and an expiry), listed, read and deleted through the API, as the fleet
// does when it mints a credential; the permission groups come from a fixed catalogue.
import { createHash, randomBytes } from 'node:crypto';
import { CfError } from './http.js';
import type { Account, Zone } from './seed.js';

export type Scope = 'com.cloudflare.api.account' | 'com.cloudflare.api.account.zone' | 'com.cloudflare.api.user';

// IDs of the Workers groups are the ones Cloudflare's own API description shows; the rest are
// derived from the name (stable across runs).
const KNOWN_IDS: Record<string, string> = {
  'Workers KV Storage Read': '8b47d2786a534c08a1f94ee8f9f599ef',
  'Workers KV Storage Write': 'f7f0eda5697f475c90846e879bab8666',
  'Workers Scripts Read': '1a71c399035b4950a1bd1466bbe4f420',
  'Workers Scripts Write': 'e086da7e2179491d91ee5f35b3ca210a',
};
const ACCOUNT_GROUPS = [
  'Workers Scripts Read',
  'Workers Scripts Write',
  'Workers KV Storage Read',
  'Workers KV Storage Write',
  'Workers R2 Storage Read',
  'Workers R2 Storage Write',
  'D1 Read',
  'D1 Write',
  'Workers Tail Read',
  'Account Settings Read',
  'Account API Tokens Read',
  'Account API Tokens Write',
];
const ZONE_GROUPS = ['Zone Read', 'Zone Write', 'DNS Read', 'DNS Write'];
const USER_GROUPS = ['API Tokens Read', 'API Tokens Write'];

export interface PermissionGroup {
  id: string;
  name: string;
  scopes: Scope[];
}

const groupId = (name: string) =>
  KNOWN_IDS[name] ?? createHash('sha256').update(`permission-group:${name}`).digest('hex').slice(0, 32);
export const PERMISSION_GROUPS: PermissionGroup[] = [
  ...ACCOUNT_GROUPS.map((name) => ({ id: groupId(name), name, scopes: ['com.cloudflare.api.account' as Scope] })),
  ...ZONE_GROUPS.map((name) => ({ id: groupId(name), name, scopes: ['com.cloudflare.api.account.zone' as Scope] })),
  ...USER_GROUPS.map((name) => ({ id: groupId(name), name, scopes: ['com.cloudflare.api.user' as Scope] })),
];
const BY_ID = new Map(PERMISSION_GROUPS.map((g) => [g.id, g]));
const BY_NAME = new Map(PERMISSION_GROUPS.map((g) => [g.name, g]));

export type Resources = Record<string, string | Record<string, string>>;

export interface TokenPolicy {
  id: string;
  effect: 'allow' | 'deny';
  /** permission group names */
  groups: string[];
  resources: Resources;
}

export interface Grant {
  id: string;
  kind: 'account' | 'user';
  /** the account owning an account token */
  owner?: string;
  name: string;
  /** accounts any policy reaches (directly or through one of their zones) */
  accounts: string[];
  /** every group any allow policy names */
  permissions: string[];
  policies: TokenPolicy[];
  status: 'active' | 'disabled' | 'expired';
  issued_on: string;
  expires_on?: string;
  condition?: unknown;
}

const ACCT = 'com.cloudflare.api.account.';
const ZONE = 'com.cloudflare.api.account.zone.';

/** The token's status now: an expiry in the past reads as expired. */
export function statusOf(g: Grant, now = Date.now()): Grant['status'] {
  if (g.status === 'active' && g.expires_on && Date.parse(g.expires_on) <= now) return 'expired';
  return g.status;
}

/** True when `resources` cover `account` (account-level), or `zone` of that account when given. */
export function covers(resources: Resources, account: string, zone?: string): boolean {
  for (const [k, v] of Object.entries(resources)) {
    if (k.startsWith(ZONE)) {
      if (zone !== undefined && (k === `${ZONE}${zone}` || k === `${ZONE}*`)) return true;
      continue;
    }
    if (k !== `${ACCT}${account}` && k !== `${ACCT}*`) continue;
    if (v === '*') return true;
    if (zone !== undefined && v && typeof v === 'object' && (`${ZONE}*` in v || `${ZONE}${zone}` in v)) return true;
  }
  return false;
}

/** True when an allow policy names one of `perms` and covers the account (and zone) of the request. */
export function admits(g: Grant, perms: string[], account?: string, zone?: string): boolean {
  const allow = g.policies.filter((p) => p.effect === 'allow' && p.groups.some((x) => perms.includes(x)));
  if (account === undefined) return allow.length > 0;
  const denied = g.policies.some(
    (p) => p.effect === 'deny' && p.groups.some((x) => perms.includes(x)) && covers(p.resources, account, zone),
  );
  return !denied && allow.some((p) => covers(p.resources, account, zone));
}

/** True when any policy reaches the account (or the zone), whatever its groups. */
export const reaches = (g: Grant, account: string, zone?: string) =>
  g.policies.some((p) => p.effect === 'allow' && covers(p.resources, account, zone));

export function makeGrant(fields: Omit<Grant, 'accounts' | 'permissions'>, zones: Zone[]): Grant {
  const accounts = new Set<string>();
  for (const p of fields.policies) {
    if (p.effect !== 'allow') continue;
    for (const [k, v] of Object.entries(p.resources)) {
      if (k.startsWith(ZONE)) {
        const z = zones.find((x) => `${ZONE}${x.id}` === k);
        if (z) accounts.add(z.account);
      } else if (k.startsWith(ACCT) && k !== `${ACCT}*`) accounts.add(k.slice(ACCT.length));
      void v;
    }
  }
  const permissions = [...new Set(fields.policies.filter((p) => p.effect === 'allow').flatMap((p) => p.groups))];
  return { ...fields, accounts: [...accounts], permissions };
}

export const newTokenValue = () => randomBytes(30).toString('base64url');
export const newId = () => randomBytes(16).toString('hex');

/** The API's view of a token: policies with permission group ids and names, never the value. */
export function tokenOut(t: Grant, now = Date.now()) {
  return {
    id: t.id,
    name: t.name,
    status: statusOf(t, now),
    issued_on: t.issued_on,
    modified_on: t.issued_on,
    ...(t.expires_on ? { expires_on: t.expires_on } : {}),
    ...(t.condition ? { condition: t.condition } : {}),
    policies: t.policies.map((p) => ({
      id: p.id,
      effect: p.effect,
      permission_groups: p.groups.map((name) => ({ id: BY_NAME.get(name)?.id ?? groupId(name), name })),
      resources: p.resources,
    })),
  };
}

/**
 * Checks a create body as the API does and turns it into policies: known permission groups only,
 * resources in this account only (the account itself, or its zones), zone groups on zones or
 * accounts, account groups on the account, an expiry in the future.
 */
export function parseCreate(body: Record<string, unknown>, account: Account, zones: Zone[], now = Date.now()) {
  const name = body.name;
  if (typeof name !== 'string' || name.length < 1 || name.length > 120)
    throw new CfError(400, 1001, 'name is required (1 to 120 characters)');
  if (!Array.isArray(body.policies) || body.policies.length === 0)
    throw new CfError(400, 1001, 'policies must be a non-empty array');
  const policies: TokenPolicy[] = body.policies.map((raw: unknown, i: number) => {
    const p = (raw ?? {}) as { effect?: unknown; permission_groups?: unknown; resources?: unknown };
    if (p.effect !== 'allow' && p.effect !== 'deny')
      throw new CfError(400, 1001, `policies[${i}].effect must be allow or deny`);
    if (!Array.isArray(p.permission_groups) || p.permission_groups.length === 0)
      throw new CfError(400, 1001, `policies[${i}].permission_groups must be a non-empty array`);
    const groups = p.permission_groups.map((g: unknown) => {
      const id = (g as { id?: unknown })?.id;
      const found = typeof id === 'string' ? BY_ID.get(id) : undefined;
      if (!found) throw new CfError(400, 1001, `policies[${i}]: unknown permission group ${JSON.stringify(id)}`);
      return found;
    });
    if (
      !p.resources ||
      typeof p.resources !== 'object' ||
      Array.isArray(p.resources) ||
      Object.keys(p.resources).length === 0
    ) {
      throw new CfError(400, 1001, `policies[${i}].resources must name at least one resource`);
    }
    const resources = p.resources as Resources;
    let zoneOnly = true;
    for (const [k, v] of Object.entries(resources)) {
      if (k.startsWith(ZONE)) {
        const z = zones.find((x) => `${ZONE}${x.id}` === k);
        if (!z || z.account !== account.id)
          throw new CfError(400, 1001, `policies[${i}]: resource ${k} is not a zone of account ${account.id}`);
        if (v !== '*') throw new CfError(400, 1001, `policies[${i}]: resource ${k} must map to "*"`);
      } else if (k === `${ACCT}${account.id}`) {
        if (v === '*') zoneOnly = false;
        else if (
          !v ||
          typeof v !== 'object' ||
          !Object.keys(v).every(
            (zk) => zk === `${ZONE}*` || zones.some((z) => z.account === account.id && `${ZONE}${z.id}` === zk),
          )
        ) {
          throw new CfError(400, 1001, `policies[${i}]: resource ${k} must map to "*" or to zones of the account`);
        }
      } else
        throw new CfError(
          400,
          1001,
          `policies[${i}]: resource ${k} is outside account ${account.id}; an account token reaches only its own account`,
        );
    }
    for (const g of groups) {
      if (g.scopes.includes('com.cloudflare.api.user'))
        throw new CfError(
          400,
          1001,
          `policies[${i}]: ${g.name} is a user permission group; an account token cannot hold it`,
        );
      if (zoneOnly && !g.scopes.includes('com.cloudflare.api.account.zone'))
        throw new CfError(
          400,
          1001,
          `policies[${i}]: ${g.name} applies to an account, but the policy names only zones`,
        );
    }
    return { id: newId(), effect: p.effect, groups: groups.map((g) => g.name), resources };
  });
  let expires_on: string | undefined;
  if (body.expires_on !== undefined) {
    const t = typeof body.expires_on === 'string' ? Date.parse(body.expires_on) : NaN;
    if (!Number.isFinite(t)) throw new CfError(400, 1001, 'expires_on must be an RFC 3339 time');
    if (t <= now) throw new CfError(400, 1001, 'expires_on must be in the future');
    expires_on = new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return { name, policies, expires_on, condition: body.condition };
}
