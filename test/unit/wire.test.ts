// The wire contract (shared/base/wire.ts): the client writes the _meta keys the instance reads, from
// one module (copied into the client package); no other file spells a key; the client speaks the
// SDK's protocol version.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fleetMeta, PROTOCOL_VERSION as CLIENT_PROTOCOL_VERSION } from '../../client/index.js';
import '../../servers/fleet/connectors.js'; // registers the connectors' person kinds (Slack user IDs)
import { META, PROTOCOL_VERSION } from '../../shared/base/wire.js';
import { attribute } from '../../shared/call/attribution.js';

const root = join(import.meta.dirname, '../..');
const sources = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter(
      (e) =>
        e.isFile() &&
        /\.(ts|mjs)$/.test(e.name) &&
        !/(^|\/)(dist|node_modules)(\/|$)/.test(relative(root, e.parentPath)),
    )
    .map((e) => relative(root, join(e.parentPath, e.name)));

describe('the wire contract', () => {
  it('what the client writes, the instance reads back: actor, thread and reason', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9]{0,11}$/);
    const ctx = fc.record({
      actor: fc.oneof(
        fc.stringMatching(/^U[0-9A-Z]{8,10}$/),
        fc.tuple(word, word).map(([a, b]) => `${a}@${b}.example`),
      ),
      thread: fc
        .tuple(
          fc.stringMatching(/^C[0-9A-Z]{8,10}$/),
          fc.integer({ min: 1_000_000_000, max: 1_999_999_999 }),
          fc.integer({ min: 0, max: 999_999 }),
        )
        .map(([c, s, u]) => `${c}/${s}.${String(u).padStart(6, '0')}`),
      reason: word,
      idempotencyKey: word,
    });
    fc.assert(
      fc.property(ctx, (c) => {
        const meta = fleetMeta(c);
        expect(Object.keys(meta).sort()).toEqual(
          Object.values(META)
            .filter((k) => k !== META.actorToken)
            .sort(),
        );
        expect(meta[META.idempotencyKey]).toBe(c.idempotencyKey);
        const a = attribute(meta, {}, undefined, { id: 'bot', via: 'bearer' });
        expect({ actor: a.actor, thread: a.thread, reason: a.reason, via: a.via }).toEqual({
          actor: c.actor,
          thread: c.thread,
          reason: c.reason,
          via: 'meta',
        });
      }),
    );
  });

  it('no file but shared/base/wire.ts spells a _meta key in code (comments aside)', () => {
    const key = new RegExp(
      Object.values(META)
        .map((k) => k.replace('/', '\\/'))
        .join('|'),
    );
    const found: string[] = [];
    for (const file of ['servers', 'shared', 'client', 'examples'].flatMap(sources)) {
      if (file === join('shared', 'base', 'wire.ts') || file === join('client', 'wire.ts')) continue;
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (key.test(line) && !/^\s*(\/\/|\/?\*)/.test(line)) found.push(`${file}:${i + 1}`);
        });
    }
    expect(found).toEqual([]);
  });

  it("the client's copy of the contract is the instance's, byte for byte", () => {
    expect(readFileSync(join(root, 'client/wire.ts'), 'utf8')).toBe(
      readFileSync(join(root, 'shared/base/wire.ts'), 'utf8'),
    );
  });

  it("the client speaks the SDK's latest protocol version", () => {
    expect(PROTOCOL_VERSION).toBe(LATEST_PROTOCOL_VERSION);
    expect(CLIENT_PROTOCOL_VERSION).toBe(PROTOCOL_VERSION);
  });
});
