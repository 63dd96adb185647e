// THE state contract: every engine (embedded, PostgreSQL) runs these very tests, unchanged, so no
// engine can quietly weaken a guarantee. An engine hands in how to open an instance's state in this
// process and how another process opens it (the worker fixture).
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { verifyLines } from '../../shared/audit/verify.js';
import { settleFromTrail } from '../../shared/call/idempotency.js';
import { StateUnavailable, type StateStore } from '../../shared/state/store.js';
import { ROOT } from '../helpers.js';

export interface Engine {
  name: string;
  /** the state of `instance`, as one process opens it (several calls: several "processes" in one) */
  open(instance: string): StateStore;
  /** the worker's config for `instance` (test/fixtures/state-worker.ts) */
  worker(instance: string): string;
  /** a store of `instance` whose backing cannot be read (corrupt file, unreachable database) */
  broken(instance: string): Promise<StateStore>;
  /** what a refusal must name: the file, the database */
  brokenWhere(instance: string): string;
}

const run = promisify(execFile);
let worker = '';
export async function buildWorker(): Promise<string> {
  if (worker) return worker;
  const out = join(ROOT, 'node_modules', '.cache', 'fleet-test', `state-worker-${process.pid}.mjs`);
  await build({
    entryPoints: [join(ROOT, 'test/fixtures/state-worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    logLevel: 'error',
    external: ['libsql', 'pg'],
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  });
  return (worker = out);
}

let n = 0;
const fresh = (e: Engine) => `contract-${e.name}-${process.pid}-${Date.now()}-${++n}`;
const result = (text: string): CallToolResult => ({
  content: [{ type: 'text', text }],
  structuredContent: { status: 'completed', text },
});

/** A child that claims `key` and holds it until killed; resolves once the claim is made. */
async function holder(e: Engine, instance: string, key: string, fp: string, awaiting: boolean) {
  const child = spawn(
    process.execPath,
    [worker, e.worker(instance), 'claim', key, fp, ...(awaiting ? ['awaiting'] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const kind = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
  return {
    kind,
    kill: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGKILL');
      }),
  };
}

export function stateContract(e: Engine): void {
  describe(`state contract: ${e.name}`, () => {
    beforeAll(async () => {
      await buildWorker();
    }, 60_000);

    it('appends a gapless chain from concurrent writers that fleet audit verify accepts', async () => {
      const id = fresh(e);
      const [a, b] = [e.open(id), e.open(id)];
      try {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? a : b).audit.append({ call: `c${i}`, phase: 'decision', decision: 'allow' }),
          ),
        );
        const head = await a.audit.head();
        expect(head.seq).toBe(40);
        const lines: string[] = [];
        for await (const l of b.audit.lines()) lines.push(l);
        expect(lines).toHaveLength(40);
        const v = await verifyLines(lines, { instance: id });
        expect(v).toMatchObject({ ok: true, records: 40, last: { seq: 40, hash: head.hash } });
        expect(lines.map((l) => JSON.parse(l).seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('keeps the chain whole with three processes appending at once', async () => {
      const id = fresh(e);
      await Promise.all([0, 1, 2].map(() => run(process.execPath, [worker, e.worker(id), 'append', '60'])));
      const s = e.open(id);
      try {
        const lines: string[] = [];
        for await (const l of s.audit.lines()) lines.push(l);
        expect(await verifyLines(lines, { instance: id })).toMatchObject({ ok: true, records: 180 });
        expect(new Set(lines.map((l) => JSON.parse(l).writer)).size).toBe(3);
      } finally {
        await s.close();
      }
    }, 60_000);

    it('claims a key once, replays its outcome, refuses other arguments, frees a released key', async () => {
      const id = fresh(e);
      const [a, b] = [e.open(id), e.open(id)];
      try {
        expect(await a.keys.claim('k1', 'fp1')).toEqual({ kind: 'claimed' });
        expect(await b.keys.claim('k1', 'fp1')).toEqual({ kind: 'running', awaitingApproval: false });
        expect(await b.keys.claim('k1', 'other')).toEqual({ kind: 'conflict' });
        expect(await a.keys.awaiting('k1', true)).toBe(true);
        expect(await b.keys.claim('k1', 'fp1')).toEqual({ kind: 'running', awaitingApproval: true });
        await a.keys.done('k1', result('first'));
        expect(await b.keys.claim('k1', 'fp1')).toEqual({ kind: 'replay', result: result('first') });
        expect(await a.keys.claim('k2', 'fp2')).toEqual({ kind: 'claimed' });
        await a.keys.release('k2');
        expect(await b.keys.claim('k2', 'fp2')).toEqual({ kind: 'claimed' });
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('keys named like Object.prototype members are ordinary keys', async () => {
      const s = e.open(fresh(e));
      try {
        for (const k of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype']) {
          expect(await s.keys.claim(k, `fp-${k}`)).toEqual({ kind: 'claimed' });
          await s.keys.done(k, result(k));
          expect(await s.keys.claim(k, `fp-${k}`)).toEqual({ kind: 'replay', result: result(k) });
        }
      } finally {
        await s.close();
      }
    });

    it('a key whose process died mid-call stays unknown; one that died waiting for approval is taken over', async () => {
      const id = fresh(e);
      const s = e.open(id);
      try {
        const h = await holder(e, id, 'mid-call', 'fp', false);
        expect(h.kind).toBe('claimed');
        expect(await s.keys.claim('mid-call', 'fp')).toEqual({ kind: 'running', awaitingApproval: false });
        await h.kill();
        await expect.poll(() => s.keys.claim('mid-call', 'fp'), { timeout: 10_000 }).toEqual({ kind: 'unknown' });
        expect(await s.keys.claim('mid-call', 'fp')).toEqual({ kind: 'unknown' }); // and it stays so

        const w = await holder(e, id, 'waiting', 'fp', true);
        expect(await s.keys.claim('waiting', 'fp')).toEqual({ kind: 'running', awaitingApproval: true });
        await w.kill();
        await expect.poll(() => s.keys.claim('waiting', 'fp'), { timeout: 10_000 }).toEqual({ kind: 'claimed' });
        expect(await s.keys.awaiting('waiting', true)).toBe(true); // this process holds it now
      } finally {
        await s.close();
      }
    }, 30_000);

    it('a key left running by a dead process is settled from the trail when the trail holds its outcome', async () => {
      const id = fresh(e);
      const s = e.open(id);
      try {
        for (const k of ['ran-ok', 'ran-error', 'no-outcome']) {
          const h = await holder(e, id, k, 'fp', false);
          expect(h.kind).toBe('claimed');
          await h.kill();
        }
        await expect.poll(() => s.keys.claim('ran-ok', 'fp'), { timeout: 10_000 }).toEqual({ kind: 'unknown' });
        const rec = (r: Record<string, unknown>) =>
          s.audit.append({ v: 1, time: new Date().toISOString(), instance: id, tool: 'post_message', ...r });
        // an earlier call under the same key was released (its outcome definite), then the key ran again
        await rec({ phase: 'intent', call: 'c0', key: 'ran-ok' });
        await rec({ phase: 'outcome', call: 'c0', outcome: 'error', error: 'channel_not_found' });
        await rec({ phase: 'intent', call: 'c1', key: 'ran-ok' });
        await rec({ phase: 'intent', call: 'c2', key: 'ran-error' });
        await rec({ phase: 'intent', call: 'c3', key: 'no-outcome' });
        await rec({ phase: 'outcome', call: 'c2', outcome: 'error', error: 'ratelimited', error_message: 'slow down' });
        await rec({ phase: 'outcome', call: 'c1', outcome: 'ok' });
        expect(await settleFromTrail(s, 'ran-ok', 'other_tool')).toBeUndefined(); // another tool's key: not this call
        const ok = await settleFromTrail(s, 'ran-ok', 'post_message');
        expect(ok?.isError).toBeFalsy();
        expect(ok?.structuredContent).toMatchObject({ status: 'completed' });
        expect(JSON.stringify(ok)).toMatch(/ran as call c1 .*outcome ok/);
        expect(await s.keys.claim('ran-ok', 'fp')).toEqual({ kind: 'replay', result: ok });
        const err = await settleFromTrail(s, 'ran-error', 'post_message');
        expect(err).toMatchObject({ isError: true, structuredContent: { status: 'failed' } });
        expect(JSON.stringify(err)).toContain('outcome error: ratelimited (slow down)');
        expect(await s.keys.claim('ran-error', 'fp')).toEqual({ kind: 'replay', result: err });
        // no outcome in the trail: nobody can tell what happened, and the key says so still
        expect(await settleFromTrail(s, 'no-outcome', 'post_message')).toBeUndefined();
        expect(await s.keys.claim('no-outcome', 'fp')).toEqual({ kind: 'unknown' });
      } finally {
        await s.close();
      }
    }, 30_000);

    it('a rate window admits exactly its limit, then names when the next slot frees', async () => {
      const s = e.open(fresh(e));
      try {
        const t0 = 1_000_000;
        const got = [];
        for (let i = 0; i < 7; i++) got.push(await s.rate.take('post_message', 5, 1000, t0 + i * 10));
        expect(got.filter((g) => g.ok)).toHaveLength(5);
        expect(got[5]).toEqual({ ok: false, next: t0 + 1000 });
        expect(await s.rate.take('other', 5, 1000, t0 + 70)).toEqual({ ok: true }); // windows are per name
        expect(await s.rate.take('post_message', 5, 1000, t0 + 1000)).toEqual({ ok: true }); // the first slot has left the window
        expect(await s.rate.take('post_message', 5, 1000, t0 + 1001)).toEqual({ ok: false, next: t0 + 1010 });
      } finally {
        await s.close();
      }
    });

    it('a rate window is exact across processes', async () => {
      const id = fresh(e);
      const outs = await Promise.all(
        [0, 1, 2].map(() =>
          run(process.execPath, [worker, e.worker(id), 'rate', '20', 'post_message', '25', '3600000']),
        ),
      );
      expect(outs.reduce((sum, o) => sum + Number(o.stdout.trim()), 0)).toBe(25);
    }, 60_000);

    it('approvals are visible to every process, and the first answer is the one kept', async () => {
      const id = fresh(e);
      const [a, b] = [e.open(id), e.open(id)];
      try {
        const now = Date.now();
        const opened = await a.approvals.open({ id: 'key:k', call: 'call-1', expires: now + 60_000 });
        expect(opened).toMatchObject({ id: 'key:k', call: 'call-1', status: 'pending', expires: now + 60_000 });
        await a.approvals.setRef('key:k', { channel: 'C0APPROVALS', ts: '1.000100' });
        // a second process asking for the same approval finds it, with where it was posted
        expect(await b.approvals.open({ id: 'key:k', call: 'call-2', expires: now + 120_000 })).toMatchObject({
          call: 'call-1',
          status: 'pending',
          ref: { channel: 'C0APPROVALS', ts: '1.000100' },
        });
        expect(await b.approvals.decide('key:k', { status: 'approved', by: 'U0EDITOR1' })).toMatchObject({
          status: 'approved',
          by: 'U0EDITOR1',
        });
        expect(await a.approvals.decide('key:k', { status: 'declined', by: 'U0EDITOR2', why: 'late' })).toMatchObject({
          status: 'approved',
          by: 'U0EDITOR1',
        });
        expect(await a.approvals.get('key:k')).toMatchObject({ status: 'approved', by: 'U0EDITOR1' });
        expect(await a.approvals.get('nope')).toBeUndefined();
        // a declined, expired or withdrawn approval ended its attempt: the next one asks afresh
        await a.approvals.open({ id: 'key:d', call: 'call-3', expires: now + 60_000 });
        await a.approvals.decide('key:d', { status: 'declined', by: 'U0EDITOR2', why: 'no' });
        expect(await b.approvals.open({ id: 'key:d', call: 'call-4', expires: now + 90_000 })).toMatchObject({
          call: 'call-4',
          status: 'pending',
          expires: now + 90_000,
        });
        expect((await b.approvals.get('key:d'))!.by).toBeUndefined();
        // an approval past its expiry is no answer
        await a.approvals.open({ id: 'key:e', call: 'call-5', expires: now + 10 }, now);
        await a.approvals.decide('key:e', { status: 'approved', by: 'U0EDITOR1' }, now + 5);
        expect(await b.approvals.open({ id: 'key:e', call: 'call-6', expires: now + 60_000 }, now + 20)).toMatchObject({
          call: 'call-6',
          status: 'pending',
        });
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('withdrawn requests within their expiry are listed to every process, and each late answer is noted once', async () => {
      const id = fresh(e);
      const [a, b] = [e.open(id), e.open(id)];
      try {
        const now = Date.now();
        for (const [k, expires, status] of [
          ['call:w', now + 60_000, 'withdrawn'],
          ['call:old', now - 1, 'withdrawn'],
          ['call:d', now + 60_000, 'declined'],
        ] as const) {
          await a.approvals.open({ id: k, call: k, expires, ref: { digest: 'd' } }, now - 10);
          await a.approvals.decide(k, { status, why: 'gone' });
        }
        await a.approvals.open({ id: 'call:p', call: 'call:p', expires: now + 60_000 });
        await a.approvals.setRef('call:w', { digest: 'd', channel: 'C0APPROVALS', ts: '2.000200' });
        // only the withdrawn one still within its expiry, with where it was posted
        expect((await b.approvals.withdrawn(now)).map((x) => [x.id, x.ref])).toEqual([
          ['call:w', { digest: 'd', channel: 'C0APPROVALS', ts: '2.000200' }],
        ]);
        // two processes noting the same answers at once: each answer is theirs once
        const tries = await Promise.all(
          [a, b, a, b].flatMap((s) => [
            s.approvals.noteLate('call:w', 'U0EDITOR1:approve'),
            s.approvals.noteLate('call:w', 'U0EDITOR2:decline'),
          ]),
        );
        expect(tries.filter(Boolean)).toHaveLength(2);
        expect(await a.approvals.noteLate('call:w', 'U0EDITOR1:approve')).toBe(false);
        expect(await b.approvals.noteLate('call:nope', 'U0EDITOR1:approve')).toBe(false);
        expect((await a.approvals.get('call:w'))!.ref).toMatchObject({
          digest: 'd',
          channel: 'C0APPROVALS',
          ts: '2.000200',
        });
        expect(await b.approvals.withdrawn(now + 120_000)).toEqual([]);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('keeps checkpoints, newest last', async () => {
      const s = e.open(fresh(e));
      try {
        expect(await s.checkpoints.latest()).toBeUndefined();
        await s.checkpoints.put({ seq: 10, hash: 'a'.repeat(64), text: 'cp10' });
        await s.checkpoints.put({ seq: 20, hash: 'b'.repeat(64), text: 'cp20' });
        expect(await s.checkpoints.latest()).toEqual({ seq: 20, hash: 'b'.repeat(64), text: 'cp20' });
      } finally {
        await s.close();
      }
    });

    it('a suspension is fleet-wide: every instance and process sharing the store sees it until it is lifted', async () => {
      const a = e.open(fresh(e));
      const b = e.open(fresh(e));
      const target = `${fresh(e)}.prod`;
      const s = { target, reason: 'incident 42', by: 'U0SECOPS', at: '2026-12-01T16:00:00.000Z' };
      try {
        expect(await a.suspensions.put(s)).toBeUndefined();
        expect((await b.suspensions.list()).find((x) => x.target === target)).toEqual(s);
        const again = { ...s, reason: 'incident 43' };
        expect(await b.suspensions.put(again)).toEqual(s);
        expect(await a.suspensions.remove(target)).toEqual(again);
        expect((await b.suspensions.list()).some((x) => x.target === target)).toBe(false);
        expect(await b.suspensions.remove(target)).toBeUndefined();
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('a task belongs to its owner, ends once, outlives nothing past its ttl, and is taken over only when its holder died', async () => {
      const id = fresh(e);
      const s = e.open(id);
      const other = e.open(id);
      try {
        const t0 = Date.now();
        const t = await s.tasks.create(
          {
            id: 'task-1',
            owner: 'client:bot',
            request: { name: 'update_message', arguments: { text: 'hi' } },
            ttl: 60_000,
            poll: 1500,
            message: 'asked U0EDITOR1',
          },
          t0,
        );
        expect(t).toMatchObject({
          id: 'task-1',
          owner: 'client:bot',
          status: 'working',
          message: 'asked U0EDITOR1',
          ttl: 60_000,
          poll: 1500,
          request: { name: 'update_message' },
        });
        // every process sees it; another owner does not, not even in a list
        expect(await other.tasks.get('task-1', 'client:bot')).toMatchObject({ status: 'working' });
        expect(await other.tasks.get('task-1', 'client:other')).toBeUndefined();
        expect(await other.tasks.list('client:other')).toEqual([]);
        await s.tasks.create({ id: 'task-2', owner: 'client:bot', request: {}, ttl: 60_000, poll: 1000 }, t0 + 1);
        expect((await other.tasks.list('client:bot')).map((x) => x.id)).toEqual(['task-2', 'task-1']);
        // a held task is not taken over, by this process or another living one
        expect(await other.tasks.adopt('task-1')).toBe(false);
        // it ends once: the first end counts
        expect(
          await other.tasks.update('task-1', {
            status: 'completed',
            result: { content: [], structuredContent: { status: 'completed' } },
          }),
        ).toMatchObject({ status: 'completed', result: { structuredContent: { status: 'completed' } } });
        expect(await s.tasks.update('task-1', { status: 'cancelled', message: 'too late' })).toMatchObject({
          status: 'completed',
          message: 'asked U0EDITOR1',
        });
        // past its ttl it is gone
        expect(await s.tasks.get('task-2', 'client:bot', t0 + 60_002)).toBeUndefined();
        expect(await s.tasks.list('client:bot', t0 + 60_002)).toEqual([]);

        // a task whose holding process died is taken over once
        const child = spawn(process.execPath, [worker, e.worker(id), 'task', 'task-3', 'client:bot'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => d.toString().includes('created') && resolve());
          child.on('exit', (code) => reject(new Error(`task holder exited ${code}`)));
        });
        expect(await s.tasks.adopt('task-3')).toBe(false);
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          child.kill('SIGKILL');
        });
        await expect.poll(() => s.tasks.adopt('task-3'), { timeout: 10_000 }).toBe(true);
        expect(await other.tasks.adopt('task-3')).toBe(false);
      } finally {
        await s.close();
        await other.close();
      }
    }, 30_000);

    it('state that cannot be read refuses with an error naming where it lives', async () => {
      const id = fresh(e);
      const s = await e.broken(id);
      try {
        for (const op of [() => s.keys.claim('k', 'fp'), () => s.rate.take('t', 1, 1000), () => s.approvals.get('x')]) {
          const err = await op().then(
            () => undefined,
            (x: unknown) => x,
          );
          expect(err).toBeInstanceOf(StateUnavailable);
          expect((err as Error).message).toContain(e.brokenWhere(id));
        }
      } finally {
        await s.close();
      }
    });
  });
}
