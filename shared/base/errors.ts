/** A refusal decided while naming what a call touches (e.g. a message another user posted). */
export class Denied extends Error {
  constructor(
    readonly rule: string,
    message: string,
  ) {
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

/**
 * A tool's own refusal, found in what the upstream answered before anything was changed (two
 * records where one was expected, a body that is not text): shown as it is, and definite.
 */
export class Stopped extends Error {
  override name = 'Stopped';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
