// Mints the instance's Doppler credential with a broker (a service account that may manage the
// project's service tokens): one service token per config the grants name, `read`, or
// `read/write` where a granted write tool names the config, each with an expire_at. A config
// given as a pattern cannot be minted for: every config must be named.
import { createHash } from 'node:crypto';
import { StartupError } from '../../shared/base/errors.js';
import type { MintOptions, Minter, MintedToken } from '../../shared/connector/tool.js';
import { isPattern } from '../../shared/review/glob-sets.js';
import { DEFAULT_API, dopplerSdk, withinTimeout } from './client.js';
import { TOOLS } from './tools/all.js';

type Access = 'read' | 'read/write';

const said = (e: unknown) => {
  const x = e as { statusCode?: number; detail?: { messages?: unknown }; message?: string; code?: string };
  const messages = Array.isArray(x.detail?.messages) ? x.detail!.messages.join('; ') : '';
  return x.statusCode
    ? `HTTP ${x.statusCode}${messages ? `: ${messages}` : ''}`
    : (x.code ?? x.message ?? 'request failed');
};

/** config → the access its grants need; refuses patterns. */
export function configAccess(o: MintOptions): Map<string, Access> {
  const m = o.manifest;
  const out = new Map<string, Access>();
  for (const tool of TOOLS) {
    const grant = m.tools[tool.name];
    if (!grant) continue;
    for (const c of (grant.configs as string[] | undefined) ?? []) {
      if (isPattern(c))
        throw new StartupError(
          `a minted Doppler credential needs every config named, but ${tool.name}.configs has the pattern "${c}" (${m.file}:${m.line(`tools.${tool.name}.configs`)})`,
        );
      const access: Access = tool.access === 'read' ? 'read' : 'read/write';
      if (out.get(c) !== 'read/write') out.set(c, access);
    }
  }
  if (!out.size)
    throw new StartupError(
      `a minted Doppler credential needs at least one config named in a grant (${m.file}:${m.line('tools')})`,
    );
  return out;
}

export async function dopplerMinter(o: MintOptions): Promise<Minter> {
  const project = o.manifest.upstream.project as string;
  const baseUrl = (o.baseUrl ?? DEFAULT_API).replace(/\/+$/, '');
  const sdk = dopplerSdk(o.broker, baseUrl);
  const access = configAccess(o);
  const t = <T>(call: () => Promise<T>) => withinTimeout(o.timeoutMs, call);
  const policy = [...access].sort(([a], [b]) => (a < b ? -1 : 1));
  const policyDigest = createHash('sha256')
    .update(JSON.stringify({ project, configs: policy }))
    .digest('hex');

  // The SDK sends a DELETE's JSON body with no length, which a server may not read: revoke with fetch.
  async function revokeOne(config: string, slug: string): Promise<void> {
    const ctl = AbortSignal.timeout(o.timeoutMs);
    const res = await fetch(`${baseUrl}/v3/configs/config/tokens/token`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${o.broker}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ project, config, slug }),
      signal: ctl,
    });
    await res.text().catch(() => '');
    // Already gone (expired, or swept by a sibling) is what we wanted.
    if (!res.ok && res.status !== 404)
      throw new Error(`revoking the service token ${slug} of ${project}/${config} failed: HTTP ${res.status}`);
  }

  return {
    async list() {
      const out: { id: string; name: string }[] = [];
      for (const config of access.keys()) {
        const r = (await t(() => sdk.serviceTokens.list(project, config))) as {
          tokens?: { name?: string; slug?: string }[];
        };
        for (const tok of r.tokens ?? [])
          if (tok.slug && tok.name?.startsWith(o.prefix)) out.push({ id: `${config}/${tok.slug}`, name: tok.name });
      }
      return out;
    },
    async mint(name, expiresAt): Promise<MintedToken> {
      const made: { config: string; slug: string; key: string }[] = [];
      const expire_at = String(Math.floor(expiresAt / 1000));
      try {
        for (const [config, a] of access) {
          const r = (await t(() => sdk.serviceTokens.create({ project, config, name, expire_at, access: a }))) as {
            token?: { slug?: string; key?: string };
          };
          if (!r.token?.slug || !r.token.key)
            throw new Error('Doppler created a service token but returned no slug or key');
          made.push({ config, slug: r.token.slug, key: r.token.key });
        }
      } catch (e) {
        // all or nothing: a partial set is deleted again
        await Promise.all(made.map((m) => revokeOne(m.config, m.slug).catch(() => {})));
        throw new StartupError(
          `minting Doppler service tokens for ${project} failed (${said(e)}); the broker needs to manage the project's service tokens`,
        );
      }
      return {
        value: JSON.stringify(Object.fromEntries(made.map((m) => [m.config, m.key]))),
        secrets: made.map((m) => m.key),
        id: made.map((m) => `${m.config}/${m.slug}`).join(','),
        name,
        expiresAt: Number(expire_at) * 1000,
        permissions: policy.map(([c, a]) => `${c}: ${a}`),
        resources: policy.map(([c]) => `${project}/${c}`),
        policyDigest,
      };
    },
    async revoke(id) {
      const errors: string[] = [];
      for (const part of id.split(',')) {
        const [config, slug] = part.split('/') as [string, string];
        await revokeOne(config, slug).catch((e: Error) => errors.push(e.message));
      }
      if (errors.length) throw new Error(errors.join('; '));
    },
  };
}
