// What stands between stdin and the MCP SDK's stdio transport. The SDK's transport stops reading
// for good when one line outgrows its buffer, ignores a line that is not JSON without answering,
// and decodes invalid UTF-8 into replacement characters. Here every line is checked first: an
// oversized line, bytes that are not UTF-8, text that is not JSON, or a request before
// `initialize` is answered with a JSON-RPC error (naming the request's id where one can be found)
// and dropped, and the server goes on reading the next line.
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

/**
 * Returns the stream the SDK transport should read: only whole, UTF-8, JSON lines, and nothing but
 * `initialize` and `ping` until `initialize` has been seen. `reply` sends an error to the client.
 */
export function guardStdin(input: Readable, reply: (e: WireError) => void, maxLine = MAX_LINE): Readable {
  const out = new PassThrough();
  let parts: Buffer[] = [];
  let size = 0;
  let head = '';
  let tail = Buffer.alloc(0);
  let initialized = false;
  const fail = (id: string | number | null, code: number, message: string) => reply({ jsonrpc: '2.0', id, error: { code, message } });

  const line = (buf: Buffer) => {
    if (buf.length === 0 || (buf.length === 1 && buf[0] === 13)) return;
    let text: string;
    try {
      text = utf8.decode(buf);
    } catch {
      const latin = buf.subarray(0, PEEK).toString('latin1');
      return fail(findId(latin, buf.subarray(-PEEK).toString('latin1')), -32700, 'parse error: the line is not valid UTF-8');
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return fail(findId(text.slice(0, PEEK), text.slice(-PEEK)), -32700, 'parse error: the line is not JSON');
    }
    const m = msg as { method?: unknown; id?: unknown };
    if (!initialized && m && typeof m === 'object' && typeof m.method === 'string') {
      if (m.method === 'initialize') initialized = true;
      else if (m.method !== 'ping' && !m.method.startsWith('notifications/')) {
        const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : null;
        return id === null ? undefined : fail(id, -32600, `invalid request: ${m.method} before initialize; send initialize first`);
      }
    }
    out.write(buf);
    out.write('\n');
  };

  const oversize = () => {
    const start = head;
    const end = tail.toString('latin1');
    fail(findId(start, end), -32600, `invalid request: a message of more than ${maxLine} bytes; the limit is ${maxLine} bytes per line`);
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
