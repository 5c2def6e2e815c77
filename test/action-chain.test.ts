import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { runDistAction } from "./helpers/run-action.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * convert-onnx and compress-model from their dist bundles, chained on one bundle the way a
 * workflow chains them (train-model's dist bundle makes it): outputs, summaries, the manifest.
 */
describe("convert-onnx and compress-model actions from their dist bundles", () => {
  const dir = tempDir("recship-action-chain-");

  it("train → convert → compress: each sets its outputs and summary and adds to the bundle", async () => {
    const csv = await syntheticCsv(dir, 300, 12);
    const train = await runDistAction(
      "train-model",
      {
        data: csv.data,
        "user-column": "user_id",
        "item-column": "item_id",
        "time-column": "timestamp",
        config: "model:\n  hidden: 16\n  maxlen: 10",
        epochs: "1",
        out: "bundle",
      },
      dir,
    );
    expect(train.code).toBe(0);
    const bundle = train.outputs.bundle;

    const convert = await runDistAction("convert-onnx", { bundle, "parity-sequences": "200" }, dir);
    expect(convert.stderr).toBe("");
    expect(convert.code).toBe(0);
    expect(convert.outputs.model).toBe(join(bundle, "model.onnx"));
    expect(Number(convert.outputs["max-abs-diff"])).toBeLessThanOrEqual(1e-4);
    expect(Number(convert.outputs["top10-agreement"])).toBeGreaterThanOrEqual(0.999);
    expect(existsSync(convert.outputs.report)).toBe(true);
    expect(convert.summary).toMatch(/## recship convert-onnx/);
    const afterConvert = await readManifest(bundle);
    expect(afterConvert.artifacts.onnx).toMatchObject({ file: "model.onnx", format: "onnx" });

    const compress = await runDistAction(
      "compress-model",
      { bundle, methods: "emb-int8,fp16", "max-ndcg-drop": "0.05", "latency-repetitions": "5", calibration: "64" },
      dir,
    );
    expect(compress.stderr).toBe("");
    expect(compress.code).toBe(0);
    expect(["emb-int8", "fp16"]).toContain(compress.outputs.method);
    expect(Number(compress.outputs["size-ratio"])).toBeLessThan(1);
    expect(existsSync(compress.outputs.model)).toBe(true);
    expect(compress.summary).toMatch(/## recship compress-model/);
    const report = JSON.parse(readFileSync(compress.outputs.report, "utf8"));
    expect(report.chosen.method).toBe(compress.outputs.method);
    expect(report.variants.map((v: { method: string }) => v.method).sort()).toEqual(["emb-int8", "fp16"]);
    // the fp32 export stays; the chosen variant is recorded with its lineage
    const manifest = await readManifest(bundle);
    expect(statSync(join(bundle, "model.onnx")).size).toBe(afterConvert.artifacts.onnx!.bytes);
    const chosen = Object.values(manifest.artifacts).find((a) => (a as { chosen?: boolean }).chosen);
    expect(chosen).toBeDefined();
  });

  it("fail the step with an annotation, not a stack trace, when the bundle is missing", async () => {
    for (const action of ["convert-onnx", "compress-model"]) {
      const run = await runDistAction(action, { bundle: join(dir, "no-such-bundle") }, dir);
      expect(run.code).not.toBe(0);
      expect(run.stdout).toMatch(/::error title=recship::/);
      expect(run.stdout).toContain("no-such-bundle");
      expect(run.stdout).not.toMatch(/recship crashed/);
    }
  });
});
