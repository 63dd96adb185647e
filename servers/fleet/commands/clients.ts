// `fleet clients mint NAME`: a new bearer token for one client of scopes/clients.yaml. The token is
// printed once, on stdout; only its sha256 is written to the file (comments and order kept). The
// client's previous token stops working as soon as the servers reload the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { CLIENTS_FILE, parseClients } from '../../../shared/manifest/clients.js';
import { mintToken, tokenHash } from '../../../shared/transport/http/auth/bearer.js';
import { BadIdentifier, client, known } from '../../../shared/base/identity.js';

export function mintCmd(name: string, o: { scopes: string }): number {
  const file = join(o.scopes, CLIENTS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} does not exist: declare the client there first (owner, purpose, instances)`);
  }
  const clients = parseClients(text, file);
  try {
    known(name, client, Object.keys(clients.clients), 'the client');
  } catch (e) {
    if (!(e instanceof BadIdentifier)) throw e;
    throw new Error(`${file}: ${e.message}; declare it first with its owner, purpose and instances`);
  }
  const c = clients.clients[name]!;
  if (c.jwt) throw new Error(`${file}:${clients.line(`clients.${name}.jwt`)}: client ${name} proves itself with a JWT from ${c.jwt.issuer}; it has no bearer token to mint`);
  const token = mintToken();
  const doc = parseDocument(text);
  doc.setIn(['clients', name, 'token'], `sha256:${tokenHash(token)}`);
  if (doc.hasIn(['clients', name, 'revoked'])) doc.deleteIn(['clients', name, 'revoked']);
  writeFileSync(file, doc.toString());
  process.stderr.write(`fleet: minted a token for ${name} (${c.instances.join(', ')}); ${file} now holds only its sha256. It is shown once:\n`);
  process.stdout.write(`${token}\n`);
  return 0;
}
