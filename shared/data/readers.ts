import { RecshipError } from "../errors.js";
import { readsThroughDuckDb, readWithDuckDb } from "./duckdb-reader.js";
import { InteractionCollector } from "./interaction-log.js";
import { scanRows, timeOf, type ReadOptions, type ReadResult, type RowProblem } from "./row-scanner.js";

export { DATA_FORMATS, formatFromPath, type DataFormat, type ReadOptions, type ReadResult } from "./row-scanner.js";

function parseTime(raw: unknown, where: string, column: string): number {
  const t = timeOf(raw);
  if (!Number.isNaN(t)) return t;
  throw new RecshipError(`timestamp ${JSON.stringify(raw)} in column "${column}" is not a number (or an ISO-8601 date)`, {
    where,
    fix: "use Unix seconds/milliseconds or ISO-8601 dates, or drop the time column to use file order",
  });
}

/** A problem the scanner found, as the reader's error: the reader refuses the log (invalid UTF-8 aside, which it reads as is). */
function refuse(problem: RowProblem): void {
  if (problem.kind === "utf8") return;
  throw new RecshipError(problem.message, { where: problem.where, fix: problem.fix });
}

/**
 * Reads an interaction log in any supported format (gzip or not) into dense ids and per-user
 * sequences: text logs with recship's own one-pass scanner, Parquet and SQL queries through DuckDB.
 */
export async function readInteractions(path: string, options: ReadOptions = {}): Promise<ReadResult> {
  if (readsThroughDuckDb(path, options)) return readWithDuckDb(path, options);
  const collector = new InteractionCollector();
  const filter = options.eventFilter && options.eventFilter.length > 0 ? new Set(options.eventFilter) : undefined;
  const { timeColumn, eventColumn } = options;
  let read = 0;
  let skipped = 0;
  const info = await scanRows(path, options, {
    record: () => void read++,
    row(user, item, time, event, line) {
      if (filter && eventColumn && !filter.has(event ?? "undefined")) {
        skipped++;
        return;
      }
      collector.add(user, item, timeColumn ? parseTime(time, `${path}:${line}`, timeColumn) : undefined);
    },
    problem: refuse,
  });
  if (collector.count === 0) {
    throw new RecshipError(
      skipped > 0 ? `no interactions left after the event filter (${skipped} rows skipped)` : "the file holds no interactions",
      { where: path, fix: skipped > 0 ? "check --event-filter against the event values in the file" : "point at a log with interactions" },
    );
  }
  return {
    log: collector.finish(),
    format: info.format,
    sha256: info.sha256,
    bytes: info.bytes,
    rowsRead: read,
    rowsSkippedByFilter: skipped,
  };
}
