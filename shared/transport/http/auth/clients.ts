// The clients an HTTP server admits, from scopes/clients.yaml: who a credential proves, and which
// instances that client may call. Built once at start; token references are resolved then.
import { dirname } from 'node:path';
import type { Clients } from '../../../manifest/clients.js';
import type { ClientPrincipal } from '../../../call/attribution.js';
import { BearerTokens, tokenHash } from './bearer.js';
import { jwtClient, looksLikeJwt, verifyJwt, type JwtClient } from './jwt.js';

export type Authn =
  | { ok: true; principal: ClientPrincipal; instances: ReadonlySet<string>; rate?: string }
  | { ok: false; why: string; client?: string; via?: string };

export class ClientRegistry {
  private readonly bearer = new BearerTokens();
  private readonly jwt: JwtClient[] = [];
  private readonly instances = new Map<string, Set<string>>();
  private readonly rates = new Map<string, string | undefined>();

  private constructor(readonly file: string) {}

  /** `resolve` turns an env:/doppler: reference into the token it names. */
  static async load(clients: Clients, resolve: (ref: string) => Promise<string>): Promise<ClientRegistry> {
    const reg = new ClientRegistry(clients.file);
    for (const [name, c] of Object.entries(clients.clients)) {
      reg.instances.set(name, new Set(c.instances));
      reg.rates.set(name, c.rate);
      const revoked = c.revoked !== undefined;
      if (c.token)
        reg.bearer.add(
          name,
          c.token.startsWith('sha256:') ? c.token.slice(7) : tokenHash(await resolve(c.token)),
          revoked,
        );
      if (c.jwt) reg.jwt.push(jwtClient(name, c.jwt, revoked, dirname(clients.file)));
    }
    return reg;
  }

  /** every client of clients.yaml, by name */
  names(): string[] {
    return [...this.instances.keys()];
  }

  allows(client: string, instance: string): boolean {
    return this.instances.get(client)?.has(instance) ?? false;
  }

  instancesOf(client: string): string[] {
    return [...(this.instances.get(client) ?? [])];
  }

  /** issuers a client of this instance may bring tokens from (for its resource metadata) */
  issuersFor(instance: string): string[] {
    return [...new Set(this.jwt.filter((j) => this.instances.get(j.client)?.has(instance)).map((j) => j.jwt.issuer))];
  }

  async authenticate(authorization: string | undefined, audience: string): Promise<Authn> {
    if (!authorization) return { ok: false, why: 'no credential (send Authorization: Bearer <token>)' };
    const m = /^Bearer +([\x21-\x7e]{1,8192})$/i.exec(authorization);
    if (!m) return { ok: false, why: 'the Authorization header is not "Bearer <token>"' };
    const token = m[1]!;
    if (looksLikeJwt(token)) {
      const v = await verifyJwt(token, this.jwt, audience);
      if (!v.ok) return { ok: false, why: v.why, client: v.client, via: 'http-jwt' };
      return this.admit(v.client.client, 'http-jwt', v.client.revoked);
    }
    const e = this.bearer.match(token);
    if (!e) return { ok: false, why: 'unknown bearer token', via: 'http-bearer' };
    return this.admit(e.client, 'http-bearer', e.revoked);
  }

  private admit(client: string, via: string, revoked: boolean): Authn {
    if (revoked) return { ok: false, why: `client ${client} is revoked (${this.file})`, client, via };
    return {
      ok: true,
      principal: { id: client, via },
      instances: this.instances.get(client)!,
      rate: this.rates.get(client),
    };
  }
}
