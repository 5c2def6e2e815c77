import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { duckDb } from "../shared/data/duckdb-runtime.js";
import { readInteractions } from "../shared/data/readers.js";
import { runDistAction } from "./helpers/run-action.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

describe("train-model action from its dist bundle", () => {
  const dir = tempDir();

  it("trains, sets its outputs and writes the job summary", async () => {
    const csv = await syntheticCsv(dir, 400, 5);
    const run = await runDistAction(
      "train-model",
      {
        data: csv.data,
        "user-column": "user_id",
        "item-column": "item_id",
        "time-column": "timestamp",
        config: "model:\n  hidden: 16\n  maxlen: 10\ntrain:\n  batchTokens: 512",
        epochs: "2",
        out: "bundle",
      },
      dir,
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/tfjs backend: @tensorflow\/tfjs-backend-wasm \(simd\)/);
    expect(run.stdout).toMatch(/::group::epoch 1\/2/);
    expect(run.outputs.bundle).toBe(join(dir, "bundle"));
    expect(Number(run.outputs["valid-ndcg10"])).toBeGreaterThan(0);
    const test = JSON.parse(run.outputs["test-metrics"]);
    expect(test.full.ndcg10).toBeGreaterThan(0);
    expect(test.sampled.hr10).toBeGreaterThan(0);
    expect(existsSync(run.outputs.report)).toBe(true);
    expect(JSON.parse(readFileSync(run.outputs.report, "utf8")).backend).toBe("wasm");
    expect(run.summary).toMatch(/## recship train-model/);
    expect(run.summary).toMatch(/\| SASRec \(test\) \| 0\.\d{4} \|/);
    expect(run.summary).toMatch(/```mermaid\nxychart-beta/);
    const manifest = await readManifest(run.outputs.bundle);
    expect(manifest.git?.sha).toBe("0123456789abcdef0123456789abcdef01234567");
  });

  it("reads a folder of Parquet files through a SQL query (DuckDB, loaded outside the bundle) and records the query", async () => {
    const csv = await syntheticCsv(dir, 300, 11);
    const folder = join(dir, "export");
    mkdirSync(folder);
    const { DuckDBInstance } = duckDb();
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    await con.run(
      `COPY (SELECT * FROM read_csv('${csv.data}', header = true)) TO '${folder}' (FORMAT parquet, PARTITION_BY (event), OVERWRITE_OR_IGNORE)`,
    );
    con.closeSync();
    instance.closeSync();
    const query = "SELECT user_id AS shopper, item_id AS sku, timestamp AS at, event FROM log WHERE event = 'purchase'";
    const run = await runDistAction(
      "train-model",
      {
        data: folder,
        query,
        "user-column": "shopper",
        "item-column": "sku",
        "time-column": "at",
        config: "model:\n  hidden: 16\n  maxlen: 10",
        epochs: "1",
        out: "bundle-pq",
      },
      dir,
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const manifest = await readManifest(run.outputs.bundle);
    expect(manifest.data.format).toBe("parquet");
    expect(manifest.data.read?.query).toBe(query);
    const viaCsv = await readInteractions(csv.data, {
      userColumn: "user_id",
      itemColumn: "item_id",
      timeColumn: "timestamp",
      eventColumn: "event",
      eventFilter: ["purchase"],
    });
    expect(manifest.data.interactions).toBe(viaCsv.log.interactions);
    expect(manifest.data.users).toBe(viaCsv.log.userIds.length);
  });

  it("install-gpu-backend: an install that fails (here the registry is unreachable) fails the step with what to do, leaves no half-installed tool folder and no bundle", async () => {
    const csv = await syntheticCsv(dir, 100, 7);
    const tools = join(dir, "tool-cache");
    const run = await runDistAction(
      "train-model",
      { data: csv.data, "install-gpu-backend": "true", out: "b-gpu" },
      dir,
      {},
      dir,
      // a registry that refuses connections at once, and no retries: the real npm client fails fast
      { RUNNER_TOOL_CACHE: tools, npm_config_registry: "http://127.0.0.1:9/", npm_config_fetch_retries: "0" },
    );
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/installing @tensorflow\/tfjs-node-gpu@4\.22\.0 into .*tool-cache/);
    expect(run.stdout).toMatch(
      /::error title=recship::could not install @tensorflow\/tfjs-node-gpu@4\.22\.0 .*npm error.*Fix: .*TFJS_NODE_CDN_STORAGE.*RECSHIP_TFJS_NODE_DIR/,
    );
    expect(run.stdout).not.toMatch(/at .*\.js:\d+/);
    expect(existsSync(join(tools, "recship-tensorflow-tfjs-node-gpu", "4.22.0", `${process.platform}-${process.arch}`))).toBe(false);
    expect(existsSync(join(dir, "b-gpu"))).toBe(false);
  });

  it("fails with an annotation, not a stack trace, on bad config", async () => {
    const csv = await syntheticCsv(dir, 100, 6);
    const run = await runDistAction("train-model", { data: csv.data, config: "model:\n  hiden: 8", out: "b2" }, dir);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/::error title=recship::.*unknown key "hiden" under model/);
    expect(run.stdout).not.toMatch(/at .*\.js:\d+/);
  });
});
