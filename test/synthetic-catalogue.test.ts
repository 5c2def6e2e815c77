import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { duckDbSettings, readWithDuckDb } from "../shared/data/duckdb-reader.js";
import { writeSyntheticCatalogue } from "../shared/data/synthetic-catalogue.js";
import { RecshipError } from "../shared/errors.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir();
const read = (path: string) => readWithDuckDb(path, { userColumn: "user_id", itemColumn: "item_id", timeColumn: "ts" });

describe("the synthetic catalogue at scale (Parquet through DuckDB)", () => {
  it("writes the events asked for as Parquet parts with a long-tailed popularity, sessions and repeats, the same for a seed", async () => {
    const a = join(dir, "a");
    const result = await writeSyntheticCatalogue(a, { items: 2000, events: 300_000, seed: 3, partBytes: 100_000 });
    expect(result.rows).toBe(300_000);
    expect(result.files.length).toBeGreaterThan(1); // a folder of parts, as a warehouse export
    expect(result.users).toBeGreaterThan(12_000); // mean history 20: ~15,000 users
    expect(result.users).toBeLessThan(18_000);

    const { log, rowsRead } = await read(a);
    expect(rowsRead).toBe(300_000);
    expect(log.userIds.length).toBe(result.users);
    expect(log.itemIds.length - 1).toBeLessThanOrEqual(2000);
    const counts = new Map<number, number>();
    let repeats = 0;
    for (const s of log.sequences) {
      const seen = new Set<number>();
      for (const item of s) {
        counts.set(item, (counts.get(item) ?? 0) + 1);
        if (seen.has(item)) repeats++;
        seen.add(item);
      }
    }
    const sorted = [...counts.values()].sort((x, y) => y - x);
    // Zipf-like: the top item is far above the median one
    expect(sorted[0]).toBeGreaterThan(20 * sorted[Math.floor(sorted.length / 2)]);
    expect(repeats / 300_000).toBeGreaterThan(0.05);

    const again = join(dir, "b");
    await writeSyntheticCatalogue(again, { items: 2000, events: 300_000, seed: 3, partBytes: 100_000, threads: 1 });
    expect((await read(again)).log.sequences).toEqual(log.sequences);
    // byte for byte, whatever DuckDB's thread count
    for (const f of result.files) expect(readFileSync(join(again, f))).toEqual(readFileSync(join(a, f)));
    const other = join(dir, "c");
    await writeSyntheticCatalogue(other, { items: 2000, events: 300_000, seed: 4 });
    expect((await read(other)).log.sequences).not.toEqual(log.sequences);
  });

  it("keeps each user's events in time order, a session's events minutes apart and sessions a day apart", async () => {
    const d = join(dir, "t");
    await writeSyntheticCatalogue(d, { items: 500, events: 5_000, seed: 1 });
    const { duckDb } = await import("../shared/data/duckdb-runtime.js");
    const instance = await duckDb().DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    const rows = (
      await con.runAndReadAll(
        `SELECT min(gap), max(gap) FROM (SELECT ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts) AS gap FROM read_parquet('${d}/*.parquet'))`,
      )
    ).getRows();
    con.closeSync();
    instance.closeSync();
    expect(Number(rows[0][0])).toBe(60);
    expect(Number(rows[0][1])).toBe(86400 + 60);
  });

  it("refuses a catalogue too small to mean anything, with the fix", async () => {
    await expect(writeSyntheticCatalogue(join(dir, "x"), { items: 5, events: 100 })).rejects.toThrow(RecshipError);
    await expect(writeSyntheticCatalogue(join(dir, "x"), { items: 100, events: 0 })).rejects.toThrow(/at least 1 event/);
  });

  it("bounds DuckDB's memory (2 GB unless RECSHIP_DUCKDB_MEMORY_LIMIT says otherwise) and spills to its own folder", () => {
    const defaults = duckDbSettings({}, "/scratch");
    expect(defaults.settings.memory_limit).toBe("2GB");
    expect(defaults.tempDir.startsWith("/scratch/recship-duckdb-")).toBe(true);
    expect(defaults.settings.temp_directory).toBe(defaults.tempDir);
    expect(duckDbSettings({ RECSHIP_DUCKDB_MEMORY_LIMIT: "6GB" }).settings.memory_limit).toBe("6GB");
    expect(duckDbSettings({}, "/scratch").tempDir).not.toBe(defaults.tempDir); // two reads never share one
  });
});
