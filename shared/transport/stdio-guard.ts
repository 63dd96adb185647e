// What stands between stdin and the MCP SDK's stdio transport. The SDK's transport stops reading
// for good when one line outgrows its buffer, ignores a line that is not JSON without answering,
// and decodes invalid UTF-8 into replacement characters. Here every line is checked first: an
// oversized line, bytes that are not UTF-8, text that is not JSON, JSON that is not one JSON-RPC
// 2.0 message the SDK can take (a batch, an empty array, an id that is neither a string nor an
// integer, a method that is not a string...), or a request before `initialize` is answered with a
// JSON-RPC error (naming the request's id where one can be found) and dropped, and the server goes
// on reading the next line. A leading UTF-8 BOM is dropped. Nothing a client sends is left unanswered.
import { PassThrough, type Readable } from 'node:stream';

export const MAX_LINE = 16 * 1024 * 1024;
const PEEK = 512;

export interface WireError {
  jsonrpc: '2.0';
  id: string | number | null;
  error: { code: number; message: string };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ID_TAIL = /"id"\s*:\s*(-?\d{1,16}|"(?:[^"\\]|\\.){0,200}")\s*\}\s*$/;
const ID_HEAD = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d{1,16}|"(?:[^"\\]|\\.){0,200}")/;

/** The id of a request that could not be parsed, from its first or last bytes (clients put it at one end). */
function findId(head: string, tail: string): string | number | null {
  const m = ID_TAIL.exec(tail) ?? ID_HEAD.exec(head);
  if (!m) return null;
  try {
    return JSON.parse(m[1]!) as string | number;
  } catch {
    return null;
  }
}

const validId = (id: unknown): id is string | number =>
  typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a parsed line is not one JSON-RPC 2.0 message the server can take; undefined when it is. */
export function wireProblem(msg: unknown): string | undefined {
  if (Array.isArray(msg)) {
    return msg.length
      ? 'a JSON-RPC batch; MCP takes one message per line (batches were removed in protocol 2025-06-18)'
      : 'an empty array; send one JSON-RPC message per line';
  }
  if (!isObject(msg)) return 'not a JSON-RPC message (a JSON object)';
  if (msg.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  if ('id' in msg && !validId(msg.id))
    return `the id must be a string or an integer, not ${msg.id === null ? 'null' : typeof msg.id === 'number' ? 'a fraction' : `a${Array.isArray(msg.id) ? 'n array' : typeof msg.id === 'object' ? 'n object' : ` ${typeof msg.id}`}`}`;
  if ('method' in msg) {
    if (typeof msg.method !== 'string' || !msg.method) return 'the method must be a non-empty string';
    if ('params' in msg && msg.params !== undefined && !isObject(msg.params)) return 'params must be an object';
    return undefined;
  }
  if (!('id' in msg)) return 'neither a request (no method) nor a response (no id)';
  if ('result' in msg === 'error' in msg) return 'a response must carry exactly one of result and error';
  return undefined;
}

/**
 * Returns the stream the SDK transport should read: only whole, UTF-8, JSON lines, and nothing but
 * `initialize` and `ping` until `initialize` has been seen. `reply` sends an error to the client.
 */
export function guardStdin(input: Readable, reply: (e: WireError | WireError[]) => void, maxLine = MAX_LINE): Readable {
  const out = new PassThrough();
  let parts: Buffer[] = [];
  let size = 0;
  let head = '';
  let tail = Buffer.alloc(0);
  let initialized = false;
  const fail = (id: string | number | null, code: number, message: string) =>
    reply({ jsonrpc: '2.0', id, error: { code, message } });

  const line = (buf: Buffer) => {
    if (buf.length === 0 || (buf.length === 1 && buf[0] === 13)) return;
    let text: string;
    try {
      text = utf8.decode(buf);
    } catch {
      const latin = buf.subarray(0, PEEK).toString('latin1');
      return fail(
        findId(latin, buf.subarray(-PEEK).toString('latin1')),
        -32700,
        'parse error: the line is not valid UTF-8',
      );
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return fail(findId(text.slice(0, PEEK), text.slice(-PEEK)), -32700, 'parse error: the line is not JSON');
    }
    const problem = wireProblem(msg);
    if (problem) {
      const error = (id: string | number | null): WireError => ({
        jsonrpc: '2.0',
        id,
        error: { code: -32600, message: `invalid request: ${problem}` },
      });
      // a batch is answered as a batch: one error per member that carries an id
      const ids = Array.isArray(msg)
        ? msg.map((x) => (isObject(x) && validId(x.id) ? x.id : undefined)).filter((x) => x !== undefined)
        : [];
      if (ids.length) return reply(ids.map(error));
      const own = isObject(msg) && validId(msg.id) ? msg.id : null;
      return reply(error(own));
    }
    const m = msg as { method?: unknown; id?: unknown };
    if (!initialized && m && typeof m === 'object' && typeof m.method === 'string') {
      if (m.method === 'initialize') initialized = true;
      else if (m.method !== 'ping' && !m.method.startsWith('notifications/')) {
        const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : null;
        return id === null
          ? undefined
          : fail(id, -32600, `invalid request: ${m.method} before initialize; send initialize first`);
      }
    }
    // the decoded text, not the bytes: the decoder dropped a leading UTF-8 BOM, which the SDK's
    // JSON.parse would choke on, leaving the line unanswered
    out.write(text.length === buf.length ? buf : text);
    out.write('\n');
  };

  const oversize = () => {
    const start = head;
    const end = tail.toString('latin1');
    fail(
      findId(start, end),
      -32600,
      `invalid request: a message of more than ${maxLine} bytes; the limit is ${maxLine} bytes per line`,
    );
  };

  input.on('data', (chunk: Buffer) => {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      const piece = chunk.subarray(from, nl < 0 ? chunk.length : nl);
      if (size <= maxLine) {
        if (size === 0) head = piece.subarray(0, PEEK).toString('latin1');
        if (size + piece.length <= maxLine) parts.push(piece);
        else parts = [];
      }
      size += piece.length;
      if (size > maxLine) tail = Buffer.concat([tail, piece]).subarray(-PEEK);
      if (nl < 0) break;
      if (size > maxLine) oversize();
      else line(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      parts = [];
      size = 0;
      tail = Buffer.alloc(0);
      from = nl + 1;
    }
  });
  input.on('end', () => out.end());
  input.on('error', (e) => out.destroy(e));
  return out;
}
