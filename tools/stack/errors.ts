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
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
