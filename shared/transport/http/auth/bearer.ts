// Bearer tokens minted by `fleet clients mint`: high-entropy, shown once, stored only as a sha256
// (or resolved from an env:/doppler: reference at start and hashed then). A presented token is
// hashed and compared with every known hash in constant time, with no early exit.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'fleet_';

export function mintToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface BearerEntry {
  client: string;
  hash: Buffer;
  revoked: boolean;
}

export class BearerTokens {
  private readonly entries: BearerEntry[] = [];

  add(client: string, hashHex: string, revoked: boolean): void {
    this.entries.push({ client, hash: Buffer.from(hashHex, 'hex'), revoked });
  }

  /** the entry whose hash matches, compared against every entry */
  match(token: string): BearerEntry | undefined {
    const presented = Buffer.from(tokenHash(token), 'hex');
    let found: BearerEntry | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(presented, e.hash) && !found) found = e;
    }
    return found;
  }
}
