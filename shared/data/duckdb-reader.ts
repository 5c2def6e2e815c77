/**
 * Interaction logs at warehouse scale through DuckDB (embedded, no server): Parquet files, a
 * folder or a glob of them, and any log with a SQL `query` over it. The work that grows with the
 * rows happens in SQL (casting, the event filter, dense ids, the per-user time order); JavaScript
 * receives two INTEGER columns in vectors of 2,048 and fills typed arrays, one string per user
 * and per item and no object per row. Ids and order equal the text readers': dense ids by first
 * appearance in file order, each user's rows by time, ties (or no time column) in file order.
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection, DuckDBVector } from "@duckdb/node-api";
import { RecshipError } from "../errors.js";
import { duckDb } from "./duckdb-runtime.js";
import type { InteractionLog } from "./interaction-log.js";
import { formatFromPath, type FileFormat, type ReadOptions, type ReadResult, type RowVisitor, type ScanInfo } from "./row-scanner.js";

const GLOB = /[*?[]/;

/** Whether a log is read through DuckDB: Parquet (a file, a folder or a glob of them) or any log with a query. */
export function readsThroughDuckDb(path: string, options: ReadOptions): boolean {
  if (options.query?.trim()) return true;
  if (options.format && options.format !== "auto") return options.format === "parquet";
  if (GLOB.test(path)) return true;
  return isDirectory(path) || /\.(parquet|pq)$/i.test(path);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A SQL string literal. */
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
/** A SQL identifier (a column name as given). */
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The files a path names, in a fixed order: a file, every Parquet file under a folder, or a glob's matches. */
async function sourceFiles(con: DuckDBConnection, path: string): Promise<string[]> {
  let files: string[];
  if (GLOB.test(path)) {
    const rows = (await con.runAndReadAll(`SELECT file FROM glob(${literal(path)}) ORDER BY file`)).getRows();
    files = rows.map((r) => String(r[0]));
  } else if (isDirectory(path)) {
    files = (readdirSync(path, { recursive: true }) as string[])
      .filter((f) => /\.(parquet|pq)$/i.test(f))
      .map((f) => join(path, f))
      .sort();
  } else {
    files = [path];
  }
  if (files.length === 0) {
    throw new RecshipError(`no files match "${path}"`, {
      fix: "check the path; a folder is read as every *.parquet file under it, a glob such as exports/*.parquet as its matches",
    });
  }
  for (const f of files) {
    try {
      if (statSync(f).size === 0) throw new RecshipError("the file is empty", { where: f, fix: "point at a log with interactions" });
    } catch (cause) {
      if (cause instanceof RecshipError) throw cause;
      throw new RecshipError(`cannot read the interaction log "${f}"`, {
        fix: "check the path (it is resolved from the current directory)",
        cause,
      });
    }
  }
  return files;
}

/** The format of the files: as given, else from the (first) file's name; a folder holds Parquet. */
function formatOf(files: string[], options: ReadOptions): FileFormat {
  if (options.format && options.format !== "auto") return options.format;
  return formatFromPath(files[0]);
}

/** DuckDB's table function over the files in a format. */
function tableFunction(files: string[], format: FileFormat): string {
  const list = `[${files.map(literal).join(", ")}]`;
  switch (format) {
    case "parquet":
      return `read_parquet(${list}, union_by_name = true)`;
    case "csv":
      return `read_csv(${list}, header = true, all_varchar = true)`;
    case "tsv":
      return `read_csv(${list}, header = true, delim = '\\t', all_varchar = true)`;
    case "jsonl":
      return `read_json(${list}, format = 'newline_delimited')`;
    default:
      throw new RecshipError(`a query reads CSV, TSV, JSON Lines or Parquet, not "${format}"`, {
        fix: "drop the query (the seq and pairs readers need none), or convert the log to one of those formats",
      });
  }
}

/** sha256 of the stored bytes: the file's own for one file, else of the files' digests in order. */
async function digestFiles(files: string[]): Promise<{ sha256: string; bytes: number }> {
  const digests: string[] = [];
  let bytes = 0;
  for (const file of files) {
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    digests.push(hash.digest("hex"));
    bytes += statSync(file).size;
  }
  const sha256 = digests.length === 1 ? digests[0] : createHash("sha256").update(digests.join("\n")).digest("hex");
  return { sha256, bytes };
}

/** The query's columns and their DuckDB types. */
async function describe(con: DuckDBConnection, relation: string, where: string): Promise<Map<string, string>> {
  try {
    const rows = (await con.runAndReadAll(`DESCRIBE ${relation}`)).getRows();
    return new Map(rows.map((r) => [String(r[0]), String(r[1])]));
  } catch (cause) {
    throw new RecshipError(`DuckDB cannot read the log: ${(cause as Error).message.split("\n")[0]}`, {
      where,
      fix: "check the query (the log is the view `log`) and the files' format",
      cause,
    });
  }
}

/** A column the options name, checked against what the query returns. */
function column(columns: Map<string, string>, name: string, role: string, where: string): string {
  if (columns.has(name)) return ident(name);
  throw new RecshipError(`the ${role} column "${name}" is not in the log (columns: ${[...columns.keys()].join(", ")})`, {
    where,
    fix: `name the ${role} column with --${role}-col (input ${role}-column), or select it as "${name}" in the query`,
  });
}

/** The time column as seconds (DOUBLE): numbers as given, dates and timestamps from the epoch, text as either. */
function timeExpression(name: string, type: string): string {
  if (/^(TIMESTAMP|DATE)/.test(type)) return `epoch(${name})`;
  if (/^(VARCHAR|JSON)/.test(type)) return `COALESCE(TRY_CAST(${name} AS DOUBLE), epoch(TRY_CAST(${name} AS TIMESTAMPTZ)))`;
  return `CAST(${name} AS DOUBLE)`;
}

/** The log as DuckDB sees it: its files and format, the SQL of its rows (the query, or the view), and how to name it. */
interface Plan {
  files: string[];
  format: FileFormat;
  source: string;
  where: string;
  options: ReadOptions;
}

/** The columns the options name, checked against the log's (quoted), with the time column's type. */
async function resolveColumns(con: DuckDBConnection, plan: Plan) {
  const { options, where } = plan;
  const columns = await describe(con, plan.source, where);
  return {
    user: column(columns, options.userColumn ?? "user", "user", where),
    item: column(columns, options.itemColumn ?? "item", "item", where),
    time: options.timeColumn ? column(columns, options.timeColumn, "time", where) : undefined,
    timeType: options.timeColumn ? (columns.get(options.timeColumn) ?? "") : "",
    userType: columns.get(options.userColumn ?? "user") ?? "",
    itemType: columns.get(options.itemColumn ?? "item") ?? "",
    event: options.eventColumn ? column(columns, options.eventColumn, "event", where) : undefined,
  };
}

/**
 * DuckDB's memory for a read: RECSHIP_DUCKDB_MEMORY_LIMIT (DuckDB's syntax, "4GB") or 2 GB, past
 * which it spills to a temporary folder instead of growing: a 10^8-row log then needs ~2 GB of
 * DuckDB beside the typed arrays, not the ~17 GB it would hold unbounded.
 */
export function duckDbSettings(
  env: NodeJS.ProcessEnv = process.env,
  tempRoot: string = tmpdir(),
): { settings: Record<string, string>; tempDir: string } {
  const tempDir = join(tempRoot, `recship-duckdb-${process.pid}-${randomUUID().slice(0, 8)}`);
  return {
    settings: {
      preserve_insertion_order: "true",
      memory_limit: env.RECSHIP_DUCKDB_MEMORY_LIMIT?.trim() || "2GB",
      temp_directory: tempDir,
    },
    tempDir,
  };
}

/** Opens DuckDB over the files a path names (file order kept), runs `use`, and closes it. */
async function withLog<T>(path: string, options: ReadOptions, use: (con: DuckDBConnection, plan: Plan) => Promise<T>): Promise<T> {
  const { DuckDBInstance } = duckDb();
  const { settings, tempDir } = duckDbSettings();
  let instance: Awaited<ReturnType<typeof DuckDBInstance.create>>;
  try {
    instance = await DuckDBInstance.create(":memory:", settings);
  } catch (cause) {
    throw new RecshipError(`DuckDB does not start: ${(cause as Error).message.split("\n")[0]}`, {
      fix: "check RECSHIP_DUCKDB_MEMORY_LIMIT (DuckDB's syntax, for example 4GB)",
      cause,
    });
  }
  const con = await instance.connect();
  try {
    const files = await sourceFiles(con, path);
    const format = formatOf(files, options);
    await con.run(`CREATE TEMP VIEW log AS SELECT * FROM ${tableFunction(files, format)}`);
    const query = options.query?.trim();
    const source = query ? query.replace(/;\s*$/, "") : "SELECT * FROM log";
    return await use(con, { files, format, source, where: query ? `${path} (query)` : path, options });
  } finally {
    con.closeSync();
    instance.closeSync();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

/** DuckDB types whose values are text (ids of these types may be empty strings; times of these types are parsed). */
const TEXT_TYPE = /^(VARCHAR|JSON)/;

/**
 * Materialises the rows (file order kept: rowid) as raw(u, i, t[, rawTime][, e]) and checks ids
 * and times. Ids keep their own type (8 bytes a BIGINT id instead of a string per row: at 10^8
 * rows this table is most of the reader's memory); they become text once per distinct id.
 * rawTime, the time as written, is kept only for text times (what an error quotes).
 */
async function loadRaw(con: DuckDBConnection, plan: Plan): Promise<void> {
  const { user, item, time, timeType, event, userType, itemType } = await resolveColumns(con, plan);
  const t = time ? timeExpression(time, timeType) : "NULL::DOUBLE";
  const rawTime = time && TEXT_TYPE.test(timeType) ? `, CAST(${time} AS VARCHAR) AS rawTime` : "";
  await con.run(
    `CREATE TEMP TABLE raw AS SELECT ${user} AS u, ${item} AS i, ${t} AS t${rawTime}` +
      `${event ? `, CAST(${event} AS VARCHAR) AS e` : ""} FROM (${plan.source})`,
  );
  await refuseBadRows(con, plan, {
    timed: Boolean(time),
    rawTime: rawTime !== "",
    textIds: [TEXT_TYPE.test(userType), TEXT_TYPE.test(itemType)],
  });
}

/** The first row with an empty id or an unreadable time, as the text readers refuse it. */
async function refuseBadRows(
  con: DuckDBConnection,
  plan: Plan,
  raw: { timed: boolean; rawTime: boolean; textIds: [boolean, boolean] },
): Promise<void> {
  const emptyText = (column: string, text: boolean) => (text ? ` OR ${column} = ''` : "");
  const empty = (
    await con.runAndReadAll(
      `SELECT rowid + 1, u IS NULL${emptyText("u", raw.textIds[0])} FROM raw WHERE u IS NULL OR i IS NULL` +
        `${emptyText("u", raw.textIds[0])}${emptyText("i", raw.textIds[1])} ORDER BY rowid LIMIT 1`,
    )
  ).getRows();
  if (empty.length > 0) {
    const [row, userEmpty] = empty[0];
    throw new RecshipError(`row ${String(row)} has an empty ${userEmpty ? "user" : "item"} id`, {
      where: plan.where,
      fix: "drop rows without ids in the query (WHERE ... IS NOT NULL) or fix the export",
    });
  }
  if (!raw.timed) return;
  const bad = (
    await con.runAndReadAll(
      `SELECT rowid + 1, ${raw.rawTime ? "rawTime" : "NULL"} FROM raw WHERE t IS NULL OR isnan(t) OR isinf(t) ORDER BY rowid LIMIT 1`,
    )
  ).getRows();
  if (bad.length > 0) {
    const [row, written] = bad[0];
    throw new RecshipError(
      `timestamp ${JSON.stringify(written)} in column "${plan.options.timeColumn}" (row ${String(row)}) is not a number (or an ISO-8601 date)`,
      {
        where: plan.where,
        fix: "use Unix seconds/milliseconds, dates or ISO-8601 timestamps, or drop the time column to use file order",
      },
    );
  }
}

/** Applies the event filter in SQL; returns the rows it dropped. */
async function filterEvents(con: DuckDBConnection, options: ReadOptions): Promise<number> {
  const keep = options.eventFilter?.filter((e) => e !== "");
  if (!keep?.length || !options.eventColumn) return 0;
  const before = await count(con, "raw");
  await con.run(`DELETE FROM raw WHERE e IS NULL OR e NOT IN (${keep.map(literal).join(", ")})`);
  return before - (await count(con, "raw"));
}

async function count(con: DuckDBConnection, table: string): Promise<number> {
  return Number((await con.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows()[0][0]);
}

/** Dense ids by first appearance in file order: users(u, uid from 0, n rows), items(i, iid from 1; 0 is padding). */
async function denseIdTables(con: DuckDBConnection): Promise<void> {
  await con.run(
    `CREATE TEMP TABLE users AS SELECT u, (row_number() OVER (ORDER BY min(rowid)) - 1)::INTEGER AS uid, count(*)::INTEGER AS n FROM raw GROUP BY u`,
  );
  await con.run(`CREATE TEMP TABLE items AS SELECT i, (row_number() OVER (ORDER BY min(rowid)))::INTEGER AS iid FROM raw GROUP BY i`);
}

const userIdStrings = (con: DuckDBConnection) => strings(con, `SELECT CAST(u AS VARCHAR) FROM users ORDER BY uid`);
const itemIdStrings = async (con: DuckDBConnection) => ["", ...(await strings(con, `SELECT CAST(i AS VARCHAR) FROM items ORDER BY iid`))];

/** Streams a query's result to `visit`, a chunk (its column vectors and row count) at a time. */
async function eachChunk(con: DuckDBConnection, sql: string, visit: (columns: DuckDBVector[], rows: number) => void): Promise<void> {
  const result = await con.stream(sql);
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    visit(
      Array.from({ length: chunk.columnCount }, (_, c) => chunk.getColumnVector(c)),
      chunk.rowCount,
    );
  }
}

/** The first column of a query's result. */
async function firstColumn<T>(con: DuckDBConnection, sql: string): Promise<T[]> {
  const out: T[] = [];
  await eachChunk(con, sql, ([v], rows) => {
    for (let r = 0; r < rows; r++) out.push(v.getItem(r) as T);
  });
  return out;
}

const strings = (con: DuckDBConnection, sql: string) => firstColumn<string>(con, sql);

/** Each user's items, oldest first (ties and untimed rows in file order), streamed into one typed array. */
async function sequences(con: DuckDBConnection, users: number, rows: number): Promise<Int32Array[]> {
  const items = new Int32Array(rows);
  const starts = new Int32Array(users + 1);
  let n = 0;
  const sql = `SELECT uid, iid FROM (SELECT users.uid, items.iid, raw.t, raw.rowid AS r FROM raw JOIN users USING (u) JOIN items USING (i)) ORDER BY uid, t, r`;
  await eachChunk(con, sql, ([uid, iid], rows) => {
    for (let r = 0; r < rows; r++, n++) {
      starts[(uid.getItem(r) as number) + 1]++;
      items[n] = iid.getItem(r) as number;
    }
  });
  for (let u = 0; u < users; u++) starts[u + 1] += starts[u];
  const out: Int32Array[] = new Array(users);
  for (let u = 0; u < users; u++) out[u] = items.subarray(starts[u], starts[u + 1]); // views of one buffer, no copy per user
  return out;
}

/** The log's rows as raw(...), the event filter applied; refuses a log left empty. */
async function loadRows(
  con: DuckDBConnection,
  plan: Plan,
  options: ReadOptions,
): Promise<{ rowsRead: number; rowsSkippedByFilter: number; rows: number }> {
  await loadRaw(con, plan);
  const rowsRead = await count(con, "raw");
  const rowsSkippedByFilter = await filterEvents(con, options);
  const rows = rowsRead - rowsSkippedByFilter;
  if (rows === 0) {
    throw new RecshipError(
      rowsSkippedByFilter > 0
        ? `no interactions left after the event filter (${rowsSkippedByFilter} rows skipped)`
        : "the log holds no interactions",
      {
        where: plan.where,
        fix: rowsSkippedByFilter > 0 ? "check --event-filter against the event values in the log" : "point at a log with interactions",
      },
    );
  }
  return { rowsRead, rowsSkippedByFilter, rows };
}

/** Reads a log through DuckDB into dense ids and per-user sequences (see the file's comment). */
export async function readWithDuckDb(path: string, options: ReadOptions): Promise<ReadResult> {
  return withLog(path, options, async (con, plan) => {
    const { rowsRead, rowsSkippedByFilter, rows } = await loadRows(con, plan, options);
    await denseIdTables(con);
    const userIds = await userIdStrings(con);
    const itemIds = await itemIdStrings(con);
    const log: InteractionLog = { userIds, itemIds, sequences: await sequences(con, userIds.length, rows), interactions: rows };
    return { log, format: plan.format, ...(await digestFiles(plan.files)), rowsRead, rowsSkippedByFilter };
  });
}

/** What an evaluation on a sample of users needs of a log, without moving every row into JavaScript. */
export interface SampledLog extends Omit<ReadResult, "log"> {
  itemIds: string[];
  users: number;
  interactions: number;
  /** Users with the 3 or more interactions leave-one-out needs (dense ids, ascending; by length with `byLength`). */
  eligible: Int32Array;
  /** The users `pick` chose and their sequences (in `picked`'s order), oldest first. */
  picked: Int32Array;
  sequences: Int32Array[];
  /** Interactions per item in the test histories: all but the last of a user with 3 or more, all of the others'; index 0 unused (empty when not asked for). */
  popularity: Float64Array;
}

export interface SampleOptions {
  /** Hand `pick` the eligible users shortest first (by interactions, then id) instead of by id. */
  byLength?: boolean;
  /** Count the test histories' item popularity over every user (default true). */
  popularity?: boolean;
}

/**
 * The log as an evaluation on a user sample reads it: ids, order and counts exactly as
 * readWithDuckDb and leaveOneOut give them, but only the picked users' rows leave DuckDB, and the
 * item popularity over every user is counted in SQL (each item's rows, less the eligible users' last).
 */
export async function readSampleWithDuckDb(
  path: string,
  options: ReadOptions,
  pick: (eligible: Int32Array) => Int32Array,
  sample: SampleOptions = {},
): Promise<SampledLog> {
  return withLog(path, options, async (con, plan) => {
    const { rowsRead, rowsSkippedByFilter, rows } = await loadRows(con, plan, options);
    await denseIdTables(con);
    const itemIds = await itemIdStrings(con);
    const users = await count(con, "users");
    const order = sample.byLength ? "n, uid" : "uid";
    const eligible = Int32Array.from(await firstColumn<number>(con, `SELECT uid FROM users WHERE n >= 3 ORDER BY ${order}`));
    const picked = pick(eligible);
    await con.run(`CREATE TABLE picked (uid INTEGER)`);
    const appender = await con.createAppender("picked");
    for (const u of picked) {
      appender.appendInteger(u);
      appender.endRow();
    }
    appender.closeSync();
    const sequences = await pickedSequences(con, picked);
    const popularity = sample.popularity === false ? new Float64Array(0) : await testHistoryPopularity(con, itemIds.length - 1);
    const digest = await digestFiles(plan.files);
    return {
      itemIds,
      users,
      interactions: rows,
      eligible,
      picked,
      sequences,
      popularity,
      format: plan.format,
      ...digest,
      rowsRead,
      rowsSkippedByFilter,
    };
  });
}

/** The picked users' items, oldest first (ties and untimed rows in file order), in `picked`'s order. */
async function pickedSequences(con: DuckDBConnection, picked: Int32Array): Promise<Int32Array[]> {
  const slot = new Map(Array.from(picked, (u, i) => [u, i]));
  const lists: number[][] = Array.from(picked, () => []);
  const sql = `SELECT uid, iid FROM raw JOIN users USING (u) JOIN picked USING (uid) JOIN items USING (i) ORDER BY uid, t, raw.rowid`;
  await eachChunk(con, sql, ([uid, iid], rows) => {
    for (let r = 0; r < rows; r++) lists[slot.get(uid.getItem(r) as number)!].push(iid.getItem(r) as number);
  });
  return lists.map((l) => Int32Array.from(l));
}

/** Per item: its rows, less those that are an eligible user's last (the latest time, then the latest in file order). */
async function testHistoryPopularity(con: DuckDBConnection, numItems: number): Promise<Float64Array> {
  const popularity = new Float64Array(numItems + 1);
  const sql = `WITH latest AS (SELECT u, max(t) AS t FROM raw GROUP BY u HAVING count(*) >= 3),
          last AS (SELECT arg_max(raw.i, raw.rowid) AS i FROM raw JOIN latest ON raw.u = latest.u AND raw.t IS NOT DISTINCT FROM latest.t GROUP BY raw.u),
          perItem AS (SELECT i, count(*) AS n FROM raw GROUP BY i),
          lasts AS (SELECT i, count(*) AS n FROM last GROUP BY i)
     SELECT items.iid, (perItem.n - coalesce(lasts.n, 0))::DOUBLE FROM perItem JOIN items USING (i) LEFT JOIN lasts USING (i)`;
  await eachChunk(con, sql, ([iid, n], rows) => {
    for (let r = 0; r < rows; r++) popularity[iid.getItem(r) as number] = n.getItem(r) as number;
  });
  return popularity;
}

/** The columns a scan hands the visitor, as SQL over the source, or the problem that stops it. */
async function scanColumns(con: DuckDBConnection, plan: Plan): Promise<string> {
  const { user, item, time, timeType, event } = await resolveColumns(con, plan);
  // text times go to the checks as written (they parse numbers and ISO-8601); typed ones as seconds
  const t = !time ? "NULL" : TEXT_TYPE.test(timeType) ? `CAST(${time} AS VARCHAR)` : timeExpression(time, timeType);
  return `SELECT CAST(${user} AS VARCHAR), CAST(${item} AS VARCHAR), ${t}, ${event ? `CAST(${event} AS VARCHAR)` : "NULL"} FROM (${plan.source})`;
}

/**
 * validate-data's pass over a log read through DuckDB: every row, in file order, handed to the
 * same visitor the text scanner feeds (row numbers stand for lines). A column the options name
 * but the log lacks is the scan-ending \`columns\` problem, as a missing CSV header column is.
 */
export async function scanWithDuckDb(path: string, options: ReadOptions, visitor: RowVisitor): Promise<ScanInfo> {
  return withLog(path, options, async (con, plan) => {
    const info = { format: plan.format, ...(await digestFiles(plan.files)), gzip: false };
    let sql: string;
    try {
      sql = await scanColumns(con, plan);
    } catch (error) {
      if (!(error instanceof RecshipError) || !/ column ".*" is not in the log/.test(error.message)) throw error;
      visitor.problem({ kind: "columns", line: 1, where: plan.where, value: "", message: error.message, fix: error.fix ?? "" });
      return { ...info, lines: 0 };
    }
    return { ...info, lines: await visitRows(con, sql, plan.where, visitor) };
  });
}

/** Streams the scan's rows into the visitor; an empty id is a one-row problem, as in a text log. */
async function visitRows(con: DuckDBConnection, sql: string, where: string, visitor: RowVisitor): Promise<number> {
  let line = 0;
  await eachChunk(con, sql, ([users, items, times, events], rows) => {
    for (let r = 0; r < rows; r++) {
      line++;
      const user = users.getItem(r) as string | null;
      const item = items.getItem(r) as string | null;
      if (!user || !item) {
        const message = `empty ${!user ? "user" : "item"} id`;
        visitor.problem({
          kind: "empty-id",
          line,
          where: `${where}: row ${line}`,
          value: `${user ?? ""} ${item ?? ""}`,
          message,
          fix: "remove or repair the row",
        });
        continue;
      }
      const time = times.getItem(r) ?? undefined;
      const event = (events.getItem(r) as string | null) ?? undefined;
      // the record's text is what duplicate-row checks compare: the row's values as read
      visitor.record(`${user}\t${item}\t${String(time ?? "")}\t${event ?? ""}`, line);
      visitor.row(user, item, time, event, line);
    }
  });
  return line;
}
