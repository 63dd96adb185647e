// The v4 wire format the sandbox speaks: the {success, errors, messages, result, result_info}
// envelope, errors as 4xx/5xx with codes, page and cursor pagination.
import type { Reply } from '../../../shared/connector/emulator.js';

export class CfError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const ok = (result: unknown, result_info?: unknown): Reply => ({
  json: { success: true, errors: [], messages: [], result, ...(result_info ? { result_info } : {}) },
});

export const failure = (status: number, code: number, message: string): Reply => ({
  status,
  json: { success: false, errors: [{ code, message }], messages: [], result: null },
});

const int = (v: string | null, fallback: number, lo: number, hi: number) => {
  const n = v === null ? fallback : Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new CfError(400, 10001, `invalid pagination parameter: ${v}`);
  return n;
};

/** Page-number pagination: past the last page the result is empty, as the SDK expects. */
export function paged<T>(items: T[], q: URLSearchParams, perPage = 20, max = 100): Reply {
  const page = int(q.get('page'), 1, 1, 1e6);
  const per_page = int(q.get('per_page'), perPage, 1, max);
  const slice = items.slice((page - 1) * per_page, page * per_page);
  return ok(slice, {
    page,
    per_page,
    count: slice.length,
    total_count: items.length,
    total_pages: Math.ceil(items.length / per_page),
  });
}

/** Cursor pagination (KV keys, R2 objects): `cursor` is empty on the last page. */
export function cursored<T>(
  items: T[],
  q: URLSearchParams,
  limitKey: string,
  fallback: number,
  lo: number,
  hi: number,
) {
  const limit = int(q.get(limitKey), fallback, lo, hi);
  let offset = 0;
  const c = q.get('cursor');
  if (c) {
    const m = /^o:(\d+)$/.exec(Buffer.from(c, 'base64url').toString());
    if (!m) throw new CfError(400, 10001, 'invalid cursor');
    offset = Number(m[1]);
  }
  const slice = items.slice(offset, offset + limit);
  const more = offset + limit < items.length;
  return { slice, cursor: more ? Buffer.from(`o:${offset + limit}`).toString('base64url') : '', limit, more };
}

/** A multipart/form-data body, parsed by the platform's own parser (undici). */
export async function formData(body: Buffer, contentType: string | undefined): Promise<FormData> {
  if (!contentType?.toLowerCase().startsWith('multipart/form-data') || !/boundary=/i.test(contentType)) {
    throw new CfError(
      400,
      10021,
      `expected a multipart/form-data body with a boundary, got ${contentType ?? 'no Content-Type'}`,
    );
  }
  try {
    return await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  } catch (e) {
    throw new CfError(400, 10021, `could not parse the multipart body: ${(e as Error).message}`);
  }
}

export function json(body: Buffer): Record<string, unknown> {
  if (!body.length) return {};
  try {
    const v = JSON.parse(body.toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    /* fall through */
  }
  throw new CfError(400, 10001, 'the request body is not a JSON object');
}
