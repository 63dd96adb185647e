// `fleet clients mint NAME`: a new bearer token for one client of scopes/clients.yaml. The token is
// printed once, on stdout; only its sha256 is written to the file. The file is reviewed in pull
// requests, so only that one entry's lines change: every other byte (comments, wrapping, flow
// collections, other clients) stays as written. The client's previous token stops working as soon
// as the servers reload the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument, type Pair } from 'yaml';
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
  // a client is declared first (owner, purpose, instances) and has no credential until it is minted
  const declared =
    (parseDocument(text).toJS() as { clients?: Record<string, { jwt?: { issuer?: string } }> } | null)?.clients ?? {};
  try {
    known(name, client, Object.keys(declared), 'the client');
  } catch (e) {
    if (!(e instanceof BadIdentifier)) throw e;
    throw new Error(`${file}: ${e.message}; declare it first with its owner, purpose and instances`);
  }
  const jwt = declared[name]?.jwt;
  if (jwt)
    throw new Error(
      `${file}: client ${name} proves itself with a JWT from ${jwt.issuer}; it has no bearer token to mint`,
    );
  const token = mintToken();
  const next = withToken(text, name, `sha256:${tokenHash(token)}`);
  const clients = parseClients(next, file); // the file as it will be: never written if it is not valid
  const c = clients.clients[name]!;
  writeFileSync(file, next);
  process.stderr.write(
    `fleet: minted a token for ${name} (${c.instances.join(', ')}); ${file} now holds only its sha256. It is shown once:\n`,
  );
  process.stdout.write(`${token}\n`);
  return 0;
}

/**
 * The text with client `name`'s token set to `value` (and its `revoked` line gone), edited in place at
 * the positions the parser reports; a layout it cannot edit in place (a flow mapping) is re-printed.
 */
export function withToken(text: string, name: string, value: string): string {
  const doc = parseDocument(text);
  const client = doc.getIn(['clients', name], true);
  const reprint = () => {
    doc.setIn(['clients', name, 'token'], value);
    if (doc.hasIn(['clients', name, 'revoked'])) doc.deleteIn(['clients', name, 'revoked']);
    return doc.toString();
  };
  if (!isMap(client) || client.flow || !client.items.length) return reprint();
  const pair = (k: string) =>
    client.items.find((p) => isScalar(p.key) && p.key.value === k) as Pair<any, any> | undefined;
  const lineStart = (at: number) => text.lastIndexOf('\n', at - 1) + 1;
  const lineEnd = (at: number) => (text.indexOf('\n', at) < 0 ? text.length : text.indexOf('\n', at) + 1);
  const edits: { from: number; to: number; insert: string }[] = [];
  const token = pair('token');
  if (token && isScalar(token.value) && token.value.range) {
    edits.push({ from: token.value.range[0], to: token.value.range[1], insert: value });
  } else {
    // a new line after the client's last entry, indented like its first
    const first = client.items[0]!.key as { range?: [number, number, number] };
    const last = client.items[client.items.length - 1]!;
    const end = ((last.value ?? last.key) as { range?: [number, number, number] }).range;
    if (!first.range || !end) return reprint();
    const indent = ' '.repeat(first.range[0] - lineStart(first.range[0]));
    const at = lineEnd(end[1] - 1);
    edits.push({
      from: at,
      to: at,
      insert: `${at === text.length && !text.endsWith('\n') ? '\n' : ''}${indent}token: ${value}\n`,
    });
  }
  const revoked = pair('revoked');
  if (revoked) {
    const k = (revoked.key as { range?: [number, number, number] }).range;
    const v = ((revoked.value ?? revoked.key) as { range?: [number, number, number] }).range;
    if (!k || !v) return reprint();
    edits.push({ from: lineStart(k[0]), to: lineEnd(v[1] - 1), insert: '' });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.insert + out.slice(e.to);
  // the edit must say exactly what was meant, or the file is re-printed instead
  const check = parseDocument(out);
  return check.errors.length ||
    check.getIn(['clients', name, 'token']) !== value ||
    check.hasIn(['clients', name, 'revoked'])
    ? reprint()
    : out;
}
