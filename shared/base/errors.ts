/** A refusal decided while naming what a call touches (e.g. a message another user posted). */
export class Denied extends Error {
  constructor(readonly rule: string, message: string) {
    super(message);
    this.name = 'Denied';
  }
}

/** A start-up failure: printed as one line on stderr, exit code 1. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** The audit trail could not be written: the call is refused before it reaches the upstream. */
export class AuditUnavailable extends Error {
  override name = 'AuditUnavailable';
}
