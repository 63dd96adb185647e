// proper-lockfile, loaded on first use: it installs exit and signal handlers when imported, which
// a start-up snapshot must not capture and a server that never writes does not need.
import type * as Lockfile from 'proper-lockfile';

let loaded: Promise<typeof Lockfile> | undefined;

export function lockfile(): Promise<typeof Lockfile> {
  return (loaded ??= import('proper-lockfile').then((m) => ((m as unknown as { default?: typeof Lockfile }).default ?? m) as typeof Lockfile));
}
