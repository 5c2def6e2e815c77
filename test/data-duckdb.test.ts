import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { duckDb } from "../shared/data/duckdb-runtime.js";
import { readInteractions } from "../shared/data/readers.js";
import { scanRows } from "../shared/data/row-scanner.js";
import { validateLog } from "../shared/data/quality/validate-log.js";
import { VALIDATE_OPTIONS } from "../shared/validate/options.js";
import { writeSyntheticShopCsv } from "../shared/data/synthetic.js";
import { RecshipError } from "../shared/errors.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir();

/** Writes Parquet from a SQL query with DuckDB itself (the warehouse's side of the exchange). */
async function writeParquet(path: string, sql: string): Promise<string> {
  const { DuckDBInstance } = duckDb();
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  await con.run(`COPY (${sql}) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`);
  con.closeSync();
  instance.closeSync();
  return path;
}

const seqOf = (r: Awaited<ReturnType<typeof readInteractions>>, user: string) =>
  Array.from(r.log.sequences[r.log.userIds.indexOf(user)], (i) => r.log.itemIds[i]);

async function expectRefusal(promise: Promise<unknown>, message: RegExp): Promise<RecshipError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RecshipError);
  expect((error as RecshipError).message).toMatch(message);
  return error as RecshipError;
}

describe("interaction logs through DuckDB (Parquet, folders, globs, SQL)", () => {
  it("reads a Parquet export exactly as the CSV reader reads the same rows: ids, order, counts", async () => {
    const csv = join(dir, "shop.csv");
    await writeSyntheticShopCsv(csv, { users: 300, seed: 7 });
    // the same rows in several row groups, renamed, with the timestamp as a real TIMESTAMP column
    const parquet = await writeParquet(
      join(dir, "shop.parquet"),
      `SELECT user_id AS customer_id, item_id AS sku, to_timestamp(CAST("timestamp" AS DOUBLE)) AS event_time, event FROM read_csv('${csv}', header = true, all_varchar = true)`,
    );
    const text = await readInteractions(csv, { userColumn: "user_id", itemColumn: "item_id", timeColumn: "timestamp" });
    const viaDuckDb = await readInteractions(parquet, { userColumn: "customer_id", itemColumn: "sku", timeColumn: "event_time" });
    expect(viaDuckDb.format).toBe("parquet");
    expect(viaDuckDb.log.userIds).toEqual(text.log.userIds);
    expect(viaDuckDb.log.itemIds).toEqual(text.log.itemIds);
    expect(viaDuckDb.log.sequences).toEqual(text.log.sequences);
    expect(viaDuckDb.log.interactions).toBe(text.log.interactions);
    expect(viaDuckDb.rowsRead).toBe(text.rowsRead);
    expect(viaDuckDb.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps file order for ties and for logs without a time column, across the files of a folder", async () => {
    const folder = join(dir, "export");
    mkdirSync(join(folder, "day=2"), { recursive: true });
    await writeParquet(
      join(folder, "part-1.parquet"),
      `SELECT * FROM (VALUES ('u1', 'c', 5), ('u2', 'x', 1), ('u1', 'a', 5)) t("user", item, ts)`,
    );
    await writeParquet(
      join(folder, "day=2", "part-0.parquet"),
      `SELECT * FROM (VALUES ('u1', 'b', 1), ('u2', 'y', 9)) t("user", item, ts)`,
    );
    // sorted paths: day=2/part-0 comes before part-1
    const untimed = await readInteractions(folder, {});
    expect(untimed.log.userIds).toEqual(["u1", "u2"]);
    expect(seqOf(untimed, "u1")).toEqual(["b", "c", "a"]);
    expect(untimed.log.itemIds).toEqual(["", "b", "y", "c", "x", "a"]);
    const timed = await readInteractions(folder, { timeColumn: "ts" });
    expect(seqOf(timed, "u1")).toEqual(["b", "c", "a"]); // b at 1, then c and a tie at 5 in file order
    expect(seqOf(timed, "u2")).toEqual(["x", "y"]);
    const glob = await readInteractions(join(folder, "*.parquet"), { timeColumn: "ts" });
    expect(glob.log.interactions).toBe(3); // only part-1 matches the glob
  });

  it("runs a SQL query over the log (the view `log`): renames, filters and casts in SQL, also over CSV", async () => {
    const csv = join(dir, "events.csv");
    writeFileSync(
      csv,
      "visitor,product,at,kind\nv1,p1,100,view\nv1,p2,200,purchase\nv2,p2,50,purchase\nv1,p3,150,purchase\nv3,p9,10,view\n",
    );
    const r = await readInteractions(csv, {
      query: `SELECT visitor AS u, product AS sku, CAST("at" AS BIGINT) AS t FROM log WHERE kind = 'purchase'`,
      userColumn: "u",
      itemColumn: "sku",
      timeColumn: "t",
    });
    expect(r.format).toBe("csv");
    expect(r.log.userIds).toEqual(["v1", "v2"]);
    expect(seqOf(r, "v1")).toEqual(["p3", "p2"]);
    expect(r.rowsRead).toBe(3);
  });

  it("applies the event filter in SQL and counts what it dropped", async () => {
    const parquet = await writeParquet(
      join(dir, "events.parquet"),
      `SELECT * FROM (VALUES ('u1', 'a', 'view'), ('u1', 'b', 'purchase'), ('u2', 'c', 'add_to_cart'), ('u2', 'd', NULL)) t("user", item, event)`,
    );
    const r = await readInteractions(parquet, { eventColumn: "event", eventFilter: ["purchase", "add_to_cart"] });
    expect(r.rowsRead).toBe(4);
    expect(r.rowsSkippedByFilter).toBe(2);
    expect(seqOf(r, "u1")).toEqual(["b"]);
    expect(r.log.itemIds).toEqual(["", "b", "c"]);
    await expectRefusal(
      readInteractions(parquet, { eventColumn: "event", eventFilter: ["refund"] }),
      /no interactions left after the event filter \(4 rows skipped\)/,
    );
  });

  it("refuses what it cannot trust, saying what, where and how to fix it", async () => {
    const parquet = await writeParquet(
      join(dir, "bad.parquet"),
      `SELECT * FROM (VALUES ('u1', 'a', '2024-01-01'), ('u1', NULL, '2024-01-02'), ('u2', 'b', 'yesterday')) t("user", item, ts)`,
    );
    const missing = await expectRefusal(
      readInteractions(parquet, { userColumn: "customer" }),
      /the user column "customer" is not in the log \(columns: user, item, ts\)/,
    );
    expect(missing.fix).toMatch(/--user-col/);
    await expectRefusal(readInteractions(parquet, {}), /row 2 has an empty item id/);
    await expectRefusal(
      readInteractions(parquet, { query: "SELECT * FROM log WHERE item IS NOT NULL", timeColumn: "ts" }),
      /timestamp "yesterday" in column "ts" \(row 2\)/,
    );
    await expectRefusal(readInteractions(parquet, { query: "SELECT * FROM nowhere" }), /DuckDB cannot read .*nowhere/);
    await expectRefusal(readInteractions(join(dir, "none", "*.parquet"), {}), /no files match/);
    const seq = join(dir, "log.seq.txt");
    writeFileSync(seq, "u1 a b\n");
    await expectRefusal(readInteractions(seq, { query: "SELECT * FROM log" }), /a query reads CSV, TSV, JSON Lines or Parquet, not "seq"/);
  });

  it("validate-data checks a Parquet log (and a query) as it checks the same rows as CSV", async () => {
    expect(VALIDATE_OPTIONS.find((o) => o.name === "query")?.kind).toBe("text");
    const csv = join(dir, "shop-v.csv");
    await writeSyntheticShopCsv(csv, { users: 200, seed: 5, viewNoise: 0.2 });
    const parquet = await writeParquet(
      join(dir, "shop-v.parquet"),
      `SELECT user_id, item_id, to_timestamp(CAST("timestamp" AS DOUBLE)) AS ts, event FROM read_csv('${csv}', header = true, all_varchar = true)`,
    );
    const columns = { userColumn: "user_id", itemColumn: "item_id", eventColumn: "event", eventFilter: ["purchase"] };
    const text = await validateLog({ data: csv, ...columns, timeColumn: "timestamp", now: 2e9 });
    const viaDuckDb = await validateLog({ data: parquet, ...columns, timeColumn: "ts", now: 2e9 });
    expect(viaDuckDb.format).toBe("parquet");
    expect([viaDuckDb.rows, viaDuckDb.users, viaDuckDb.items, viaDuckDb.skippedByFilter]).toEqual([
      text.rows,
      text.users,
      text.items,
      text.skippedByFilter,
    ]);
    expect(viaDuckDb.checks.map((c) => [c.name, c.status, c.value])).toEqual(text.checks.map((c) => [c.name, c.status, c.value]));
    // an empty id is the same one-row problem; a missing column ends the scan with the columns listed
    const holes = await writeParquet(
      join(dir, "holes.parquet"),
      `SELECT * FROM (VALUES ('u1', 'a'), ('u1', NULL), ('u2', 'b')) t("user", item)`,
    );
    const report = await validateLog({ data: holes, now: 2e9 });
    expect(report.rows).toBe(2);
    expect(JSON.stringify(report.checks)).toMatch(/empty item id/);
    const missing = await validateLog({ data: holes, userColumn: "customer", now: 2e9 });
    expect(missing.passed).toBe(false);
    expect(JSON.stringify(missing.checks)).toMatch(/the user column \\"customer\\" is not in the log \(columns: user, item\)/);
  });

  it("the text scanner refuses Parquet plainly instead of reading it as text", async () => {
    const parquet = await writeParquet(join(dir, "v.parquet"), `SELECT 'u' AS "user", 'i' AS item`);
    const visitor = { record: () => undefined, row: () => undefined, problem: () => undefined };
    await expectRefusal(scanRows(parquet, {}, visitor), /Parquet files and SQL queries are read through DuckDB/);
  });
});
