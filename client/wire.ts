// What a caller and a fleet instance agree on over the wire: the `_meta` keys a call carries and the
// MCP protocol version the client speaks. This file is kept in two places, byte for byte:
// shared/base/wire.ts for the instance and client/wire.ts for the client, which depends on nothing
// of the server; test/unit/wire.test.ts fails when they differ. So it imports nothing.

/** The `_meta` keys of a tools/call that a fleet instance reads. */
export const META = {
  /** the human on whose behalf: a Slack user ID or an e-mail */
  actor: 'fleet/actor',
  /** the conversation that asked: <channel>/<ts> */
  thread: 'fleet/thread',
  reason: 'fleet/reason',
  /** a signed actor token (attribution.proof: oidc) */
  actorToken: 'fleet/actor-token',
  /** a write's replay key: the same key never runs twice */
  idempotencyKey: 'fleet/idempotency-key',
} as const;

/** The protocol version the client sends: the SDK's LATEST_PROTOCOL_VERSION (test/unit/wire.test.ts). */
export const PROTOCOL_VERSION = '2025-11-25';
