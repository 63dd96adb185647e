// Who a call is for. Two principals: the *client* (the routine or agent calling, named by the
// transport: a stdio server's configured identity, an HTTP client's credential) and the *actor*
// (the human on whose behalf), claimed by the client in _meta — or, in dev, by the process
// environment — and parsed here into canonical IDs (./identity.ts). Whether the actor is believed
// is decided by the proof step (./proof.ts), before anything reaches the upstream.
import { META } from '../base/wire.js';
import type { ProofRecord } from '../connector/extensions.js';
import { actor as parseActor, BadIdentifier, freeText, thread as parseThread } from '../base/identity.js';

/** The client principal, as the transport proved it. */
export interface ClientPrincipal {
  /** canonical client name (blogbot-publish), see identity.client */
  id: string;
  /** how the transport knows it: stdio-env (FLEET_CLIENT), stdio-default, http-credential, ... */
  via: string;
}

/** What the audit trail keeps of an actor's proof (never the token itself): kind asserted, oidc, none or a connector's proof. */
export type ActorProof = ProofRecord;

export interface Attribution {
  client: ClientPrincipal;
  /** the client's self-declared name and version (initialize): informative, not proof */
  clientInfo?: { name: string; version: string };
  /** canonical: an ID of one of the identity kinds (./identity.ts), or a lower-cased e-mail address */
  actor?: string;
  actorKind?: string;
  /** canonical <channel>/<ts> */
  thread?: string;
  reason?: string;
  /** where the actor claim came from */
  via: 'meta' | 'env' | 'token' | 'none';
  /** a signed actor token (`fleet/actor-token`), kept only until it is verified; never recorded */
  token?: string;
  proof?: ActorProof;
}

export const DEFAULT_CLIENT: ClientPrincipal = { id: 'local', via: 'stdio-default' };

export class BadAttribution extends Error {}

const MAX_TOKEN = 8192;

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function parse<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BadIdentifier) throw new BadAttribution(`${key} ${e.why}`);
    throw e;
  }
}

export function attribute(
  meta: Record<string, unknown> | undefined,
  env: NodeJS.ProcessEnv,
  clientInfo: { name: string; version: string } | undefined,
  client: ClientPrincipal = DEFAULT_CLIENT,
): Attribution {
  const base = { client, clientInfo };
  const m = meta ?? {};
  const reason = present(m[META.reason])
    ? parse(`_meta "${META.reason}"`, () => freeText(m[META.reason], 'reason'))
    : undefined;
  const thread = present(m[META.thread])
    ? parse(`_meta "${META.thread}"`, () => parseThread(m[META.thread]))
    : undefined;
  let token: string | undefined;
  if (present(m[META.actorToken])) {
    const t = m[META.actorToken];
    if (typeof t !== 'string' || t.length === 0 || t.length > MAX_TOKEN || !/^[A-Za-z0-9_.-]+$/.test(t)) {
      throw new BadAttribution(`_meta "${META.actorToken}" must be a compact JWT (at most ${MAX_TOKEN} characters)`);
    }
    token = t;
  }
  if (present(m[META.actor])) {
    const a = parse(`_meta "${META.actor}"`, () => parseActor(m[META.actor]));
    return { ...base, actor: a.id, actorKind: a.kind, thread, reason, via: 'meta', token };
  }
  if (token) return { ...base, thread, reason, via: 'token', token };
  // A stdio process serves one session, so its environment may name that session's human (a
  // developer's FLEET_ACTOR). An HTTP server serves many clients: its environment names nobody's
  // human, and only a request's own _meta (proven as the manifest asks) can.
  if (!client.via.startsWith('stdio')) return { ...base, thread, reason, via: 'none' };
  const envActor = env.FLEET_ACTOR ? parse('FLEET_ACTOR', () => parseActor(env.FLEET_ACTOR)) : undefined;
  const envThread =
    thread ?? (env.FLEET_THREAD ? parse('FLEET_THREAD', () => parseThread(env.FLEET_THREAD)) : undefined);
  return {
    ...base,
    actor: envActor?.id,
    actorKind: envActor?.kind,
    thread: envThread,
    reason,
    via: envActor ? 'env' : 'none',
  };
}
