import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { main } from "../shared/cli/main.js";
import { compressBundle, CompressFailure, type CompressOptions } from "../shared/compress/compress-bundle.js";
import type { CompressReport } from "../shared/compress/report.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { compressSummaryMarkdown } from "../shared/report/compress-summary.js";
import { runCompressAction } from "./helpers/compress-action.js";
import { trainedBundle } from "./helpers/compress-fixture.js";
import { checkWithOnnx, metadataOf, onnxCheckerUnavailable, readModel } from "./helpers/onnx-check.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-compress-");
let pristine: string;
let copies = 0;

beforeAll(async () => {
  await initBackend("auto", silentLogger);
  pristine = (await trainedBundle(join(dir, "fixture"))).bundle;
});

function freshBundle(): string {
  const target = join(dir, `bundle-${++copies}`);
  cpSync(pristine, target, { recursive: true });
  return target;
}

/** Every file under a folder with its sha256, to prove a failed step changed nothing. */
function snapshot(folder: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, prefix: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${f}/`);
      else out[`${prefix}${f}`] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(folder, "");
  return out;
}

const fast = (bundle: string, extra: Partial<CompressOptions> = {}): CompressOptions => ({
  bundle,
  latencyRepetitions: 4,
  latencyWarmup: 1,
  calibration: 64,
  log: silentLogger,
  ...extra,
});

const REPORT_FIELDS = ["method", "sizeRatio", "latencyRatioBatch64", "ndcg10RelDrop"] as const;

describe("compress-model on a trained bundle", () => {
  it("builds and measures every variant, picks the smallest within the budget and records it in bundle.json", async () => {
    const bundle = freshBundle();
    const fp32 = readFileSync(join(bundle, "model.onnx"));
    const log = memoryLogger();
    const report = await compressBundle(
      fast(bundle, { methods: ["emb-int8+int8-dynamic", "int8-qdq", "emb-int4", "fp16", "prune"], maxNdcgDrop: 0.25, log }),
    );

    expect(report.passed).toBe(true);
    expect(report.variants.map((v) => v.method)).toEqual(["emb-int8+int8-dynamic", "int8-qdq", "emb-int4", "fp16", "prune"]);
    for (const v of [report.chosen!, ...report.variants]) {
      for (const f of REPORT_FIELDS) expect(v[f]).toBeDefined();
      expect(Number.isFinite(v.sizeRatio) && Number.isFinite(v.latencyRatioBatch64) && Number.isFinite(v.ndcg10RelDrop)).toBe(true);
      expect(v.latency.batch1.runs).toBe(4);
      expect(v.latency.batch64.batch).toBe(64);
      expect(v.validation.ndcg10).toBeGreaterThan(0);
      expect(v.test.ndcg10).toBeGreaterThan(0);
    }
    // the objective is size: the chosen variant is the smallest of those within the budget
    const eligible = report.variants.filter((v) => v.eligible);
    expect(report.chosen!.sizeRatio).toBe(Math.min(...eligible.map((v) => v.sizeRatio)));
    expect(report.variants.filter((v) => v.chosen)).toEqual([report.chosen]);
    const byMethod = Object.fromEntries(report.variants.map((v) => [v.method, v]));
    // an int8 table beside int8 dense layers is far smaller; pruning does not shrink a dense file, only its gzip
    expect(byMethod["emb-int8+int8-dynamic"].sizeRatio).toBeLessThan(0.5);
    expect(byMethod.prune.sizeRatio).toBeGreaterThan(0.99);
    expect(byMethod.prune.gzipRatio).toBeLessThan(0.8);
    expect(byMethod.prune.eligible).toBe(false);
    expect(byMethod.prune.verdict).toMatch(/no size saving/);
    expect(byMethod.fp16.notes.join(" ")).toMatch(/computes in fp32/);
    expect(byMethod["int8-qdq"].calibration).toMatchObject({ method: "minmax", sequences: 64 });
    // the baseline is measured the same way
    expect(report.baseline.method).toBe("fp32");
    expect(report.baseline.parameters).toBe((await readManifest(bundle)).model.parameters);

    // installed: the files, the manifest entries (one chosen, with lineage), the fp32 model untouched
    expect(readFileSync(join(bundle, "model.onnx")).equals(fp32)).toBe(true);
    const manifest = await readManifest(bundle);
    expect(manifest.artifacts.onnx).toBeDefined();
    const recorded = Object.entries(manifest.artifacts).filter(([k]) => k.startsWith("compressed/"));
    expect(recorded.map(([k]) => k).sort()).toEqual(report.variants.map((v) => `compressed/${v.method}`).sort());
    const chosen = recorded.filter(([, a]) => a.chosen === true);
    expect(chosen).toHaveLength(1);
    const [, artifact] = chosen[0];
    expect(artifact.file).toBe(`compressed/${report.chosen!.method}.onnx`);
    expect(join(bundle, artifact.file)).toBe(report.chosen!.path);
    expect(createHash("sha256").update(readFileSync(report.chosen!.path)).digest("hex")).toBe(artifact.sha256);
    expect(artifact.lineage).toMatchObject({
      from: "model.onnx",
      fromSha256: manifest.artifacts.onnx.sha256,
      methods: report.chosen!.methods,
    });
    const meta = metadataOf(await readModel(report.chosen!.path));
    expect(JSON.parse(meta["recship.compression"])).toMatchObject({
      method: report.chosen!.method,
      sourceSha256: manifest.artifacts.onnx.sha256,
    });
    expect(meta["recship.data_sha256"]).toBe(manifest.data.sha256); // the exporter's lineage carries over
    expect(readdirSync(bundle).some((f) => f.startsWith(".compress-"))).toBe(false);

    // the written variants pass the independent checker
    const missing = onnxCheckerUnavailable();
    if (missing) console.warn(`skipping onnx.checker: ${missing}`);
    else for (const v of report.variants) expect(checkWithOnnx(v.path)).toMatch(/^ok/);

    const markdown = compressSummaryMarkdown(report);
    expect(markdown).toMatch(/## recship compress-model/);
    expect(markdown).toMatch(/\| fp32 \(baseline\) \|/);
    expect(markdown).toMatch(new RegExp(`\\| \\*\\*${report.chosen!.method.replace(/[+]/g, "\\+")}\\*\\* \\|.*chosen`));
  });

  it("fails when no variant meets the budget, with the table saying why, and leaves the bundle as it was", async () => {
    const bundle = freshBundle();
    const before = snapshot(bundle);
    // 90% of the weights pruned away, then int8: much smaller, and much worse
    const error = await compressBundle(fast(bundle, { methods: ["prune+emb-int8"], sparsity: 0.9, maxNdcgDrop: 0.01 })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CompressFailure);
    const report = (error as CompressFailure).report;
    expect(report.passed).toBe(false);
    expect(report.chosen).toBeNull();
    const [v] = report.variants;
    // about half: the tiny model's fixed constants (the filter's 10 KB table among them) are a visible share of it
    expect(v.sizeRatio).toBeLessThan(0.55);
    expect(v.ndcg10RelDrop).toBeGreaterThan(0.01);
    expect(v.withinBudget).toBe(false);
    expect(v.verdict).toMatch(/over budget/);
    expect((error as Error).message).toMatch(/no variant is within the budget/);
    const markdown = compressSummaryMarkdown(report);
    expect(markdown).toMatch(/\*\*Failed: no variant is within the budget/);
    expect(markdown).toMatch(/\| prune\+emb-int8 \|.*❌ over budget/);
    expect(snapshot(bundle)).toEqual(before);
  });

  it("refuses unknown or clashing methods before doing any work", async () => {
    const bundle = freshBundle();
    await expect(compressBundle(fast(bundle, { methods: ["int9"] }))).rejects.toThrow(/unknown compression method "int9"/);
    await expect(compressBundle(fast(bundle, { methods: ["emb-int8+emb-int4"] }))).rejects.toThrow(/combines emb-int8 and emb-int4/);
    await expect(compressBundle(fast(bundle, { methods: ["fp16+int8-dynamic"] }))).rejects.toThrow(/fp16 with int8/);
    await expect(compressBundle(fast(bundle, { maxNdcgDrop: 2 }))).rejects.toThrow(/max-ndcg-drop/);
  });

  it("distills a student of at most half the parameters, exports it, and composes it with int8", async () => {
    const bundle = freshBundle();
    const report = await compressBundle(
      fast(bundle, {
        methods: ["distill", "distill+emb-int8+int8-dynamic"],
        maxNdcgDrop: 0.99,
        distill: { epochs: 2, validationUsers: 100 },
      }),
    );
    const teacher = (await readManifest(bundle)).model.parameters;
    const [student, composed] = report.variants;
    expect(student.method).toBe("distill");
    expect(student.parameters).toBeLessThanOrEqual(teacher / 2);
    expect(composed.parameters).toBe(student.parameters);
    expect(composed.sizeRatio).toBeLessThan(student.sizeRatio);
    // the student is a bundle of its own, exported and parity-checked by convert-onnx
    const sub = join(bundle, "compressed", "distill");
    const subManifest = await readManifest(sub);
    expect(subManifest.model.parameters).toBe(student.parameters);
    expect(subManifest.artifacts.onnx.parity).toMatchObject({ top10Agreement: expect.any(Number) });
    expect(student.path).toBe(join(sub, "model.onnx"));
    expect(report.distillation).toMatchObject({ student: { parameters: student.parameters }, epochs: 2 });
    const manifest = await readManifest(bundle);
    expect(manifest.artifacts["compressed/distill+emb-int8+int8-dynamic"].lineage).toMatchObject({
      from: "compressed/distill/model.onnx",
      teacher: "model.onnx",
    });
  });

  it("distills a quantized-table student: the teacher's width and blocks, half the parameters, exported with parity", async () => {
    const bundle = freshBundle();
    const report = await compressBundle(
      fast(bundle, {
        maxNdcgDrop: 0.99,
        distill: { epochs: 1, validationUsers: 100, subspaces: 4 },
        methods: ["distill", "distill+int8-dynamic", "distill+emb-int8+int8-dynamic"],
      }),
    );
    const teacher = await readManifest(bundle);
    const [student, composed] = report.variants;
    expect(student.parameters).toBeLessThanOrEqual(teacher.model.parameters / 2);
    expect(composed.parameters).toBe(student.parameters);
    const sub = await readManifest(join(bundle, "compressed", "distill"));
    expect(sub.model.config).toMatchObject({ hidden: teacher.model.config.hidden, blocks: teacher.model.config.blocks });
    expect(sub.model.config.itemTable).toMatchObject({ kind: "pq", subspaces: 4, centroids: expect.any(Number) });
    expect(sub.weights.tensors.map((t) => t.name)).toEqual(expect.arrayContaining(["item_codebooks", "item_codes"]));
    // the recorded settings are the distillation's own, not the data or the bundle it ran on
    const settings = (report.distillation as { settings: Record<string, unknown> }).settings;
    expect(settings).toMatchObject({ subspaces: 4, tune: "item-table", learningRate: 0.001 });
    for (const key of ["data", "bundle", "log", "dir"]) expect(settings).not.toHaveProperty(key);
    expect(JSON.stringify(report).length).toBeLessThan(200_000);
    expect(sub.artifacts.onnx.parity).toMatchObject({ top10Agreement: 1 });
    expect((sub.artifacts.onnx.parity as { maxAbsDiff: number }).maxAbsDiff).toBeLessThan(1e-3);
  });
});

describe("the compress command and the compress-model action", () => {
  it("recship compress writes the report, exits 0 on success and 1 when no variant fits", async () => {
    const bundle = freshBundle();
    const reportPath = join(dir, "cli-report.json");
    const args = ["compress", "--bundle", bundle, "--latency-repetitions", "3", "--calibration", "32", "--report", reportPath];
    expect(await main([...args, "--methods", "emb-int8,fp16", "--max-ndcg-drop", "0.3", "--objective", "size"])).toBe(0);
    const ok = JSON.parse(readFileSync(reportPath, "utf8")) as CompressReport;
    expect(ok.budget).toMatchObject({ maxNdcgDrop: 0.3, objective: "size" });
    expect(ok.chosen?.method).toBe("emb-int8");
    expect(await main([...args, "--objective", "speed"])).toBe(1);
    expect(await main([...args, "--methods", "prune+emb-int8", "--sparsity", "0.9", "--max-ndcg-drop", "0"])).toBe(1);
    const failed = JSON.parse(readFileSync(reportPath, "utf8")) as CompressReport;
    expect(failed.passed).toBe(false);
    expect(failed.variants[0].verdict).toMatch(/over budget/);
  });

  it("the action sets its outputs and job summary, and fails the step with the table when nothing fits", async () => {
    const bundle = freshBundle();
    const common = { bundle, calibration: "32", "latency-repetitions": "3" };
    const run = await runCompressAction({ ...common, methods: "emb-int8+int8-dynamic", "max-ndcg-drop": "0.3" }, dir, "ok");
    expect(run.code).toBe(0);
    expect(run.outputs.method).toBe("emb-int8+int8-dynamic");
    expect(existsSync(run.outputs.model)).toBe(true);
    expect(Number(run.outputs["size-ratio"])).toBeLessThan(0.5);
    expect(Number(run.outputs["latency-ratio"])).toBeGreaterThan(0);
    expect(Number.isFinite(Number(run.outputs["ndcg-delta"]))).toBe(true);
    expect(JSON.parse(readFileSync(run.outputs.report, "utf8")).chosen.method).toBe("emb-int8+int8-dynamic");
    expect(run.summary).toMatch(/## recship compress-model/);

    const fail = await runCompressAction(
      { ...common, methods: "prune+emb-int8", sparsity: "0.9", "max-ndcg-drop": "0.01", report: join(dir, "action-fail.json") },
      dir,
      "fail",
    );
    expect(fail.code).not.toBe(0);
    expect(fail.stdout).toMatch(/::error title=recship::.*no variant is within the budget/);
    expect(fail.stdout).not.toMatch(/at .*\.[jt]s:\d+/);
    expect(fail.summary).toMatch(/\*\*Failed: no variant is within the budget/);
    expect(fail.outputs.model).toBeUndefined();
  });
});
