/**
 * An expected failure with a message meant for the user: the CLI prints it without a stack trace. The message holds
 * the details too, so every caller that prints `error.message` (npm test, npm start, Jest's global setup) gives
 * the reason, not just the headline.
 */
export class StackError extends Error {
  constructor(
    /** The headline, e.g. "cannot start the stack:". */
    readonly summary: string,
    /** Extra lines printed after it, e.g. each problem found or the tail of a log file. */
    readonly details: readonly string[] = [],
  ) {
    super([summary, ...details].join('\n'));
    this.name = 'StackError';
  }

  /** The same failure with more lines after its details (built from the summary: the message already has them). */
  withDetails(more: readonly string[]): StackError {
    return new StackError(this.summary, [...this.details, ...more]);
  }
}

/** Duck-typed: errors from another realm (Node's own inside Jest's sandbox) are not `instanceof Error` there. */
function isError(error: unknown): error is Error {
  return (
    error instanceof Error ||
    (typeof error === 'object' && error !== null && typeof (error as Partial<Error>).message === 'string')
  );
}

export function errorMessage(error: unknown): string {
  return isError(error) ? error.message : String(error);
}

/**
 * What a driver (the stack CLI, npm test, npm start) prints when it gives up: a StackError's message with all its
 * details, any other error with its stack (a bug in the tooling, not a problem the user can fix from a message).
 * Never empty: a bare `new Error()` still says what it was.
 */
export function describeFailure(error: unknown): string {
  if (error instanceof StackError) return error.message;
  if (isError(error)) return error.stack || error.message || error.name || 'unknown error';
  return String(error) || 'unknown error';
}
