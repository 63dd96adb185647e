// Replay-safe retries: a write carrying `_meta["fleet/idempotency-key"]` runs at most once per
// instance. The keys live in the instance's state (shared/state/store.ts KeyStore), so they hold
// across processes, replicas and restarts. A key whose first call died mid-flight stays "unknown"
// and is never run again: the upstream may or may not have acted, and only a person can tell —
// unless the trail holds the call's outcome (settleFromTrail).
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { StateStore } from '../state/store.js';

/** The newest intent of `key` for `tool` in the trail, and its outcome record if the trail holds one. */
async function outcomeInTrail(
  audit: StateStore['audit'],
  key: string,
  tool: string,
): Promise<{ call: string; outcome: Record<string, unknown> } | undefined> {
  let call: string | undefined;
  let outcome: Record<string, unknown> | undefined;
  try {
    for await (const line of audit.lines()) {
      // cheap test first: a record of this key, or an outcome, is all this looks for
      if (!line.includes('"outcome"') && !line.includes(JSON.stringify(key))) continue;
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a torn line holds nothing to settle with
      }
      if (r.phase === 'intent' && r.key === key && r.tool === tool) [call, outcome] = [r.call as string, undefined];
      else if (r.phase === 'outcome' && call && r.call === call) outcome = r;
    }
  } catch {
    return undefined; // a trail that cannot be read (gone, moved) settles nothing: the key stays unknown
  }
  return call && outcome ? { call, outcome } : undefined;
}

/**
 * A key left running by a process or replica that died after its outcome reached the trail but
 * before the key kept it: the trail is the record of what happened, so the key is settled from it
 * (kept with a result that says so) and the retry replays that. Undefined when the trail holds no
 * outcome of the key's call: then what happened is unknown, and the key stays so. The newest intent
 * of this key and tool is the call that ran (an earlier one was released, or is the same call's).
 */
export async function settleFromTrail(
  state: Pick<StateStore, 'audit' | 'keys'>,
  key: string,
  tool: string,
): Promise<CallToolResult | undefined> {
  const found = await outcomeInTrail(state.audit, key, tool);
  if (!found) return undefined;
  const { call, outcome } = found;
  const ok = outcome.outcome === 'ok';
  const what = ok
    ? 'ok'
    : `${String(outcome.outcome ?? 'error')}${outcome.error ? `: ${String(outcome.error)}` : ''}${outcome.error_message ? ` (${String(outcome.error_message)})` : ''}`;
  const message = `idempotency key ${key} ran as call ${call} at ${String(outcome.time)}, outcome ${what}; its process stopped before keeping that outcome, so it was settled from the audit trail (the upstream's answer itself is not in the trail)`;
  const result: CallToolResult = {
    ...(ok ? {} : { isError: true }),
    content: [{ type: 'text', text: message }],
    structuredContent: { status: ok ? 'completed' : 'failed', message },
  };
  await state.keys.done(key, result);
  return result;
}
