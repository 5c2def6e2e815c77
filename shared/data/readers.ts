import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { parse as parseCsv } from "csv-parse";
import { RecshipError } from "../errors.js";
import { InteractionCollector, type InteractionLog } from "./interaction-log.js";

export const DATA_FORMATS = ["auto", "csv", "tsv", "jsonl", "pairs", "seq"] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

export interface ReadOptions {
  format?: DataFormat;
  /** Column (CSV/TSV header) or field (JSON Lines) names. */
  userColumn?: string;
  itemColumn?: string;
  /** Optional: rows are ordered by it; without it, file order is time order. */
  timeColumn?: string;
  /** Optional event-type column; with `eventFilter`, only rows whose event is listed are kept. */
  eventColumn?: string;
  eventFilter?: string[];
}

export interface ReadResult {
  log: InteractionLog;
  format: Exclude<DataFormat, "auto">;
  /** sha256 of the file's bytes as stored (compressed or not). */
  sha256: string;
  bytes: number;
  rowsRead: number;
  rowsSkippedByFilter: number;
}

export function formatFromPath(path: string): Exclude<DataFormat, "auto"> {
  const name = path.toLowerCase().replace(/\.gz$/, "");
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".tsv") || name.endsWith(".tab")) return "tsv";
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  if (name.endsWith(".seq.txt") || name.endsWith(".seq")) return "seq";
  if (name.endsWith(".pairs.txt") || name.endsWith(".pairs")) return "pairs";
  throw new RecshipError(`cannot tell the format of "${path}" from its name`, {
    fix: `pass the format explicitly (one of ${DATA_FORMATS.filter((f) => f !== "auto").join(", ")})`,
  });
}

function parseTime(raw: unknown, file: string, line: number, column: string): number {
  if (typeof raw === "number" && Number.isFinite(raw)) return raw;
  if (typeof raw === "string" && raw.trim() !== "") {
    const n = Number(raw);
    if (Number.isFinite(n)) return n;
    if (/^\d{4}-\d{2}-\d{2}/.test(raw)) {
      const t = Date.parse(raw);
      if (Number.isFinite(t)) return t / 1000;
    }
  }
  throw new RecshipError(`timestamp ${JSON.stringify(raw)} in column "${column}" is not a number (or an ISO-8601 date)`, {
    where: `${file}:${line}`,
    fix: "use Unix seconds/milliseconds or ISO-8601 dates, or drop the time column to use file order",
  });
}

/** Opens a file as a byte stream, transparently gunzipping, while hashing the stored bytes. */
async function openInput(path: string): Promise<{ stream: Readable; digest: () => string; bytes: number }> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (cause) {
    throw new RecshipError(`cannot read the interaction log "${path}"`, {
      fix: "check the path (it is resolved from the current directory)",
      cause,
    });
  }
  if (size === 0) throw new RecshipError("the file is empty", { where: path, fix: "point at a log with interactions" });
  const fh = await open(path, "r");
  const magic = Buffer.alloc(2);
  await fh.read(magic, 0, 2, 0);
  await fh.close();
  const hash = createHash("sha256");
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  raw.on("data", (chunk) => hash.update(chunk as Buffer));
  const gz = magic[0] === 0x1f && magic[1] === 0x8b;
  const stream = gz ? raw.pipe(createGunzip()) : raw;
  if (gz) raw.on("error", (e) => stream.destroy(e));
  return { stream, digest: () => hash.digest("hex"), bytes: size };
}

async function* lines(stream: Readable): AsyncGenerator<string> {
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } catch (cause) {
    throw new RecshipError("the file could not be decompressed or read to the end", { cause });
  }
}

function requireColumn(name: string | undefined, role: string, available: string[], where: string): string {
  const column = name ?? role;
  if (!available.includes(column)) {
    throw new RecshipError(`no ${role} column "${column}" (columns are: ${available.join(", ")})`, {
      where,
      fix: `name the ${role} column with --${role}-col (input ${role}-column)`,
    });
  }
  return column;
}

/** How many rows a reader read, and how many the event filter dropped. */
interface RowCounts {
  read: number;
  skipped: number;
}

/** `user item` pairs, or one `user item item ...` sequence per line (no time column: file order is time order). */
async function readWhitespace(stream: Readable, path: string, format: "seq" | "pairs", collector: InteractionCollector, counts: RowCounts) {
  let lineNo = 0;
  for await (const line of lines(stream)) {
    lineNo++;
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const fields = trimmed.split(/\s+/);
    if (fields.length < 2) {
      throw new RecshipError(
        format === "pairs"
          ? `expected "user item", found ${JSON.stringify(trimmed)}`
          : `expected "user item item ...", found only ${JSON.stringify(trimmed)}`,
        { where: `${path}:${lineNo}`, fix: `check that the file is in "${format}" format` },
      );
    }
    if (format === "pairs" && fields.length > 2) {
      throw new RecshipError(`expected 2 fields "user item", found ${fields.length}`, {
        where: `${path}:${lineNo}`,
        fix: 'for one line per user use format "seq"',
      });
    }
    for (let f = 1; f < fields.length; f++) collector.add(fields[0], fields[f]);
    counts.read++;
  }
}

/** JSON Lines: one object per line with the user, item (and optional time and event) fields. */
async function readJsonLines(stream: Readable, path: string, options: ReadOptions, collector: InteractionCollector, counts: RowCounts) {
  const filter = eventFilterOf(options);
  const userField = options.userColumn ?? "user";
  const itemField = options.itemColumn ?? "item";
  let lineNo = 0;
  for await (const line of lines(stream)) {
    lineNo++;
    if (line.trim() === "") continue;
    const where = `${path}:${lineNo}`;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch (cause) {
      throw new RecshipError("the line is not valid JSON", { where, fix: "one JSON object per line", cause });
    }
    for (const [field, role] of [
      [userField, "user"],
      [itemField, "item"],
    ] as const) {
      if (row[field] === undefined || row[field] === null || row[field] === "") {
        throw new RecshipError(`no ${role} field "${field}" (fields are: ${Object.keys(row).join(", ")})`, {
          where,
          fix: `name the ${role} field with --${role}-col`,
        });
      }
    }
    counts.read++;
    if (filter && options.eventColumn && !filter.has(String(row[options.eventColumn]))) {
      counts.skipped++;
      continue;
    }
    const time = options.timeColumn ? parseTime(row[options.timeColumn], path, lineNo, options.timeColumn) : undefined;
    collector.add(String(row[userField]), String(row[itemField]), time);
  }
}

/** The column indexes a header names (-1: not asked for). */
function columnIndexes(header: string[], options: ReadOptions, where: string) {
  return {
    user: header.indexOf(requireColumn(options.userColumn, "user", header, where)),
    item: header.indexOf(requireColumn(options.itemColumn, "item", header, where)),
    time: options.timeColumn ? header.indexOf(requireColumn(options.timeColumn, "time", header, where)) : -1,
    event: options.eventColumn ? header.indexOf(requireColumn(options.eventColumn, "event", header, where)) : -1,
  };
}

/** CSV or TSV with a header row, through csv-parse. */
async function readDelimited(
  stream: Readable,
  path: string,
  format: "csv" | "tsv",
  options: ReadOptions,
  collector: InteractionCollector,
  counts: RowCounts,
) {
  const tsv = format === "tsv";
  const parser = stream.pipe(
    parseCsv({
      delimiter: tsv ? "\t" : ",",
      columns: false,
      relax_column_count: false,
      skip_empty_lines: true,
      bom: true,
      info: true,
      quote: tsv ? false : '"',
    }),
  );
  stream.on("error", (e) => parser.destroy(e));
  const filter = eventFilterOf(options);
  let header: string[] | undefined;
  let at: ReturnType<typeof columnIndexes> | undefined;
  try {
    for await (const record of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const fields = record.record;
      const lineNo = record.info.lines;
      if (!header || !at) {
        header = fields.map((h) => h.trim());
        at = columnIndexes(header, options, `${path}:1 (header)`);
        continue;
      }
      counts.read++;
      if (filter && at.event >= 0 && !filter.has(fields[at.event])) {
        counts.skipped++;
        continue;
      }
      const user = fields[at.user];
      const item = fields[at.item];
      if (!user || !item) {
        throw new RecshipError(`empty ${!user ? "user" : "item"} id`, { where: `${path}:${lineNo}`, fix: "remove or repair the row" });
      }
      const time = at.time >= 0 ? parseTime(fields[at.time], path, lineNo, header[at.time]) : undefined;
      collector.add(user, item, time);
    }
  } catch (error) {
    throw readError(error, path, format);
  }
  if (!header) throw new RecshipError("the file has no header row", { where: path, fix: "add a header naming the columns" });
}

/** A parse or read failure as the user's error: malformed CSV with its line, or a file that cannot be read to the end. */
function readError(error: unknown, path: string, format: string): unknown {
  if (error instanceof RecshipError) return error;
  const e = error as { code?: string; lines?: number; message?: string };
  if (e.code && e.code.startsWith("CSV_")) {
    return new RecshipError(`malformed ${format.toUpperCase()}: ${e.message}`, {
      where: `${path}${e.lines ? `:${e.lines}` : ""}`,
      fix: "check quoting and that every row has as many fields as the header",
      cause: error,
    });
  }
  return new RecshipError("the file could not be decompressed or read to the end", { where: path, cause: error });
}

function eventFilterOf(options: ReadOptions): Set<string> | undefined {
  return options.eventFilter && options.eventFilter.length > 0 ? new Set(options.eventFilter) : undefined;
}

/** Reads an interaction log in any supported format (gzip or not) into dense ids and per-user sequences. */
export async function readInteractions(path: string, options: ReadOptions = {}): Promise<ReadResult> {
  const format = !options.format || options.format === "auto" ? formatFromPath(path) : options.format;
  const { stream, digest, bytes } = await openInput(path);
  const collector = new InteractionCollector();
  const counts: RowCounts = { read: 0, skipped: 0 };
  if (format === "seq" || format === "pairs") await readWhitespace(stream, path, format, collector, counts);
  else if (format === "jsonl") await readJsonLines(stream, path, options, collector, counts);
  else await readDelimited(stream, path, format, options, collector, counts);
  if (collector.count === 0) {
    const { skipped } = counts;
    throw new RecshipError(
      skipped > 0 ? `no interactions left after the event filter (${skipped} rows skipped)` : "the file holds no interactions",
      { where: path, fix: skipped > 0 ? "check --event-filter against the event values in the file" : "point at a log with interactions" },
    );
  }
  return { log: collector.finish(), format, sha256: digest(), bytes, rowsRead: counts.read, rowsSkippedByFilter: counts.skipped };
}
