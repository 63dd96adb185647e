// A tool cannot forget what it touches: every argument of every tool says what governs it, the
// core derives the facts from that declaration, and a declaration that leaves an argument out is
// refused here (and by `fleet verify`, see the uncovered-argument corpus case).
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { CONNECTORS } from '../../servers/fleet/connectors.js';
import { messageFacts } from '../../servers/slack/common.js';
import { coverProblems, derivedFacts, lookedUp } from '../../shared/call/covers.js';
import { free, lookup, on, type ToolDef } from '../../shared/connector/tool.js';

const tools = Object.values(CONNECTORS).flatMap((c) => c.tools.map((t) => [`${c.name}.${t.name}`, t] as const));
const tool = (connector: string, name: string) => CONNECTORS[connector]!.tools.find((t) => t.name === name)! as ToolDef;

describe('covers', () => {
  it.each(tools)('%s covers every argument, names only its own constraints, and uses every constraint', (_id, t) => {
    expect(coverProblems(t as ToolDef)).toEqual([]);
  });

  it('refuses a declaration with an argument nothing governs, a cover for no argument, a constraint that governs nothing', () => {
    const post = tool('slack', 'post_message');
    const leaky = { ...post, input: post.input.extend({ also: z.string() }) } as ToolDef;
    expect(coverProblems(leaky)).toEqual([
      `post_message: argument "also" is governed by no constraint; cover it with on(<constraint>) or lookup(...), or declare it free('why')`,
    ]);
    const { channel: _dropped, ...rest } = post.covers as Record<string, unknown>;
    expect(coverProblems({ ...post, covers: rest } as ToolDef)).toEqual([
      `post_message: argument "channel" is governed by no constraint; cover it with on(<constraint>) or lookup(...), or declare it free('why')`,
      'post_message: constraint "channels" governs no argument, look-up or list, so a grant of it would check nothing',
    ]);
    expect(coverProblems({ ...post, covers: { ...post.covers, gone: { free: 'x' } } } as ToolDef)).toEqual([
      'post_message: covers names "gone", which is not an argument',
    ]);
    expect(coverProblems({ ...post, covers: { ...post.covers, channel: { on: 'chanels' } } } as ToolDef)).toContain(
      'post_message: argument "channel" names constraint "chanels", which the tool does not declare',
    );
  });

  it('accepts grant configuration that governs no argument, but never as the cover of an argument', () => {
    const smoke = tool('cloudflare', 'smoke_check_worker');
    expect(smoke.constraints.smoke!.configures).toBeTruthy();
    expect(coverProblems(smoke)).toEqual([]);
    const { configures: _c, ...check } = smoke.constraints.smoke!;
    expect(coverProblems({ ...smoke, constraints: { ...smoke.constraints, smoke: check } } as ToolDef)).toEqual([
      'smoke_check_worker: constraint "smoke" governs no argument, look-up or list, so a grant of it would check nothing',
    ]);
    expect(
      coverProblems({
        ...smoke,
        constraints: { ...smoke.constraints, smoke: { ...check, configures: ' ' } },
      } as ToolDef),
    ).toEqual(['smoke_check_worker: constraint "smoke" is declared configuration without a reason']);
    expect(
      coverProblems({ ...smoke, covers: { ...smoke.covers, name: [{ on: 'scripts' }, { on: 'smoke' }] } } as ToolDef),
    ).toEqual([
      'smoke_check_worker: argument "name" names constraint "smoke", which is grant configuration and checks no argument',
    ]);
  });

  it('derives the facts of a message from the arguments, as the tool once listed them by hand', () => {
    const body = 'ship it <!here> and @channel';
    expect(derivedFacts(tool('slack', 'post_message'), { channel: 'C0DEVBOTTEST', text: body })).toEqual(
      messageFacts('C0DEVBOTTEST', body),
    );
    expect(
      derivedFacts(tool('slack', 'add_reaction'), {
        channel: 'C0DEVBOTTEST',
        ts: '1767225600.000100',
        emoji: ':eyes:',
      }),
    ).toEqual([
      { on: 'channels', value: 'C0DEVBOTTEST' },
      { on: 'emoji', value: 'eyes' },
    ]);
  });

  it('derives one fact per element of a list argument and skips absent ones', () => {
    const deploy = tool('cloudflare', 'deploy_worker');
    const facts = derivedFacts(deploy, {
      name: 'blogbot-dev-x',
      source: 'x',
      bindings: [
        { name: 'A', type: 'kv_namespace', value: 'ns1' },
        { name: 'B', type: 'plain_text', value: 'not a resource' },
        { name: 'C', type: 'd1', value: 'db1' },
        { name: 'D', type: 'kv_namespace', value: 'ns2' },
      ],
    });
    expect(facts).toEqual([
      { on: 'scripts', value: 'blogbot-dev-x' },
      { on: 'namespaces', value: 'ns1' },
      { on: 'namespaces', value: 'ns2' },
      { on: 'databases', value: 'db1' },
    ]);
    expect(derivedFacts(tool('doppler', 'get_secret'), { config: 'dev', name: 'A', reveal: false })).toEqual([
      { on: 'configs', value: 'dev' },
      { on: 'secrets', value: 'A' },
    ]);
    expect(derivedFacts(tool('doppler', 'get_secret'), { config: 'dev', name: 'A', reveal: true })).toContainEqual({
      on: 'reveal',
      value: 'A',
    });
  });

  it('names the constraints a set argument is judged on by look-up', () => {
    expect(lookedUp(tool('cloudflare', 'd1_query'), { database_id: 'x', sql: 'SELECT 1' })).toEqual(['sql']);
    expect(lookedUp(tool('cloudflare', 'dns_delete_record'), { zone_id: 'z', id: 'r' })).toEqual(['names', 'types']);
  });
});

// A declaration built here, so each case names exactly what it holds (edges the mutation check,
// docs/mutation.md, found unpinned).
describe('covers on a declaration built here', () => {
  const c = {
    schema: z.array(z.string()),
    required: true,
    noun: 'x',
    allows: () => true,
    refusal: () => '',
    instead: () => '',
  };
  const made = (covers: Record<string, unknown>) =>
    ({
      name: 't',
      input: z.object({ a: z.string(), b: z.string().optional() }),
      constraints: { x: c, k: c },
      covers,
    }) as unknown as ToolDef;

  it('derives nothing, and looks nothing up, for an argument that is absent', () => {
    const t = made({ a: on('x'), b: [on('x', (v: string) => v.length), lookup('k')] });
    expect(derivedFacts(t, { a: 'one' })).toEqual([{ on: 'x', value: 'one' }]);
    expect(derivedFacts(t, { a: 'one', b: 'four' })).toEqual([
      { on: 'x', value: 'one' },
      { on: 'x', value: 4 },
    ]);
    expect(lookedUp(t, { a: 'one' })).toEqual([]);
    expect(lookedUp(t, { a: 'one', b: 'two' })).toEqual(['k']);
  });

  it('refuses an empty list of covers and a free declaration without a reason', () => {
    expect(coverProblems(made({ a: [], b: [on('x'), lookup('k')] }))).toEqual([
      't: argument "a" is governed by no constraint; cover it with on(<constraint>) or lookup(...), or declare it free(\'why\')',
    ]);
    expect(coverProblems(made({ a: free('  '), b: [on('x'), lookup('k')] }))).toEqual([
      't: argument "a" is declared free without a reason',
    ]);
    expect(coverProblems(made({ a: free('a label, shown as is'), b: [on('x'), lookup('k')] }))).toEqual([]);
  });
});
