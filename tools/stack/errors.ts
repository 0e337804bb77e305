/** An expected failure with a message meant for the user: the CLI prints it without a stack trace. */
export class StackError extends Error {
  constructor(
    message: string,
    /** Extra lines printed after the message, e.g. the tail of a log file. */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'StackError';
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
