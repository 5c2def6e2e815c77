/**
 * A mistake in what the user gave us (a file, a column name, a config value).
 * The message names the thing, the place and the fix; entry points print it
 * without a stack trace. Anything else thrown is a bug and keeps its stack.
 */
export class RecshipError extends Error {
  readonly where: string | undefined;
  readonly fix: string | undefined;

  constructor(what: string, options: { where?: string; fix?: string; cause?: unknown } = {}) {
    const parts = [options.where ? `${options.where}: ${what}` : what];
    if (options.fix) parts.push(`Fix: ${options.fix}`);
    super(parts.join(". "), { cause: options.cause });
    this.name = "RecshipError";
    this.where = options.where;
    this.fix = options.fix;
  }
}

export function isRecshipError(error: unknown): error is RecshipError {
  return error instanceof RecshipError;
}
