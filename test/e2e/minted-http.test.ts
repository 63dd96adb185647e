// The shipped production Cloudflare and Doppler instances mint their tokens; `--sandbox` must hand
// them a broker over HTTP too (what CI's mcp-check of each prod instance over Streamable HTTP runs):
// one `fleet serve --http --sandbox`, the SDK's Streamable HTTP client, the mint and the revoke on
// the trail of each instance.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash, mintToken } from '../../shared/transport/http/auth/bearer.js';
import { connect, httpScopes, serveHttp, type HttpServed } from '../http-helpers.js';
import { auditRecords, waitFor } from '../helpers.js';

const token = mintToken();
let h: HttpServed;
const credential = (id: string) =>
  auditRecords(join(h.auditDir, `${id}.jsonl`)).filter((r) => r.phase === 'credential');

beforeAll(async () => {
  const scopes = httpScopes(`clients:
  ci-prod:
    owner: ci <ci@example.com>
    purpose: CI's checks of the production instances.
    instances: [cloudflare.prod, doppler.prod]
    token: sha256:${tokenHash(token)}
`);
  h = await serveHttp(['--instance', 'cloudflare.prod', '--instance', 'doppler.prod', '--sandbox', '--scopes', scopes]);
});
afterAll(async () => {
  await h?.stop();
});

describe('minted production instances over HTTP, in sandbox mode', () => {
  it.each(['cloudflare.prod', 'doppler.prod'])(
    '%s lists its tools on a token minted from the sandbox broker, and revokes it on stop',
    async (id) => {
      const client = await connect(`${h.url}/mcp/${id.replace('.', '/')}`, token);
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      await client.close();
      const mint = await waitFor(() => credential(id).find((r) => r.action === 'mint'));
      expect(mint).toMatchObject({ outcome: 'ok', instance: id });
      expect(Date.parse(mint.expires_on) - Date.now()).toBeLessThanOrEqual(3600_000);
    },
  );

  it('deletes both tokens when the server stops', async () => {
    expect(await h.stop()).toBe(0);
    for (const id of ['cloudflare.prod', 'doppler.prod'])
      expect(credential(id).map((r) => r.action)).toEqual(['mint', 'revoke']);
    expect(h.stderr()).not.toMatch(/cannot start|refusing/);
  });
});
