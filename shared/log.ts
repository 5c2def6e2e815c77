/** Where library code reports progress. Actions map it to @actions/core, the CLI to stderr. */
export interface Logger {
  info(message: string): void;
  warn(message: string, where?: { file?: string; line?: number }): void;
  /** Runs `fn` inside a collapsible group (a `::group::` in Actions, an indented block in a terminal). */
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  group: (_title, fn) => fn(),
};

export function consoleLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return {
    info: (message) => void stream.write(`${message}\n`),
    warn: (message, where) =>
      void stream.write(`warning: ${where?.file ? `${where.file}${where.line ? `:${where.line}` : ""}: ` : ""}${message}\n`),
    group: async (title, fn) => {
      stream.write(`── ${title}\n`);
      return fn();
    },
  };
}

/** A logger that records messages, for tests and for reports. */
export function memoryLogger(): Logger & { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  return {
    lines,
    warnings,
    info: (m) => void lines.push(m),
    warn: (m) => void warnings.push(m),
    group: (_t, fn) => fn(),
  };
}
