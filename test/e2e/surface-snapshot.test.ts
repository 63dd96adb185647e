// Each committed scopes/surface/<instance>.json must be exactly what a client of that instance
// sees: start the real server over stdio and compare its tools/list answer with the file.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestFiles } from '../../shared/review/verify.js';
import { SCOPES, serve } from '../helpers.js';

const instances = manifestFiles(SCOPES).map(
  (f) =>
    basename(f)
      .replace(/\.ya?ml$/, '')
      .split('.') as [string, string],
);

describe('tool-surface snapshots', () => {
  it('cover every shipped manifest', () => {
    expect(instances.length).toBeGreaterThan(0);
  });

  it.each(instances)('%s.%s: the snapshot equals the tools/list a client receives', async (connector, env) => {
    const s = await serve({ connector, env, sandbox: true });
    try {
      const listed = await s.client.listTools();
      const snapshot = JSON.parse(readFileSync(join(SCOPES, 'surface', `${connector}.${env}.json`), 'utf8'));
      expect({ tools: listed.tools }).toEqual(snapshot);
    } finally {
      await s.close();
    }
  });
});
