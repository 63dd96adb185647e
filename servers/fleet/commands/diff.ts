// `fleet diff BASE [HEAD]`: what a change to the scopes grants or revokes, escalations first.
import { CONNECTORS } from '../connectors.js';
import { compareSides } from '../../../shared/review/diff.js';
import { formatDiff, type DiffFormat } from '../../../shared/review/diff-format.js';
import { readSide } from './diff-sides.js';

export interface DiffOptions {
  scopes: string;
  format: DiffFormat;
  failOn?: 'escalation';
}

export function diffCmd(
  base: string,
  head: string | undefined,
  o: DiffOptions,
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
): number {
  const a = readSide(base, o.scopes);
  const b = readSide(head, o.scopes);
  const changes = compareSides(a, b, CONNECTORS);
  out(formatDiff(changes, o.format, a.label, b.label));
  return o.failOn === 'escalation' && changes.some((c) => c.class === 'escalation') ? 1 : 0;
}
