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

export async function readInteractions(path: string, options: ReadOptions = {}): Promise<ReadResult> {
  const format = !options.format || options.format === "auto" ? formatFromPath(path) : options.format;
  const { stream, digest, bytes } = await openInput(path);
  const collector = new InteractionCollector();
  const filter = options.eventFilter && options.eventFilter.length > 0 ? new Set(options.eventFilter) : undefined;
  let rowsRead = 0;
  let skipped = 0;

  if (format === "seq" || format === "pairs") {
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
      rowsRead++;
    }
  } else if (format === "jsonl") {
    let lineNo = 0;
    const userField = options.userColumn ?? "user";
    const itemField = options.itemColumn ?? "item";
    for await (const line of lines(stream)) {
      lineNo++;
      if (line.trim() === "") continue;
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line) as Record<string, unknown>;
      } catch (cause) {
        throw new RecshipError("the line is not valid JSON", { where: `${path}:${lineNo}`, fix: "one JSON object per line", cause });
      }
      const where = `${path}:${lineNo}`;
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
      rowsRead++;
      if (filter && options.eventColumn && !filter.has(String(row[options.eventColumn]))) {
        skipped++;
        continue;
      }
      const time = options.timeColumn ? parseTime(row[options.timeColumn], path, lineNo, options.timeColumn) : undefined;
      collector.add(String(row[userField]), String(row[itemField]), time);
    }
  } else {
    const parser = stream.pipe(
      parseCsv({
        delimiter: format === "tsv" ? "\t" : ",",
        columns: false,
        relax_column_count: false,
        skip_empty_lines: true,
        bom: true,
        info: true,
        quote: format === "tsv" ? false : '"',
      }),
    );
    stream.on("error", (e) => parser.destroy(e));
    let userIdx = -1;
    let itemIdx = -1;
    let timeIdx = -1;
    let eventIdx = -1;
    let header: string[] | undefined;
    try {
      for await (const record of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
        const fields = record.record;
        const lineNo = record.info.lines;
        if (!header) {
          header = fields.map((h) => h.trim());
          const where = `${path}:1 (header)`;
          userIdx = header.indexOf(requireColumn(options.userColumn, "user", header, where));
          itemIdx = header.indexOf(requireColumn(options.itemColumn, "item", header, where));
          if (options.timeColumn) timeIdx = header.indexOf(requireColumn(options.timeColumn, "time", header, where));
          if (options.eventColumn) eventIdx = header.indexOf(requireColumn(options.eventColumn, "event", header, where));
          continue;
        }
        rowsRead++;
        if (filter && eventIdx >= 0 && !filter.has(fields[eventIdx])) {
          skipped++;
          continue;
        }
        const user = fields[userIdx];
        const item = fields[itemIdx];
        if (!user || !item) {
          throw new RecshipError(`empty ${!user ? "user" : "item"} id`, { where: `${path}:${lineNo}`, fix: "remove or repair the row" });
        }
        const time = timeIdx >= 0 ? parseTime(fields[timeIdx], path, lineNo, header[timeIdx]) : undefined;
        collector.add(user, item, time);
      }
    } catch (error) {
      if (error instanceof RecshipError) throw error;
      const e = error as { code?: string; lines?: number; message?: string };
      if (e.code && e.code.startsWith("CSV_")) {
        throw new RecshipError(`malformed ${format.toUpperCase()}: ${e.message}`, {
          where: `${path}${e.lines ? `:${e.lines}` : ""}`,
          fix: "check quoting and that every row has as many fields as the header",
          cause: error,
        });
      }
      throw new RecshipError("the file could not be decompressed or read to the end", { where: path, cause: error });
    }
    if (!header) throw new RecshipError("the file has no header row", { where: path, fix: "add a header naming the columns" });
  }

  if (collector.count === 0) {
    throw new RecshipError(
      skipped > 0 ? `no interactions left after the event filter (${skipped} rows skipped)` : "the file holds no interactions",
      { where: path, fix: skipped > 0 ? "check --event-filter against the event values in the file" : "point at a log with interactions" },
    );
  }
  return { log: collector.finish(), format, sha256: digest(), bytes, rowsRead, rowsSkippedByFilter: skipped };
}
