// Hostile input on the wire, over a raw pipe: garbage and truncated JSON-RPC lines, a 10 MB
// argument and a line over the limit, invalid UTF-8, deeply nested JSON, unknown methods and
// tools, wrong types, calls before initialize. Each gets a JSON-RPC error or an isError result,
// the next valid request is still answered, and stdout carries nothing but JSON-RPC.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LINE } from '../../shared/transport/stdio-guard.js';
import { auditRecords } from '../helpers.js';
import { manifestOf, runs } from './instances.js';
import { onlyJsonRpc, rawServe, type Raw } from './raw.js';

const VALID: Record<string, { name: string; arguments: Record<string, unknown> }> = {
  slack: { name: 'get_user', arguments: { user: 'U0DEVALICE' } },
  cloudflare: { name: 'get_worker', arguments: { name: 'blogbot-dev' } },
  doppler: { name: 'list_secret_names', arguments: { config: 'dev' } },
};

let next = 1000;
/**
 * A valid call, answered with a result that is not an error: the server is still serving. Its id
 * is longer than any id the fuzzers generate (integers, strings of up to 8 characters), so no
 * generated request can be mistaken for it; a JSON-RPC error is not "still serving".
 */
async function stillServing(s: Raw, connector: string): Promise<void> {
  const id = `still-serving-${next++}`;
  s.send({ id, method: 'tools/call', params: VALID[connector] });
  const m = await s.answer(id);
  const seen = JSON.stringify(m).slice(0, 300);
  expect(m.error, seen).toBeUndefined();
  expect(m.result?.isError, seen).toBeFalsy();
  expect(m.result?.content?.length, seen).toBeGreaterThan(0);
}

const request = fc.record({
  id: fc.oneof(fc.integer({ min: 1, max: 1e6 }), fc.string({ minLength: 1, maxLength: 8 })),
  method: fc.constantFrom('tools/call', 'tools/list', 'ping', 'initialize', 'resources/list'),
  params: fc.oneof(fc.constant(undefined), fc.record({ name: fc.string(), arguments: fc.anything() }), fc.anything()),
});

/** Lines no client should send: random text, cut-off messages, JSON that is not a JSON-RPC request. */
const hostileLine: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }).map((s) => s.replace(/\n/g, ' ')),
  fc.tuple(request, fc.nat()).map(([r, n]) => {
    const t = JSON.stringify({ jsonrpc: '2.0', ...r });
    return t.slice(0, n % t.length);
  }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  request.map((r) => JSON.stringify({ jsonrpc: '1.0', ...r })),
  request.map((r) => JSON.stringify({ ...r, jsonrpc: '2.0', id: { nested: r.id } })),
  fc.constantFrom(
    '{',
    '}',
    '[]',
    'null',
    '""',
    '{"jsonrpc":"2.0"}',
    '{"jsonrpc":"2.0","method":null}',
    '\u0000\u0000',
    '\ufeff{}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_user","arguments":{"user":"U0DEVALICE"}}}}',
  ),
);

describe.each(['slack', 'cloudflare', 'doppler'])('wire: %s', (connector) => {
  let s: Raw;
  beforeAll(async () => {
    // every generated batch is followed by a real call: 150 of them a minute is past Slack's Tier 2/3
    // budget, which the sandbox enforces; this suite is about the wire, so the windows are shortened
    s = rawServe([connector, '--env', 'dev', '--sandbox'], { FLEET_SANDBOX_SPEEDUP: '6000' });
    await s.init();
  });
  afterAll(async () => {
    await s.close();
  });

  it(`${runs(150)} generated garbage lines: stdout stays JSON-RPC, the server keeps serving`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileLine, { minLength: 1, maxLength: 5 }), async (batch) => {
        s.write(`${batch.join('\n')}\n`);
        await stillServing(s, connector);
      }),
      { numRuns: runs(150), endOnFailure: true },
    );
    expect(onlyJsonRpc(s.lines)).toEqual([]);
    expect(s.child.exitCode).toBeNull();
  }, 120_000);
});

describe('wire: one server, each hostile case named', () => {
  let s: Raw;
  beforeAll(() => {
    s = rawServe(['slack', '--env', 'dev', '--sandbox']);
  });
  afterAll(async () => {
    await s.close();
  });

  it('refuses calls before initialize with an error naming the request, and answers ping', async () => {
    s.send({ id: 'early-call', method: 'tools/call', params: VALID.slack });
    s.send({ id: 'early-list', method: 'tools/list' });
    s.send({ id: 'early-ping', method: 'ping' });
    expect((await s.answer('early-call')).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining('before initialize'),
    });
    expect((await s.answer('early-list')).error?.code).toBe(-32600);
    expect((await s.answer('early-ping')).result).toEqual({});
    await s.init();
    await stillServing(s, 'slack');
  });

  it('answers garbage with a parse error, naming the id of a truncated request', async () => {
    s.write('this is not json\n');
    s.write('{"jsonrpc":"2.0","id":"cut","method":"tools/call","params":{"name":"get_\n');
    expect((await s.answer('cut')).error).toMatchObject({ code: -32700 });
    expect(s.lines.some((l) => l.includes('"id":null') && l.includes('-32700'))).toBe(true);
    await stillServing(s, 'slack');
  });

  it('answers a line of bytes that are not UTF-8 with a parse error', async () => {
    const head = Buffer.from(
      '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"post_message","arguments":{"channel":"C0DEVBOTTEST","text":"',
    );
    const tail = Buffer.from('"}},"id":"utf8"}\n');
    s.write(Buffer.concat([head, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), tail]));
    expect((await s.answer('utf8')).error).toMatchObject({ code: -32700, message: expect.stringContaining('UTF-8') });
    await stillServing(s, 'slack');
  });

  it('refuses a 10 MB argument with an isError result, and a line over the limit with an error', async () => {
    s.send({
      id: 'ten-mb',
      method: 'tools/call',
      params: { name: 'post_message', arguments: { channel: 'C0DEVBOTTEST', text: 'x'.repeat(10 * 1024 * 1024) } },
    });
    const ten = await s.answer('ten-mb', 30_000);
    expect(ten.result?.isError).toBe(true);
    expect(ten.result.content[0].text).toMatch(/invalid arguments for post_message: text/);
    s.send({
      id: 'too-big',
      method: 'tools/call',
      params: { name: 'post_message', arguments: { channel: 'C0DEVBOTTEST', text: 'y'.repeat(MAX_LINE + 10) } },
    });
    expect((await s.answer('too-big', 30_000)).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining(`${MAX_LINE} bytes`),
    });
    await stillServing(s, 'slack');
  }, 60_000);

  it('survives deeply nested JSON in arguments, _meta and params', async () => {
    // written as text: the test's own JSON.stringify could not serialise this depth
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    s.write(
      `{"jsonrpc":"2.0","id":"deep-args","method":"tools/call","params":{"name":"get_user","arguments":{"user":${deep(100_000)}}}}\n`,
    );
    s.write(
      `{"jsonrpc":"2.0","id":"deep-extra","method":"tools/call","params":{"name":"get_user","arguments":{"user":"U0DEVALICE","extra":${deep(100_000)}}}}\n`,
    );
    s.write(
      `{"jsonrpc":"2.0","id":"deep-meta","method":"tools/call","params":{"name":"get_user","arguments":{"user":"U0DEVALICE"},"_meta":{"fleet/actor":${deep(100_000)}}}}\n`,
    );
    s.write(
      `{"jsonrpc":"2.0","id":"deep-params","method":"tools/list","params":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}\n`,
    );
    expect((await s.answer('deep-args')).result?.isError).toBe(true);
    expect((await s.answer('deep-extra')).result?.isError).toBeFalsy();
    const meta = await s.answer('deep-meta');
    expect(meta.result?.isError ?? !!meta.error).toBe(true);
    // tools/list ignores params it does not know, however deep: the same list as ever
    const params = await s.answer('deep-params');
    expect(params.error).toBeUndefined();
    expect(params.result?.tools?.map((t: { name: string }) => t.name).sort()).toEqual(
      Object.keys(manifestOf('slack', 'dev').tools).sort(),
    );
    await stillServing(s, 'slack');
  }, 30_000);

  it('answers unknown methods, unknown tools and wrong types, and audits the tool calls', async () => {
    s.send({ id: 'm1', method: 'tools/destroy' });
    s.send({ id: 'm2', method: 'tools/call', params: { name: 'drop_workspace', arguments: {} } });
    s.send({
      id: 'm3',
      method: 'tools/call',
      params: { name: 'post_message', arguments: { channel: 12, text: ['x'] } },
    });
    s.send({ id: 'm4', method: 'tools/call', params: { name: 42 } });
    s.send({ id: 'm5', method: 'tools/call', params: { name: 'get_user', arguments: 'U0DEVALICE' } });
    expect((await s.answer('m1')).error?.code).toBe(-32601);
    expect((await s.answer('m2')).result).toMatchObject({
      isError: true,
      content: [{ text: expect.stringContaining('unknown tool "drop_workspace"') }],
    });
    expect((await s.answer('m3')).result).toMatchObject({
      isError: true,
      content: [{ text: expect.stringMatching(/invalid arguments for post_message: channel: .*; text: /) }],
    });
    // malformed params are a JSON-RPC error naming the field (the SDK answers -32603), not a tool result
    const m4 = await s.answer('m4');
    expect(m4.result).toBeUndefined();
    expect(m4.error).toMatchObject({
      code: -32603,
      message: expect.stringMatching(/"name"[\s\S]*expected string, received number/),
    });
    const m5 = await s.answer('m5');
    expect(m5.result).toBeUndefined();
    expect(m5.error).toMatchObject({
      code: -32603,
      message: expect.stringMatching(/"arguments"[\s\S]*expected record, received string/),
    });
    await stillServing(s, 'slack');
    const audit = auditRecords(`${s.auditDir}/slack.dev.jsonl`);
    expect(audit.some((r) => r.tool === 'drop_workspace' && r.decision === 'deny' && r.rule === 'tools')).toBe(true);
    expect(audit.some((r) => r.tool === 'post_message' && r.decision === 'deny' && r.rule === 'input')).toBe(true);
    expect(onlyJsonRpc(s.lines)).toEqual([]);
  });

  // Every line gets an answer, whatever it starts with or however it is encoded: a UTF-8 BOM
  // (Windows editors and PowerShell pipes add one), CRLF endings, UTF-16 with or without its BOM.
  const call = (id: string) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: VALID.slack });
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  it.each([
    ['a UTF-8 BOM before a call', (id: string) => Buffer.concat([bom, Buffer.from(`${call(id)}\n`)]), 'result'],
    ['a UTF-8 BOM and a CRLF ending', (id: string) => Buffer.concat([bom, Buffer.from(`${call(id)}\r\n`)]), 'result'],
    ['a CRLF ending', (id: string) => Buffer.from(`${call(id)}\r\n`), 'result'],
    ['two UTF-8 BOMs', (id: string) => Buffer.concat([bom, bom, Buffer.from(`${call(id)}\n`)]), -32700],
    [
      'a BOM inside the line, before the id',
      (id: string) => Buffer.from(`${call(id).replace('"id"', '\ufeff"id"')}\n`),
      -32700,
    ],
    [
      'UTF-16LE with its BOM',
      (id: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(call(id), 'utf16le'), Buffer.from('\n')]),
      -32700,
    ],
    [
      'UTF-16BE with its BOM',
      (id: string) =>
        Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(call(id), 'utf16le').swap16(), Buffer.from('\n')]),
      -32700,
    ],
    [
      'UTF-16LE without a BOM',
      (id: string) => Buffer.concat([Buffer.from(call(id), 'utf16le'), Buffer.from('\n')]),
      -32700,
    ],
    [
      'Latin-1 text in a string',
      (id: string) => Buffer.from(`${call(id).replace('U0DEVALICE', 'U0DEV\u00e9')}\n`, 'latin1'),
      -32700,
    ],
  ] as const)('answers %s', async (what, bytes, expected) => {
    const id = `enc-${what.replace(/\W+/g, '-')}`;
    const before = s.lines.length;
    s.write(bytes(id));
    if (expected === 'result') {
      const m = await s.answer(id);
      expect(m.error, JSON.stringify(m).slice(0, 300)).toBeUndefined();
      expect(m.result?.isError).toBeFalsy();
    } else {
      // the id cannot always be read from bytes in another encoding: then the answer names id null
      const m = await Promise.race([s.answer(id), nullIdError(before)]);
      expect(m.error).toMatchObject({ code: expected });
    }
    await stillServing(s, 'slack');
  });

  /** Waits for the next line after `from` that is an error with a null id, and returns it. */
  async function nullIdError(from: number): Promise<Record<string, any>> {
    for (let spins = 0; spins < 1500; spins++) {
      const hit = s.lines
        .slice(from)
        .map((l) => JSON.parse(l))
        .find((m) => !Array.isArray(m) && m.id === null && m.error);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no error with a null id after line ${from}; stderr: ${s.stderr().slice(-300)}`);
  }

  it('answers a batch as a batch of errors, one per request, and keeps serving', async () => {
    const before = s.lines.length;
    s.write(
      `${JSON.stringify([
        { jsonrpc: '2.0', id: 'b1', method: 'tools/list' },
        { jsonrpc: '2.0', method: 'notifications/progress' },
        { jsonrpc: '2.0', id: 7, method: 'tools/call', params: VALID.slack },
      ])}\n`,
    );
    expect((await s.answer('b1')).error).toMatchObject({ code: -32600, message: expect.stringContaining('batch') });
    expect((await s.answer(7)).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining('one message per line'),
    });
    const answer = s.lines
      .slice(before)
      .map((l) => JSON.parse(l))
      .find(Array.isArray);
    expect(answer?.map((m: { id: unknown }) => m.id)).toEqual(['b1', 7]);
    await stillServing(s, 'slack');
  });

  it.each([
    ['an empty array', '[]', 'an empty array'],
    ['a batch of notifications only', '[{"jsonrpc":"2.0","method":"notifications/initialized"}]', 'batch'],
    ['a batch of garbage', '[1, "x", null]', 'batch'],
    ['an object id', '{"jsonrpc":"2.0","id":{"n":1},"method":"tools/list"}', 'an object'],
    ['an array id', '{"jsonrpc":"2.0","id":[1],"method":"tools/list"}', 'an array'],
    ['a boolean id', '{"jsonrpc":"2.0","id":true,"method":"tools/list"}', 'a boolean'],
    ['a fractional id', '{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}', 'a fraction'],
    ['a null id', '{"jsonrpc":"2.0","id":null,"method":"tools/list"}', 'null'],
    ['a number method', '{"jsonrpc":"2.0","id":null,"method":5}', 'null'],
    [
      'params that are not an object',
      '{"jsonrpc":"2.0","id":"p","method":"tools/list","params":[1]}',
      'params must be an object',
    ],
    ['a bare number', '42', 'not a JSON-RPC message'],
    ['JSON null', 'null', 'not a JSON-RPC message'],
    ['jsonrpc 1.0', '{"jsonrpc":"1.0","id":"old","method":"tools/list"}', 'jsonrpc must be "2.0"'],
    ['a response with neither result nor error', '{"jsonrpc":"2.0","id":"r"}', 'exactly one of result and error'],
  ])('answers %s with a JSON-RPC error naming the reason', async (_what, line, reason) => {
    const before = s.lines.length;
    s.write(`${line}\n`);
    const own = /"id":"(p|old|r)"/.exec(line)?.[1];
    const m = own ? await s.answer(own) : await nullIdError(before);
    expect(m.error).toMatchObject({ code: -32600, message: expect.stringContaining(reason) });
    await stillServing(s, 'slack');
  });
});
