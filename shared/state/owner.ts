// Which process holds a claim, on one machine: its pid and its start time (field 22 of
// /proc/<pid>/stat), so a recycled pid is not mistaken for the process that claimed a key.
import { readFileSync } from 'node:fs';

function started(pid: number): string | null {
  try {
    // field 22 of /proc/<pid>/stat, after the parenthesised command name
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

let me: string | undefined;
/** "pid:start" of this process; computed on first use (never captured in a start-up snapshot) */
export const selfOwner = (): string => (me ??= `${process.pid}:${started(process.pid) ?? ''}`);

export function ownerAlive(owner: string): boolean {
  const [p, start] = owner.split(':');
  const pid = Number(p);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !start || started(pid) === start;
}
