// Reads an audit file back as calls: the decision, intent and outcome records of one call joined.
import { open } from './chain.js';

export interface CallRow {
  call: string;
  time: string;
  instance: string;
  tool: string;
  actor?: string;
  thread?: string;
  client?: string;
  decision: 'allow' | 'deny';
  rule?: string;
  /** ok | error | unknown (intent written, no outcome: the process died or is still running) | - (denied) */
  outcome: string;
  error?: string;
  duration_ms?: number;
  records: Record<string, any>[];
}

export function readCalls(text: string): CallRow[] {
  const calls = new Map<string, CallRow>();
  for (const line of text.split('\n')) {
    const o = line ? open(line) : undefined;
    if (!o) continue;
    const r = o.record;
    let row = calls.get(r.call);
    if (!row) {
      row = {
        call: r.call,
        time: r.time,
        instance: r.instance,
        tool: r.tool,
        actor: r.actor,
        thread: r.thread,
        client: r.client ? `${r.client.name}@${r.client.version}` : undefined,
        decision: r.decision ?? 'allow',
        outcome: r.decision === 'deny' ? '-' : 'unknown',
        records: [],
      };
      calls.set(r.call, row);
    }
    row.records.push(r);
    if (r.phase === 'decision' || r.phase === 'intent') {
      row.decision = r.decision;
      row.rule = r.rule;
    }
    if (r.phase === 'outcome') {
      row.outcome = r.outcome;
      row.error = r.error;
      row.duration_ms = r.duration_ms;
    }
  }
  return [...calls.values()];
}
