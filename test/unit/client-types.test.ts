// The typed client refuses, at compile time, a call the instance would refuse at run time: a
// wrong argument type, a missing argument, a tool the instance does not grant. `tsc --noEmit`
// (npm test's pretest) fails if any line marked @ts-expect-error compiles, and the drift check
// (`fleet verify`, test/e2e/surface-snapshot) keeps client/tools.ts equal to the inventory.
import { describe, expect, it } from 'vitest';
import { FLEET_TOOLS, type FleetTools } from '../../client/tools.js';
import { fleetClient } from '../../client/index.js';

// never called: only compiled (exported so that tsc does not call it unused)
// biome-ignore lint/suspicious/noExportsInTest: see above
export function compileOnly(): void {
  const slack = fleetClient('slack.prod', { url: 'https://fleet.example.com/mcp/slack/prod', token: 't' });
  void slack.post_message({ channel: 'C0EDITORIAL', text: 'ok' }, { actor: 'U0EDITOR1', idempotencyKey: 'k' });
  // @ts-expect-error text must be a string
  void slack.post_message({ channel: 'C0EDITORIAL', text: 42 });
  // @ts-expect-error text is required
  void slack.post_message({ channel: 'C0EDITORIAL' });
  // @ts-expect-error slack.prod does not grant delete_message (slack.dev does)
  void slack.delete_message({ channel: 'C0EDITORIAL', ts: '1.2' });
  // @ts-expect-error no such instance
  fleetClient('slack.staging', { url: 'x', token: 't' });
  const doppler = fleetClient('doppler.prod', { url: 'x', token: 't' });
  // @ts-expect-error a production Doppler instance grants no write
  void doppler.set_secret({ config: 'prd', name: 'X', value: 'y' });
  void (async () => {
    const r = await slack.read_history({ channel: 'C0EDITORIAL' });
    // @ts-expect-error the result is typed: messages, not items
    if (r.ok) void r.data.items;
  })();
}

describe('typed client', () => {
  it('knows, at run time, the same tools the types name', () => {
    const typed: Record<keyof FleetTools['slack.prod'], true> = {
      list_channels: true,
      read_history: true,
      read_thread: true,
      post_message: true,
      reply_in_thread: true,
      update_message: true,
      add_reaction: true,
      get_user: true,
      get_permalink: true,
    } as never;
    expect(Object.keys(FLEET_TOOLS['slack.prod']).sort()).toEqual(Object.keys(typed).sort());
    expect(FLEET_TOOLS['slack.prod'].post_message).toBe('write');
    expect(FLEET_TOOLS['slack.prod'].read_history).toBe('read');
    expect(typeof fleetClient('slack.dev', { url: 'x', token: 't' }).delete_message).toBe('function');
  });
});
