// Account-owned API tokens in the Cloudflare sandbox, through the real `cloudflare` SDK: permission
// groups, create (policies + expiry), verify, get, list, delete, and the minted token's policies
// enforced on every other route. Cloudflare's 2024 API description has the token operations only
// under /user/tokens; account tokens share those shapes (the SDK types them with the same
// `Token`), so the wire bodies are checked against the /user/tokens schemas, trimmed into
// test/fixtures/specs/cloudflare-tokens.json.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Cloudflare from 'cloudflare';
import { Ajv } from 'ajv';
import { startCloudflareSandbox, type CloudflareSandbox } from '../../servers/cloudflare/sandbox/index.js';
import { ACCOUNT, IDS, OTHER_ACCOUNT } from '../../servers/cloudflare/sandbox/seed.js';

const SPEC = JSON.parse(readFileSync(new URL('../fixtures/specs/cloudflare-tokens.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(SPEC, 'cf');

let sb: CloudflareSandbox;
let broker: string;
const account_id = ACCOUNT;
const sdk = (t: string) =>
  new Cloudflare({
    apiToken: t,
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: sb.url,
    maxRetries: 0,
    timeout: 5000,
  });

const schema = (specPath: string, method: string) => {
  const ref = `cf#/paths/${specPath.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}/responses/200/content/application~1json/schema`;
  const v = ajv.getSchema(ref);
  expect(v, ref).toBeDefined();
  return v!;
};

/** A raw request whose 200 body is checked against the spec's schema for `specPath`. */
async function conforms(
  method: string,
  path: string,
  specPath: string,
  body?: unknown,
  token = broker,
): Promise<Record<string, any>> {
  // Request bodies follow the SDK's TokenCreateParams: the 2024 document requires a policy `id`
  // even on create, which neither the SDK nor the API asks for.
  const res = await fetch(`${sb.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, any>;
  expect(res.status, JSON.stringify(json)).toBe(200);
  const validate = schema(specPath, method.toLowerCase());
  expect(validate(json), `${method} ${path}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
  return json;
}

const soon = (s: number) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

beforeAll(async () => {
  sb = await startCloudflareSandbox();
  broker = sb.issue(ACCOUNT, ['Account API Tokens Write', 'Account API Tokens Read']);
});
afterAll(() => sb.close());

async function groupIds(names: string[]): Promise<string[]> {
  const all: { id?: string; name?: string }[] = [];
  for await (const g of sdk(broker).accounts.tokens.permissionGroups.list({ account_id })) all.push(g);
  return names.map((n) => {
    const g = all.find((x) => x.name === n);
    expect(g, n).toBeDefined();
    return g!.id!;
  });
}

describe('account API tokens', () => {
  it('lists permission groups with their scopes, filtered by name', async () => {
    const body = await conforms(
      'GET',
      `/accounts/${ACCOUNT}/tokens/permission_groups`,
      '/user/tokens/permission_groups',
    );
    const byName = new Map((body.result as { name: string; scopes: string[] }[]).map((g) => [g.name, g.scopes]));
    expect(byName.get('Workers Scripts Read')).toEqual(['com.cloudflare.api.account']);
    expect(byName.get('DNS Read')).toEqual(['com.cloudflare.api.account.zone']);
    const one = [];
    for await (const g of sdk(broker).accounts.tokens.permissionGroups.list({ account_id, name: 'D1 Read' }))
      one.push(g.name);
    expect(one).toEqual(['D1 Read']);
  });

  it('mints a token holding exactly its policies: account groups on the account, zone groups on named zones', async () => {
    const [scripts, dns] = await groupIds(['Workers Scripts Read', 'DNS Read']);
    const create = {
      name: 'fleet cloudflare.prod test',
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: scripts }],
          resources: { [`com.cloudflare.api.account.${ACCOUNT}`]: '*' },
        },
        {
          effect: 'allow',
          permission_groups: [{ id: dns }],
          resources: { [`com.cloudflare.api.account.zone.${IDS.zone}`]: '*' },
        },
      ],
      expires_on: soon(600),
    };
    const made = await conforms('POST', `/accounts/${ACCOUNT}/tokens`, '/user/tokens', create);
    const value = made.result.value as string;
    expect(made.result.expires_on).toBe(create.expires_on);
    const minted = sdk(value);
    const v = await minted.accounts.tokens.verify({ account_id });
    expect(v).toMatchObject({ id: made.result.id, status: 'active', expires_on: create.expires_on });
    // granted: scripts in the account, DNS in the named zone
    const names = [];
    for await (const s of minted.workers.scripts.list({ account_id })) names.push(s.id);
    expect(names).toContain('blogbot');
    await minted.dns.records.list({ zone_id: IDS.zone }).then((p) => p.result);
    // not granted: another group, a zone not named, another account, writing scripts, and tokens
    await expect(minted.kv.namespaces.list({ account_id }).then((p) => p.result)).rejects.toMatchObject({
      status: 403,
      errors: [{ code: 10000 }],
    });
    await expect(minted.dns.records.list({ zone_id: IDS.devZone }).then((p) => p.result)).rejects.toMatchObject({
      status: 403,
    });
    await expect(
      minted.workers.scripts.list({ account_id: OTHER_ACCOUNT }).then((p) => p.result),
    ).rejects.toMatchObject({ status: 403, errors: [{ code: 9109 }] });
    await expect(minted.workers.scripts.delete('blogbot', { account_id })).rejects.toMatchObject({ status: 403 });
    await expect(
      minted.accounts.tokens.create({ account_id, name: 'escalate', policies: create.policies as never }),
    ).rejects.toMatchObject({ status: 403 });

    // read back, listed, then deleted: the value stops working at once
    const got = await conforms('GET', `/accounts/${ACCOUNT}/tokens/${made.result.id}`, '/user/tokens/{token_id}');
    expect(
      got.result.policies.map((p: { permission_groups: { name: string }[] }) => p.permission_groups.map((g) => g.name)),
    ).toEqual([['Workers Scripts Read'], ['DNS Read']]);
    expect(got.result.value).toBeUndefined();
    const listed = await conforms('GET', `/accounts/${ACCOUNT}/tokens`, '/user/tokens');
    expect(listed.result.map((t: { id: string }) => t.id)).toContain(made.result.id);
    const del = await sdk(broker).accounts.tokens.delete(made.result.id, { account_id });
    expect(del).toEqual({ id: made.result.id });
    await expect(minted.accounts.tokens.verify({ account_id })).rejects.toMatchObject({ status: 401 });
    await expect(sdk(broker).accounts.tokens.delete(made.result.id, { account_id })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('expires a token at its expires_on', async () => {
    const [scripts] = await groupIds(['Workers Scripts Read']);
    const t = await sdk(broker).accounts.tokens.create({
      account_id,
      name: 'short',
      expires_on: new Date(Date.now() + 1500).toISOString(),
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: scripts! }],
          resources: { [`com.cloudflare.api.account.${ACCOUNT}`]: '*' },
        },
      ],
    });
    const minted = sdk(t.value!);
    expect((await minted.accounts.tokens.verify({ account_id })).status).toBe('active');
    // wait for the condition, not for a time
    await expect
      .poll(() => minted.accounts.tokens.verify({ account_id }).then((v) => v.status), {
        timeout: 10_000,
        interval: 200,
      })
      .toBe('expired');
    await expect(minted.workers.scripts.list({ account_id }).then((p) => p.result)).rejects.toMatchObject({
      status: 401,
    });
    const listed = [];
    for await (const x of sdk(broker).accounts.tokens.list({ account_id })) listed.push(x.id);
    expect(listed).not.toContain(t.id);
    const all = [];
    for await (const x of sdk(broker).accounts.tokens.list({ account_id, include_expired: true })) all.push(x.id);
    expect(all).toContain(t.id);
  });

  it('refuses a create body the API would refuse, and a broker without API Tokens Write', async () => {
    const [scripts, dns] = await groupIds(['Workers Scripts Read', 'DNS Read']);
    const acct = { [`com.cloudflare.api.account.${ACCOUNT}`]: '*' };
    const bad: [unknown, RegExp][] = [
      [
        { name: 'x', policies: [{ effect: 'allow', permission_groups: [{ id: 'f'.repeat(32) }], resources: acct }] },
        /unknown permission group/,
      ],
      [
        {
          name: 'x',
          policies: [
            {
              effect: 'allow',
              permission_groups: [{ id: scripts }],
              resources: { [`com.cloudflare.api.account.${OTHER_ACCOUNT}`]: '*' },
            },
          ],
        },
        /outside account/,
      ],
      [
        {
          name: 'x',
          policies: [
            {
              effect: 'allow',
              permission_groups: [{ id: scripts }],
              resources: { [`com.cloudflare.api.account.zone.${IDS.otherZone}`]: '*' },
            },
          ],
        },
        /not a zone of account/,
      ],
      [
        {
          name: 'x',
          policies: [
            {
              effect: 'allow',
              permission_groups: [{ id: scripts }],
              resources: { [`com.cloudflare.api.account.zone.${IDS.zone}`]: '*' },
            },
          ],
        },
        /applies to an account/,
      ],
      [
        {
          name: 'x',
          expires_on: '2020-01-01T00:00:00Z',
          policies: [{ effect: 'allow', permission_groups: [{ id: dns }], resources: acct }],
        },
        /in the future/,
      ],
      [{ name: 'x', policies: [] }, /non-empty/],
    ];
    for (const [body, msg] of bad) {
      const res = await fetch(`${sb.url}/accounts/${ACCOUNT}/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${broker}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as { success: boolean; errors: { message: string }[] };
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(json.success).toBe(false);
      expect(json.errors[0]!.message).toMatch(msg);
    }
    const reader = sdk(sb.issue(ACCOUNT, ['Account API Tokens Read']));
    await expect(
      reader.accounts.tokens.create({
        account_id,
        name: 'x',
        policies: [{ effect: 'allow', permission_groups: [{ id: scripts! }], resources: acct }],
      }),
    ).rejects.toMatchObject({ status: 403 });
  });
});
