import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { RecshipError } from "../errors.js";
import type { InteractionLog } from "./interaction-log.js";

export const DATA_FORMATS = ["auto", "csv", "tsv", "jsonl", "pairs", "seq", "parquet"] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];
export type FileFormat = Exclude<DataFormat, "auto">;

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
  /**
   * SQL over the log (DuckDB), which it sees as the view \`log\`: selects, renames and filters rows;
   * the column options then name the query's columns. Parquet is always read through DuckDB.
   */
  query?: string;
}

/** A log as read: dense ids and per-user sequences, and what was read (for bundle.json `data`). */
export interface ReadResult {
  log: InteractionLog;
  format: FileFormat;
  /** sha256 of the file's bytes as stored (compressed or not). */
  sha256: string;
  bytes: number;
  rowsRead: number;
  rowsSkippedByFilter: number;
}

/**
 * What a row can get wrong. `columns` (a missing column, no header) and `unreadable` (a
 * truncated gzip stream, a read error) end the scan; the others are one line each.
 */
type RowProblemKind = "columns" | "malformed" | "empty-id" | "utf8" | "unreadable";

export interface RowProblem {
  kind: RowProblemKind;
  /** 1-based line of the offending row (the last line read for `unreadable`; 1 for a header). */
  line: number;
  /** `file:line`, or the file alone. */
  where: string;
  /** The offending text, shortened. */
  value: string;
  message: string;
  fix: string;
}

/**
 * Receives a log row by row: the reader (InteractionCollector) and the validator share this one
 * scanner, so every format is parsed once, in one place. No object is made per row: the ids,
 * the raw time and the event come as arguments.
 */
export interface RowVisitor {
  /** Once per data record (a CSV row, a JSON line, a `seq` line holding a whole sequence), before its rows. */
  record(text: string, line: number): void;
  /** One interaction; `time` is the raw value (text, or a JSON value), undefined without a time column. */
  row(user: string, item: string, time: unknown, event: string | undefined, line: number): void;
  /** A line (or the file) that cannot be read; after `columns` and `unreadable` the scan stops. */
  problem(problem: RowProblem): void;
}

export interface ScanInfo {
  format: FileFormat;
  /** sha256 of the file's bytes as stored (compressed or not). */
  sha256: string;
  bytes: number;
  gzip: boolean;
  /** Lines read (including a header and blank lines). */
  lines: number;
}

export function formatFromPath(path: string): FileFormat {
  const name = path.toLowerCase().replace(/\.gz$/, "");
  if (name.endsWith(".parquet") || name.endsWith(".pq")) return "parquet";
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".tsv") || name.endsWith(".tab")) return "tsv";
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  if (name.endsWith(".seq.txt") || name.endsWith(".seq")) return "seq";
  if (name.endsWith(".pairs.txt") || name.endsWith(".pairs")) return "pairs";
  throw new RecshipError(`cannot tell the format of "${path}" from its name`, {
    fix: `pass the format explicitly (one of ${DATA_FORMATS.filter((f) => f !== "auto").join(", ")})`,
  });
}

/** A timestamp as a number (Unix time as given, or ISO-8601 as seconds); NaN when it is neither. */
export function timeOf(raw: unknown): number {
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : NaN;
  if (typeof raw !== "string" || raw.trim() === "") return NaN;
  const n = Number(raw);
  if (Number.isFinite(n)) return n;
  if (/^\d{4}-\d{2}-\d{2}/.test(raw)) {
    const t = Date.parse(raw);
    if (Number.isFinite(t)) return t / 1000;
  }
  return NaN;
}

const shorten = (text: string) => (text.length > 120 ? `${text.slice(0, 117)}...` : text);

/** Opens a file as a byte stream, transparently gunzipping, while hashing the stored bytes. */
async function openInput(path: string): Promise<{ stream: Readable; digest: () => string; bytes: number; gzip: boolean }> {
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
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const stream = gzip ? raw.pipe(createGunzip()) : raw;
  if (gzip) raw.on("error", (e) => stream.destroy(e));
  return { stream, digest: () => hash.digest("hex"), bytes: size, gzip };
}

/** Reads the stream line by line (UTF-8; CR LF or LF) into `onLine` until it returns false. */
async function eachLine(stream: Readable, onLine: (text: string, line: number, badUtf8: boolean) => boolean): Promise<number> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  let line = 0;
  let go = true;
  const feed = (text: string, final: boolean) => {
    const bad = text.includes("\uFFFD");
    let start = 0;
    for (let end = text.indexOf("\n"); go && end >= 0; end = text.indexOf("\n", start)) {
      const piece = text.slice(start, end);
      start = end + 1;
      go = onLine(piece.endsWith("\r") ? piece.slice(0, -1) : piece, ++line, bad && piece.includes("\uFFFD"));
    }
    rest = text.slice(start);
    if (final && go && rest !== "") go = onLine(rest.endsWith("\r") ? rest.slice(0, -1) : rest, ++line, rest.includes("\uFFFD"));
  };
  for await (const chunk of stream) {
    feed(rest + decoder.write(chunk as Buffer), false);
    if (!go) {
      stream.destroy();
      return line;
    }
  }
  feed(rest + decoder.end(), true);
  return line;
}

type LineHandler = (text: string, line: number) => boolean;

/** Scanners per format: each turns a line into rows for the visitor; false stops the scan. */
function whitespaceHandler(path: string, format: "seq" | "pairs", v: RowVisitor): LineHandler {
  return (text, line) => {
    const trimmed = text.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return true;
    const fields = trimmed.split(/\s+/);
    if (fields.length < 2 || (format === "pairs" && fields.length > 2)) {
      const message =
        fields.length > 2
          ? `expected 2 fields "user item", found ${fields.length}`
          : format === "pairs"
            ? `expected "user item", found ${JSON.stringify(trimmed)}`
            : `expected "user item item ...", found only ${JSON.stringify(trimmed)}`;
      const fix = fields.length > 2 ? 'for one line per user use format "seq"' : `check that the file is in "${format}" format`;
      v.problem({ kind: "malformed", line, where: `${path}:${line}`, value: shorten(trimmed), message, fix });
      return true;
    }
    v.record(text, line);
    for (let f = 1; f < fields.length; f++) v.row(fields[0], fields[f], undefined, undefined, line);
    return true;
  };
}

function jsonLinesHandler(path: string, options: ReadOptions, v: RowVisitor): LineHandler {
  const userField = options.userColumn ?? "user";
  const itemField = options.itemColumn ?? "item";
  return (text, line) => {
    if (text.trim() === "") return true;
    const where = `${path}:${line}`;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(text) as Record<string, unknown>;
      if (typeof row !== "object" || row === null || Array.isArray(row)) throw new Error("not an object");
    } catch {
      v.problem({
        kind: "malformed",
        line,
        where,
        value: shorten(text),
        message: "the line is not valid JSON",
        fix: "one JSON object per line",
      });
      return true;
    }
    for (const [field, role] of [
      [userField, "user"],
      [itemField, "item"],
    ] as const) {
      if (row[field] === undefined || row[field] === null || row[field] === "") {
        const message = `no ${role} field "${field}" (fields are: ${Object.keys(row).join(", ")})`;
        v.problem({ kind: "empty-id", line, where, value: shorten(text), message, fix: `name the ${role} field with --${role}-col` });
        return true;
      }
    }
    v.record(text, line);
    const event = options.eventColumn && row[options.eventColumn] !== undefined ? String(row[options.eventColumn]) : undefined;
    v.row(String(row[userField]), String(row[itemField]), options.timeColumn ? row[options.timeColumn] : undefined, event, line);
    return true;
  };
}

/**
 * Splits a CSV/TSV record into `out` (reused: no array per row). Written here rather than kept on
 * csv-parse, which builds a record array per row: validating a 10M-row log must take ≤ 30 s on a
 * 2-core runner (issue 18), and every reader shares this one scanner. Quoted fields (RFC 4180, `""`
 * inside) only when `quote`; "open" when a quoted field goes on past the end of the text.
 */
function splitFields(text: string, delimiter: string, quote: boolean, out: string[]): "ok" | "open" | "bad" {
  out.length = 0;
  let i = 0;
  if (!quote || !text.includes('"')) {
    for (let at = text.indexOf(delimiter); at >= 0; at = text.indexOf(delimiter, i)) {
      out.push(text.slice(i, at));
      i = at + 1;
    }
    out.push(text.slice(i));
    return "ok";
  }
  for (;;) {
    if (text[i] !== '"') {
      const at = text.indexOf(delimiter, i);
      out.push(text.slice(i, at < 0 ? undefined : at));
      if (at < 0) return "ok";
      i = at + 1;
      continue;
    }
    let value = "";
    let j = i + 1;
    for (;;) {
      const q = text.indexOf('"', j);
      if (q < 0) return "open";
      value += text.slice(j, q);
      j = q + 1;
      if (text[j] !== '"') break;
      value += '"';
      j++;
    }
    out.push(value);
    if (j >= text.length) return "ok";
    if (text[j] !== delimiter) return "bad";
    i = j + 1;
  }
}

function requireColumn(name: string | undefined, role: string, available: string[]): number {
  const column = name ?? role;
  const at = available.indexOf(column);
  if (at < 0) {
    throw new RecshipError(`no ${role} column "${column}" (columns are: ${available.join(", ")})`, {
      fix: `name the ${role} column with --${role}-col (input ${role}-column)`,
    });
  }
  return at;
}

/** The column indexes a header names (-1: not asked for). */
function columnIndexes(header: string[], options: ReadOptions) {
  return {
    user: requireColumn(options.userColumn, "user", header),
    item: requireColumn(options.itemColumn, "item", header),
    time: options.timeColumn ? requireColumn(options.timeColumn, "time", header) : -1,
    event: options.eventColumn ? requireColumn(options.eventColumn, "event", header) : -1,
  };
}

/** CSV or TSV with a header row: a quoted field may span lines (CSV only). */
function delimitedHandler(
  path: string,
  format: "csv" | "tsv",
  options: ReadOptions,
  v: RowVisitor,
): LineHandler & { sawHeader: () => boolean } {
  const delimiter = format === "tsv" ? "\t" : ",";
  const fields: string[] = [];
  let at: ReturnType<typeof columnIndexes> | undefined;
  let width = 0;
  let pending = "";
  let pendingLine = 0;
  const handler = (text: string, line: number): boolean => {
    if (pending === "" && text === "") return true;
    const record = pending === "" ? (line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) : `${pending}\n${text}`;
    const first = pending === "" ? line : pendingLine;
    const split = splitFields(record, delimiter, format === "csv", fields);
    if (split === "open" && record.length < 1 << 20) {
      [pending, pendingLine] = [record, first];
      return true;
    }
    pending = "";
    const where = `${path}:${first}`;
    if (!at) {
      const header = fields.map((h) => h.trim());
      try {
        at = columnIndexes(header, options);
      } catch (error) {
        const e = error as RecshipError;
        v.problem({
          kind: "columns",
          line: first,
          where: `${where} (header)`,
          value: shorten(record),
          message: e.message.split(". Fix: ")[0],
          fix: e.fix!,
        });
        return false;
      }
      width = header.length;
      return true;
    }
    if (split !== "ok" || fields.length !== width) {
      const message = `malformed ${format.toUpperCase()}: ${split !== "ok" ? "a quoted field is not closed" : `the row has ${fields.length} fields, the header ${width}`}`;
      v.problem({
        kind: "malformed",
        line: first,
        where,
        value: shorten(record),
        message,
        fix: "check quoting and that every row has as many fields as the header",
      });
      return true;
    }
    const user = fields[at.user];
    const item = fields[at.item];
    if (!user || !item) {
      v.problem({
        kind: "empty-id",
        line: first,
        where,
        value: shorten(record),
        message: `empty ${!user ? "user" : "item"} id`,
        fix: "remove or repair the row",
      });
      return true;
    }
    v.record(record, first);
    v.row(user, item, at.time >= 0 ? fields[at.time] : undefined, at.event >= 0 ? fields[at.event] : undefined, first);
    return true;
  };
  return Object.assign(handler, { sawHeader: () => at !== undefined });
}

/**
 * Reads an interaction log in any supported format (gzip or not) in one streaming pass, handing
 * each row to the visitor. File-level failures (no header, a truncated gzip stream) are problems
 * too, so a validator can report them; the reader turns every problem into its RecshipError.
 */
export async function scanRows(path: string, options: ReadOptions, visitor: RowVisitor): Promise<ScanInfo> {
  const format = !options.format || options.format === "auto" ? formatFromPath(path) : options.format;
  if (format === "parquet" || options.query) {
    throw new RecshipError(`${path}: Parquet files and SQL queries are read through DuckDB, which this step does not use`, {
      fix: "export the log as CSV, TSV or JSON Lines for this step, or read it with train-model, convert-onnx, compress-model or benchmark-gate",
    });
  }
  const { stream, digest, bytes, gzip } = await openInput(path);
  const csv = format === "csv" || format === "tsv" ? delimitedHandler(path, format, options, visitor) : undefined;
  const handler =
    csv ?? (format === "jsonl" ? jsonLinesHandler(path, options, visitor) : whitespaceHandler(path, format as "seq" | "pairs", visitor));
  let stopped = false;
  let lines = 0;
  try {
    lines = await eachLine(stream, (text, line, badUtf8) => {
      lines = line;
      if (badUtf8)
        visitor.problem({
          kind: "utf8",
          line,
          where: `${path}:${line}`,
          value: shorten(text),
          message: "the line is not valid UTF-8",
          fix: "re-export the log as UTF-8",
        });
      stopped = !handler(text, line);
      return !stopped;
    });
  } catch (cause) {
    const message = `the file could not be decompressed or read to the end (${(cause as Error).message})`;
    const fix = gzip ? "the gzip stream is cut short or damaged: copy or download the file again" : "check the file and the disk";
    visitor.problem({ kind: "unreadable", line: lines, where: path, value: "", message, fix });
    stopped = true;
  }
  if (csv && !stopped && !csv.sawHeader()) {
    visitor.problem({
      kind: "columns",
      line: 1,
      where: path,
      value: "",
      message: "the file has no header row",
      fix: "add a header naming the columns",
    });
  }
  return { format, sha256: digest(), bytes, gzip, lines };
}
