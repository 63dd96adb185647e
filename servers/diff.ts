// `fleet diff` (being written).
export function diffCmd(_base: string, _head: string | undefined, _o: unknown): number {
  throw new Error('fleet diff is not available yet');
}
