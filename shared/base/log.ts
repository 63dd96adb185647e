// Diagnostics go to stderr only: stdout belongs to JSON-RPC.
import type { Redactor } from './redaction.js';

export interface Log {
  warn(message: string): void;
  error(message: string): void;
}

export function stderrLog(prefix: string, redactor: Redactor): Log {
  const write = (level: string, message: string) =>
    process.stderr.write(`fleet ${prefix}: ${level}${redactor.scrub(message)}\n`);
  return { warn: (m) => write('warning: ', m), error: (m) => write('', m) };
}
