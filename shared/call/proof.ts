// Proving the actor, as the manifest's `attribution:` asks, before anything else reaches the
// upstream. What each kind proves:
//   asserted       nothing: the client's word (dev); identifier hygiene still applies
//   slack-message  fleet/thread names a message in a request channel, read back from Slack through
//                  a read-only identity: it exists, its author is the actor, a human member (not a
//                  bot, app, deleted or restricted account), and it is younger than max_age
//   oidc           fleet/actor-token is a short-lived JWT from the trusted issuer for this instance;
//                  the actor is its e-mail (or sub)
// A refusal tells the client that the proof failed and what a valid one looks like; the precise
// failure (whose message it was, ...) goes to the audit record only, so a refused call learns
// nothing about upstream data.
import { dirname, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Manifest } from '../manifest/types.js';
import { attributionRule, type AttributionBlock } from '../manifest/attribution.js';
import { parseDuration } from '../base/duration.js';
import type { ActorProof, Attribution } from './attribution.js';
import { actor as parseActor, BadIdentifier, isSlackThread, threadRef } from './identity.js';

/** A message as the proof needs it. */
export interface ProofMessage {
  ts: string;
  author?: string;
  /** set when an app or bot posted it */
  botId?: string;
  subtype?: string;
}

/** A workspace member as the proof (and an approval) needs it. */
export interface Member {
  id: string;
  /** a full human member: not a bot, app, deleted, restricted or guest account */
  human: boolean;
  /** why not, when not */
  why?: string;
  /** canonical e-mail, when the directory shows it */
  email?: string;
}

/** Reads Slack through a read-only identity (the instance's own, or the approvals identity). */
export interface MessageReader {
  message(channel: string, ts: string): Promise<ProofMessage | undefined>;
  member(user: string): Promise<Member | undefined>;
}

export type Proven = { ok: true; proof: ActorProof } | { ok: false; proof: ActorProof; message: string; status?: 'denied' | 'failed' };

export interface ProofContext {
  manifest: Manifest;
  /** where the rule lives, for messages */
  line: string;
  reader?: () => Promise<MessageReader>;
  now?: number;
}

export async function checkActorProof(who: Attribution, ctx: ProofContext): Promise<Proven> {
  const rule = attributionRule(ctx.manifest.attribution);
  if (rule.proof === 'oidc') return proveToken(who, rule, ctx);
  if (who.token) return fail('asserted', 'token-not-trusted', `denied: ${ctx.manifest.id} does not accept "fleet/actor-token" (${ctx.line}); it proves actors by ${rule.proof}`);
  if (!who.actor) return { ok: true, proof: { kind: 'none', verified: false } };
  if (rule.proof === 'asserted') return { ok: true, proof: { kind: 'asserted', verified: false } };
  return proveMessage(who, rule, ctx);
}

function fail(kind: ActorProof['kind'], failure: string, message: string, detail: Record<string, unknown> = {}, status?: 'denied' | 'failed'): Proven {
  return { ok: false, proof: { kind, verified: false, failure, ...detail }, message, status };
}

/** A proof read back is reused for a short while per (actor, message): one lookup, not one per call. */
const PROOF_REUSE_MS = 5 * 60_000;
const proofCache = new WeakMap<object, Map<string, { until: number; proof: ActorProof }>>();

async function proveMessage(who: Attribution, rule: Extract<AttributionBlock, { proof: 'slack-message' }>, ctx: ProofContext): Promise<Proven> {
  const maxAge = parseDuration(rule.max_age) ?? 3_600_000;
  const how =
    `pass _meta "fleet/thread" as <channel>/<ts> of the Slack message in which ${who.actor} asked, ` +
    `written by them as a human member, in a request channel (${rule.request_channels.join(', ')}), within the last ${rule.max_age}`;
  const refuse = (failure: string, detail: Record<string, unknown> = {}) =>
    fail('slack-message', failure, `denied: the actor ${who.actor} is not proven (${ctx.line}): ${how}`, detail);
  if (who.actorKind !== 'slack-user') return refuse('actor-not-slack-user');
  if (!who.thread || !isSlackThread(who.thread)) return refuse('no-thread');
  const { channel, ts } = threadRef(who.thread);
  const actor = who.actor!;
  if (!rule.request_channels.includes(channel)) return refuse('not-a-request-channel', { message: who.thread });
  const now = ctx.now ?? Date.now();
  const at = Number(ts) * 1000;
  // the age is known from the ts alone: a stale request is refused without a lookup
  if (now - at > maxAge) return refuse('stale', { message: who.thread, message_time: new Date(at).toISOString() });
  if (at - now > 60_000) return refuse('future', { message: who.thread });
  const cache = ctx.reader ? proofCache.get(ctx.reader) ?? new Map<string, { until: number; proof: ActorProof }>() : undefined;
  if (ctx.reader && cache) proofCache.set(ctx.reader, cache);
  const key = `${actor} ${who.thread}`;
  const hit = cache?.get(key);
  if (hit && hit.until > now) return { ok: true, proof: { ...hit.proof, reused: true } };
  if (!ctx.reader) return fail('slack-message', 'no-reader', `refused: ${ctx.manifest.id} has no Slack identity to read the request message with (${ctx.line})`, {}, 'failed');
  let msg: ProofMessage | undefined;
  let member: Member | undefined;
  try {
    const reader = await ctx.reader();
    msg = await reader.message(channel, ts);
    if (msg && !msg.botId && !msg.subtype && msg.author === actor) member = await reader.member(actor);
  } catch (e) {
    return fail('slack-message', 'lookup-failed', `refused: the request message could not be read to prove the actor (${ctx.line}); try again`, { message: who.thread, error: (e as Error).message }, 'failed');
  }
  const checked = { message: who.thread, checked_at: new Date(now).toISOString() };
  if (!msg) return refuse('message-not-found', checked);
  if (msg.botId || msg.subtype) return refuse('bot-authored', { ...checked, author: msg.author ?? msg.botId, subtype: msg.subtype });
  if (msg.author !== who.actor) return refuse('author-mismatch', { ...checked, author: msg.author });
  if (!member) return refuse('unknown-member', { ...checked, author: msg.author });
  if (!member.human) return refuse(`not-human: ${member.why ?? 'not a full member'}`, { ...checked, author: msg.author });
  const proof: ActorProof = { kind: 'slack-message', verified: true, ...checked, author: msg.author, message_time: new Date(at).toISOString() };
  if (cache) {
    if (cache.size > 1000) cache.clear();
    cache.set(key, { until: Math.min(now + PROOF_REUSE_MS, at + maxAge), proof });
  }
  return { ok: true, proof };
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
type KeySet = Parameters<typeof import('jose').jwtVerify>[1] & ((...a: any[]) => any);
const keySets = new WeakMap<Manifest, KeySet>();

async function keysFor(manifest: Manifest, jwks: string): Promise<{ jose: typeof import('jose'); keys: KeySet }> {
  const jose = await import('jose');
  let keys: KeySet | undefined = keySets.get(manifest);
  if (!keys) {
    if (jwks.startsWith('file:')) {
      const file = resolve(dirname(manifest.file), jwks.slice(5));
      keys = jose.createLocalJWKSet(JSON.parse(readFileSync(file, 'utf8')));
    } else {
      keys = jose.createRemoteJWKSet(new URL(jwks), { timeoutDuration: manifest.timeoutMs });
    }
    keySets.set(manifest, keys);
  }
  return { jose, keys };
}

const JOSE_WHY: Record<string, string> = {
  ERR_JWT_EXPIRED: 'the token has expired',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'a claim is not what this instance trusts',
  ERR_JWKS_NO_MATCHING_KEY: 'the token is signed by a key the issuer does not publish',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'the token names no single key of the issuer',
  ERR_JOSE_ALG_NOT_ALLOWED: 'the token is not signed with an accepted algorithm',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'the signature does not verify',
  ERR_JWS_INVALID: 'the token is not a valid signed JWT',
  ERR_JWT_INVALID: 'the token is not a valid JWT',
  ERR_JOSE_NOT_SUPPORTED: 'the token uses an unsupported algorithm or key',
};

async function proveToken(who: Attribution, rule: Extract<AttributionBlock, { proof: 'oidc' }>, ctx: ProofContext): Promise<Proven> {
  const { manifest } = ctx;
  const audience = rule.audience ?? manifest.id;
  const how = `pass _meta "fleet/actor-token": a JWT from ${rule.issuer} for audience ${audience}, living at most ${rule.max_age}`;
  if (!who.token) {
    if (!who.actor) return { ok: true, proof: { kind: 'none', verified: false } };
    return fail('oidc', 'no-token', `denied: the actor ${who.actor} is not proven (${ctx.line}): ${how}`);
  }
  const maxAge = Math.round((parseDuration(rule.max_age) ?? 900_000) / 1000);
  let payload: Record<string, unknown>;
  let kid: string | undefined;
  try {
    const { jose, keys } = await keysFor(manifest, rule.jwks);
    const r = await jose.jwtVerify(who.token, keys, {
      issuer: rule.issuer,
      audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'iat', 'sub'],
      maxTokenAge: maxAge,
      clockTolerance: 30,
      currentDate: ctx.now ? new Date(ctx.now) : undefined,
    });
    payload = r.payload as Record<string, unknown>;
    kid = r.protectedHeader.kid;
  } catch (e) {
    const err = e as { code?: string; claim?: string; message?: string };
    const why = err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && err.claim ? `its "${err.claim}" claim is not what this instance trusts` : JOSE_WHY[err.code ?? ''] ?? 'the token could not be verified';
    return fail('oidc', err.code ?? 'invalid', `denied: the actor token is not valid (${ctx.line}): ${why}; ${how}`, { issuer: rule.issuer, ...(err.claim ? { claim: err.claim } : {}) });
  }
  const exp = Number(payload.exp);
  const iat = Number(payload.iat);
  if (exp - iat > maxAge) return fail('oidc', 'too-long-lived', `denied: the actor token lives ${exp - iat}s, longer than ${rule.max_age} (${ctx.line}); ${how}`, { issuer: rule.issuer });
  let proven: { id: string; kind: 'slack-user' | 'email' };
  try {
    const claim = typeof payload.email === 'string' && payload.email_verified !== false ? payload.email : payload.sub;
    proven = parseActor(claim, 'the token subject');
  } catch (e) {
    const why = e instanceof BadIdentifier ? e.message : String(e);
    return fail('oidc', 'bad-subject', `denied: the actor token names no usable actor (${ctx.line}): ${why}`, { issuer: rule.issuer });
  }
  const detail = { issuer: rule.issuer, subject: String(payload.sub), audience, key: kid, expires: new Date(exp * 1000).toISOString(), checked_at: new Date(ctx.now ?? Date.now()).toISOString() };
  if (who.actor && who.actor !== proven.id) {
    return fail('oidc', 'actor-mismatch', `denied: _meta "fleet/actor" ${who.actor} is not the actor the token proves (${ctx.line}); drop it or pass the token's own`, detail);
  }
  who.actor = proven.id;
  who.actorKind = proven.kind;
  who.via = 'token';
  return { ok: true, proof: { kind: 'oidc', verified: true, ...detail } };
}
