// Who a call is for: the human actor, the conversation thread and a reason, taken from the
// request's _meta (the production bot passes them per call), else from the process environment
// (a developer's Claude Code session), plus the client's own name and version from initialize.
export interface Attribution {
  actor?: string;
  thread?: string;
  reason?: string;
  /** where the actor came from */
  via: 'meta' | 'env' | 'none';
  client?: { name: string; version: string };
}

export const META = { actor: 'fleet/actor', thread: 'fleet/thread', reason: 'fleet/reason' } as const;

const MAX = 256;
// control characters and bidi overrides: an actor name must read as what it is
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;

export class BadAttribution extends Error {}

function field(meta: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = meta?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX || UNSAFE.test(v)) {
    throw new BadAttribution(`_meta "${key}" must be a printable string of 1 to ${MAX} characters`);
  }
  return v;
}

export function attribute(
  meta: Record<string, unknown> | undefined,
  env: NodeJS.ProcessEnv,
  client: { name: string; version: string } | undefined,
): Attribution {
  const actor = field(meta, META.actor);
  const thread = field(meta, META.thread);
  const reason = field(meta, META.reason);
  if (actor) return { actor, thread, reason, via: 'meta', client };
  const envActor = field({ FLEET_ACTOR: env.FLEET_ACTOR || undefined }, 'FLEET_ACTOR');
  const envThread = thread ?? field({ FLEET_THREAD: env.FLEET_THREAD || undefined }, 'FLEET_THREAD');
  return { actor: envActor, thread: envThread, reason, via: envActor ? 'env' : 'none', client };
}
