// Everything an instance remembers between calls goes through this one interface: the audit chain,
// idempotency claims and outcomes, rate windows, approvals, checkpoints. Two engines implement it —
// the embedded default (./embedded.ts: the JSONL trail + one SQLite file, for one machine) and
// PostgreSQL (./postgres.ts, for replicas) — and both pass the same contract suite
// (test/state/contract.ts). An engine that cannot be reached or read throws StateUnavailable
// (or AuditUnavailable for the trail): the call path turns either into a refusal on the record.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DAY_MS } from '../base/duration.js';

/** State that cannot be read or written; the message names where it lives (file or database). */
export class StateUnavailable extends Error {
  override name = 'StateUnavailable';
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/** What the instance is told of its trail (the embedded engine: shared/audit/log.ts's own hooks). */
export interface TrailHooks {
  /** the trail stopped taking records, and why */
  onBroken?: (why: string) => void;
  /** told of every record written, with its position and hash (checkpoints) */
  onRecord?: (record: Record<string, unknown>, head: ChainHead, line: string) => void;
}

export interface AuditStore {
  /** where the trail lives, for messages: a file path or "postgresql:<instance>" */
  readonly where: string;
  /**
   * Seals and appends one record after the current head; rejects with AuditUnavailable. `durable`:
   * resolve only once it is on stable storage (an intent, before the upstream call).
   */
  append(record: Record<string, unknown>, durable?: boolean): Promise<void>;
  /** the last intact record (seq 0 and the genesis hash for an empty trail) */
  head(): Promise<ChainHead>;
  /** the trail's lines in order, each exactly as sealed with its "\n" (a torn last line has none) */
  lines(): AsyncIterable<string>;
  /** why the trail stopped taking records for good (it shrank or was replaced under the server) */
  readonly broken?: string;
  /** Appends lines sealed elsewhere (an import), refusing any that does not continue the head. */
  importLines?(lines: AsyncIterable<string>): Promise<number>;
  close(): void | Promise<void>;
}

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; result: CallToolResult }
  | { kind: 'conflict' }
  | { kind: 'running'; awaitingApproval: boolean }
  /** its first call stopped (the process or replica died) before the outcome was kept */
  | { kind: 'unknown' };

/**
 * Idempotency keys: a write carrying a key runs at most once per instance, across processes,
 * replicas and restarts. A key whose holder died mid-call stays "unknown" and never runs again.
 */
export interface KeyStore {
  claim(key: string, fingerprint: string, now?: number): Promise<Claim>;
  /** Marks a held key as waiting for a person; false when this process no longer holds it. */
  awaiting(key: string, waiting: boolean): Promise<boolean>;
  done(key: string, result: CallToolResult): Promise<void>;
  /** Forgets a key whose call certainly did nothing upstream, so a retry may run it. */
  release(key: string): Promise<void>;
}

export type Slot = { ok: true } | { ok: false; next: number };

/** Sliding rate windows, exact across every process (and replica) of the instance. */
export interface RateStore {
  /** Takes one slot of `limit` per `windowMs` for `name`; else says when the next one frees up. */
  take(name: string, limit: number, windowMs: number, now?: number): Promise<Slot>;
}

export type ApprovalStatus = 'pending' | 'approved' | 'declined' | 'expired' | 'withdrawn' | 'failed';

export interface ApprovalEntry {
  /** the digest the approval is bound to (an idempotency key, or the call) */
  id: string;
  call: string;
  status: ApprovalStatus;
  /** the channel's handle on the request (e.g. a Slack message ts), so another replica can resume */
  ref?: Record<string, unknown>;
  by?: string;
  why?: string;
  opened: number;
  expires: number;
  decided?: number;
}

/** Pending and decided approvals, visible to every process and replica of the instance. */
export interface ApprovalStore {
  /**
   * Opens a pending approval, or returns the one already pending or approved (and not expired) under
   * this id; one that was declined, expired or withdrawn ended its attempt, and is opened afresh.
   */
  open(
    e: { id: string; call: string; expires: number; ref?: Record<string, unknown> },
    now?: number,
  ): Promise<ApprovalEntry>;
  get(id: string): Promise<ApprovalEntry | undefined>;
  setRef(id: string, ref: Record<string, unknown>): Promise<void>;
  /** Records the verdict; only the first decision counts. Returns the entry as it now stands. */
  decide(
    id: string,
    v: { status: Exclude<ApprovalStatus, 'pending'>; by?: string; why?: string },
    now?: number,
  ): Promise<ApprovalEntry>;
  /** Withdrawn requests still within their expiry: an approver may still answer them (shared/call/late.ts). */
  withdrawn(now?: number): Promise<ApprovalEntry[]>;
  /** Notes one late answer (`user:answer`) to a withdrawn request: true the first time, in any process. */
  noteLate(id: string, answer: string): Promise<boolean>;
}

/** The ref with `answer` noted among its late answers (`ref.late`), or undefined when it was noted already. */
export function withLate(
  ref: Record<string, unknown> | undefined,
  answer: string,
): Record<string, unknown> | undefined {
  const noted = Array.isArray(ref?.late) ? (ref!.late as unknown[]) : [];
  if (noted.includes(answer)) return undefined;
  return { ...ref, late: [...noted, answer] };
}

export interface Checkpoint {
  seq: number;
  hash: string;
  text: string;
}

export interface CheckpointStore {
  put(c: Checkpoint): Promise<void>;
  latest(): Promise<Checkpoint | undefined>;
}

/** `fleet suspend`: an instance, or a client of every instance, refused until `fleet resume`. */
export interface Suspension {
  /** "slack.prod" for an instance, "client:blogbot-publish" for a client */
  target: string;
  reason: string;
  /** who suspended (FLEET_ACTOR or the OS user) */
  by: string;
  at: string;
}

/**
 * Suspensions, seen by every process and replica that shares the store: the embedded engine's
 * state folder (one machine) or the PostgreSQL database (every replica). Fleet-wide, not per
 * instance: a client's suspension covers every instance.
 */
export interface SuspensionStore {
  /** where they live, for messages: a file path or "PostgreSQL state store" */
  readonly where: string;
  /** sets (or replaces) the suspension of `s.target`; returns the one it replaced */
  put(s: Suspension): Promise<Suspension | undefined>;
  /** lifts the suspension of `target`; returns it, if there was one */
  remove(target: string): Promise<Suspension | undefined>;
  list(): Promise<Suspension[]>;
}

/** A task's state (MCP tasks, protocol 2025-11-25): `working` while it runs; the rest end it. */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

/**
 * A long call run as a task. It belongs to the principal that created it (`owner`): every read
 * names the owner, and another owner's task is not found. The request is kept so whoever runs for
 * the instance can carry the call on when the process that held it died (`adopt`).
 */
export interface TaskEntry {
  id: string;
  owner: string;
  status: TaskStatus;
  message?: string;
  /** the tools/call it runs: name, arguments, _meta */
  request: Record<string, unknown>;
  /** the call's result, once it ended */
  result?: Record<string, unknown>;
  created: number;
  updated: number;
  /** ms from creation the task is kept; after it the task is gone */
  ttl: number;
  /** ms the client is asked to wait between polls */
  poll: number;
}

export interface TaskStore {
  /** Creates a task, held by this process. */
  create(
    t: { id: string; owner: string; request: Record<string, unknown>; ttl: number; poll: number; message?: string },
    now?: number,
  ): Promise<TaskEntry>;
  /** The task, if it exists, has not outlived its ttl, and belongs to `owner`. */
  get(id: string, owner: string, now?: number): Promise<TaskEntry | undefined>;
  /** `owner`'s live tasks, newest first. */
  list(owner: string, now?: number): Promise<TaskEntry[]>;
  /** Changes a task that has not ended (an ended one stays as it is); returns it as it now stands. */
  update(
    id: string,
    v: { status?: TaskStatus; message?: string; result?: Record<string, unknown> },
    now?: number,
  ): Promise<TaskEntry | undefined>;
  /** Takes over a task that has not ended whose holding process died: true when this process now holds it. */
  adopt(id: string, now?: number): Promise<boolean>;
}

/** A tasks row as both engines store it. */
export function taskFromRow(r: {
  id: string;
  owner: string;
  status: string;
  message: string | null;
  request: string;
  result: string | null;
  created: number | string;
  updated: number | string;
  ttl: number | string;
  poll: number | string;
}): TaskEntry {
  return {
    id: r.id,
    owner: r.owner,
    status: r.status as TaskStatus,
    ...(r.message ? { message: r.message } : {}),
    request: JSON.parse(r.request) as Record<string, unknown>,
    ...(r.result ? { result: JSON.parse(r.result) as Record<string, unknown> } : {}),
    created: Number(r.created),
    updated: Number(r.updated),
    ttl: Number(r.ttl),
    poll: Number(r.poll),
  };
}

/**
 * Messages between the processes that share a store (replicas on PostgreSQL: LISTEN/NOTIFY): an
 * answer delivered to one replica reaches the one that waits on it. Best effort, not kept: a
 * message sent while a listener is reconnecting is lost (what it carried must be found another
 * way too). The embedded engine is one process's, and has none.
 */
export interface Signals {
  publish(topic: string, message: string): Promise<void>;
  /** calls `fn` with every message on `topic` from any process, this one's included, until the returned function is called */
  subscribe(topic: string, fn: (message: string) => void): () => void;
}

export interface StateStore {
  /** "embedded" | "postgres" */
  readonly engine: string;
  /** messages to the other processes of the store, where the engine has several (PostgreSQL) */
  readonly signals?: Signals;
  readonly audit: AuditStore;
  readonly keys: KeyStore;
  readonly rate: RateStore;
  readonly approvals: ApprovalStore;
  readonly checkpoints: CheckpointStore;
  readonly suspensions: SuspensionStore;
  readonly tasks: TaskStore;
  close(): Promise<void>;
}

/** How long a kept idempotency key (and a decided approval) is remembered. */
export const KEEP_MS = 7 * DAY_MS;

/** An approvals row as both engines store it. */
export function approvalFromRow(r: {
  id: string;
  call: string;
  status: string;
  ref: string | null;
  by: string | null;
  why: string | null;
  opened: number | string;
  expires: number | string;
  decided: number | string | null;
}): ApprovalEntry {
  return {
    id: r.id,
    call: r.call,
    status: r.status as ApprovalStatus,
    opened: Number(r.opened),
    expires: Number(r.expires),
    ...(r.ref ? { ref: JSON.parse(r.ref) as Record<string, unknown> } : {}),
    ...(r.by ? { by: r.by } : {}),
    ...(r.why ? { why: r.why } : {}),
    ...(r.decided !== null && r.decided !== undefined ? { decided: Number(r.decided) } : {}),
  };
}
