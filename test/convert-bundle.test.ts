import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { convertBundle, ParityFailure, type ConvertOptions } from "../shared/convert/convert-bundle.js";
import { RecshipError } from "../shared/errors.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { trainModel } from "../shared/train/train-model.js";
import { RECSHIP_VERSION } from "../shared/version.js";
import { writeTestBundle, type TestBundle } from "./helpers/onnx-bundle.js";
import { checkWithOnnx, metadataOf, onnxCheckerUnavailable, readModel } from "./helpers/onnx-check.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-convert-");
let pristine: TestBundle;
let copies = 0;

beforeAll(async () => {
  await initBackend("auto", silentLogger);
  pristine = await writeTestBundle(join(dir, "pristine"), { numItems: 40, seed: 4 });
});

/** A fresh copy of the test bundle, so every case starts from what train-model would have left. */
function freshBundle(): string {
  const target = join(dir, `bundle-${++copies}`);
  cpSync(pristine.dir, target, { recursive: true });
  return target;
}

/** Everything in a folder with its sha256, to prove a failed conversion changed nothing. */
function snapshot(folder: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(folder).map((f) => [
      f,
      createHash("sha256")
        .update(readFileSync(join(folder, f)))
        .digest("hex"),
    ]),
  );
}

const fast = (bundle: string, extra: Partial<ConvertOptions> = {}): ConvertOptions => ({
  bundle,
  randomSequences: 40,
  log: silentLogger,
  ...extra,
});

describe("convertBundle", () => {
  it("writes model.onnx, records it in bundle.json and reports parity", async () => {
    const bundle = freshBundle();
    const before = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"));
    const log = memoryLogger();
    const report = await convertBundle(fast(bundle, { log }));

    expect(report.step).toBe("convert");
    expect(report.model).toBe(join(bundle, "model.onnx"));
    const bytes = readFileSync(report.model);
    expect(report.onnxBytes).toBe(bytes.byteLength);
    expect(report.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(report.exportSeconds).toBeGreaterThan(0);
    expect(report.opset).toBe(17);
    expect(report.topK).toBe(40); // the default 100, capped at the 40 items
    expect(report.outputs.map((o) => `${o.name}:${o.type}[${o.dims.join(",")}]`)).toEqual([
      "scores:float[batch,40]",
      "top_items:int64[batch,40]",
      "top_scores:float[batch,40]",
      "user_embedding:float[batch,16]",
    ]);
    expect(report.inputs).toEqual([{ name: "item_seq", type: "int64", dims: ["batch", 10] }]);
    expect(report.parity.passed).toBe(true);
    expect(report.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(report.parity.top10Agreement).toBe(1);
    expect(report.parity.optimizedTop10Agreement).toBe(1);
    expect(report.parity.sequences).toBe(40 + report.parity.edgeSequences);
    expect(report.warnings.join("\n")).toMatch(/no real histories/);

    const after = await readManifest(bundle);
    const onnx = after.artifacts.onnx;
    expect(onnx).toMatchObject({ file: "model.onnx", sha256: report.sha256, bytes: report.onnxBytes, opset: 17, topK: 40, format: "onnx" });
    expect(onnx.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect((onnx.parity as { maxAbsDiff: number }).maxAbsDiff).toBe(report.parity.maxAbsDiff);
    // nothing train-model wrote changed
    expect(JSON.stringify({ ...after, artifacts: {} })).toBe(JSON.stringify({ ...before, artifacts: {} }));
    expect(readdirSync(bundle).sort()).toEqual(["bundle.json", "items.txt", "model.onnx", "weights.bin"]);

    const model = await readModel(report.model);
    const meta = metadataOf(model);
    expect(meta["recship.version"]).toBe(RECSHIP_VERSION);
    expect(meta["recship.bundle_schema_version"]).toBe("1");
    expect(meta["recship.data_sha256"]).toBe(before.data.sha256);
    expect(meta["recship.git_sha"]).toBe("abc123");
    expect(meta["recship.model_config_hash"]).toBe(before.model.configHash);
    expect(meta["recship.weights_sha256"]).toBe(before.weights.sha256);
    expect(meta["recship.vocabulary_sha256"]).toBe(before.vocabulary.sha256);
    expect(JSON.parse(meta["recship.training_metrics"]).test).toEqual(before.training.test.full);
    expect(meta["recship.top_k"]).toBe("40");
    expect(model.producerName).toBe("recship");
    expect(Number(model.irVersion)).toBe(8);
    expect(log.lines.some((l) => /^parity on \d+ sequences/.test(l))).toBe(true);
  });

  it("is deterministic: the same bundle exports to the same bytes", async () => {
    const a = await convertBundle(fast(freshBundle()));
    const b = await convertBundle(fast(freshBundle()));
    expect(b.sha256).toBe(a.sha256);
  });

  it("writes external data when asked, and removes it again on a later inline conversion", async () => {
    const bundle = freshBundle();
    const ext = await convertBundle(fast(bundle, { externalDataThresholdBytes: 1024 }));
    expect(ext.externalData?.file).toBe("model.onnx.data");
    expect(existsSync(join(bundle, "model.onnx.data"))).toBe(true);
    expect(ext.parity.passed).toBe(true);
    const manifest = await readManifest(bundle);
    expect(manifest.artifacts.onnx.externalData).toMatchObject({ file: "model.onnx.data", bytes: ext.externalData!.bytes });
    if (!onnxCheckerUnavailable()) expect(checkWithOnnx(join(bundle, "model.onnx"))).toMatch(/^ok/);

    const inline = await convertBundle(fast(bundle, { topK: 5 }));
    expect(inline.externalData).toBeUndefined();
    expect(existsSync(join(bundle, "model.onnx.data"))).toBe(false);
    const again = await readManifest(bundle);
    expect(again.artifacts.onnx.externalData).toBeUndefined();
    expect(again.artifacts.onnx.topK).toBe(5);
  });

  it.skipIf(onnxCheckerUnavailable() !== undefined)("writes a model that passes onnx.checker full_check", async () => {
    const report = await convertBundle(fast(freshBundle()));
    expect(checkWithOnnx(report.model)).toMatch(/^ok/);
  });

  it("uses histories passed by the caller, and real histories read from the training data", async () => {
    const bundle = freshBundle();
    const histories = [Int32Array.of(1, 2, 3), Int32Array.of(40), new Int32Array(0), Int32Array.from({ length: 15 }, (_, i) => 1 + i)];
    const given = await convertBundle(fast(bundle, { histories }));
    expect(given.parity.realSequences).toBe(4);

    // a log in the bundle's vocabulary (sku-1..sku-40) plus one unknown item
    const rows = ["user_id,item_id,timestamp"];
    for (let u = 0; u < 30; u++) for (let t = 0; t < 3 + (u % 12); t++) rows.push(`u${u},sku-${1 + ((u * 7 + t * 3) % 40)},${t}`);
    rows.push("u0,sku-unknown,99");
    const csv = join(dir, "log.csv");
    writeFileSync(csv, `${rows.join("\n")}\n`);
    const log = memoryLogger();
    const fromData = await convertBundle(
      fast(bundle, { data: { path: csv, userColumn: "user_id", itemColumn: "item_id", timeColumn: "timestamp" }, log }),
    );
    expect(fromData.parity.realSequences).toBe(30);
    expect(fromData.parity.passed).toBe(true);
    expect(fromData.warnings.join("\n")).toMatch(/not the file the bundle was trained on/);
    expect(log.lines.join("\n")).toMatch(/30 validation histories .*1 interactions with items outside the vocabulary skipped/);
  });

  it("rejects histories holding ids outside the vocabulary", async () => {
    await expect(convertBundle(fast(freshBundle(), { histories: [Int32Array.of(41)] }))).rejects.toThrow(/items are dense ids 1\.\.40/);
  });

  describe("bad input fails with a specific RecshipError and leaves the bundle as it was", () => {
    const cases: { name: string; damage: (bundle: string) => void; options?: Partial<ConvertOptions>; message: RegExp }[] = [
      {
        name: "bundle from a newer schema",
        damage: (b) => editManifest(b, (m) => (m.schemaVersion = 2)),
        message: /written by a newer recship \(schema version 2/,
      },
      {
        name: "missing weights",
        damage: (b) => unlinkSync(join(b, "weights.bin")),
        message: /weights file "weights.bin" named in bundle.json is missing/,
      },
      {
        name: "truncated weights",
        damage: (b) => truncateSync(join(b, "weights.bin"), 100),
        message: /weights file is truncated: 100 bytes/,
      },
      {
        name: "corrupted weights",
        damage: (b) => {
          const data = readFileSync(join(b, "weights.bin"));
          data[10] ^= 0xff;
          writeFileSync(join(b, "weights.bin"), data);
        },
        message: /does not match the checksum/,
      },
      {
        name: "unknown model kind",
        damage: (b) => editManifest(b, (m) => ((m.model as { kind: string }).kind = "gru4rec")),
        message: /model kind "gru4rec" has no ONNX export \(known: sasrec\)/,
      },
      {
        name: "weights that do not fit the config",
        damage: (b) => editManifest(b, (m) => ((m.model as { config: { ffnDim: number } }).config.ffnDim = 32)),
        message: /tensor "block0.ffn.w1" holds 384 values; the model config needs shape \[16, 32\]/,
      },
      {
        name: "no bundle at all",
        damage: (b) => unlinkSync(join(b, "bundle.json")),
        message: /no bundle.json in .*not a recship model bundle/,
      },
      { name: "unsupported opset", damage: () => {}, options: { opset: 13 }, message: /opset 13 is not supported/ },
      {
        name: "top-k beyond the vocabulary",
        damage: () => {},
        options: { topK: 41 },
        message: /top-k 41 is out of range: the model scores 40 items/,
      },
      { name: "a zero tolerance", damage: () => {}, options: { maxAbsDiff: 0 }, message: /max-abs-diff must be a positive number/ },
      {
        name: "an agreement above 1",
        damage: () => {},
        options: { minTop10Agreement: 99.9 },
        message: /min-top10-agreement must be a fraction in \(0, 1\]/,
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const bundle = freshBundle();
        c.damage(bundle);
        const before = snapshot(bundle);
        const error = await convertBundle(fast(bundle, c.options)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RecshipError);
        expect((error as Error).message).toMatch(c.message);
        expect(snapshot(bundle)).toEqual(before);
      });
    }
  });

  it("fails on parity outside the tolerance with the figures, a report, and nothing half-written", async () => {
    const bundle = freshBundle();
    const before = snapshot(bundle);
    const error = await convertBundle(fast(bundle, { maxAbsDiff: 1e-12 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParityFailure);
    const failure = error as ParityFailure;
    expect(failure.message).toMatch(/does not reproduce the bundle's model: max \|Δ\| of the scores \d\.\d+e-\d+ exceeds 1\.00e-12/);
    expect(failure.report.parity.passed).toBe(false);
    expect(failure.report.parity.maxAbsDiff).toBeGreaterThan(1e-12);
    expect(snapshot(bundle)).toEqual(before);
  });

  it("converts a bundle trained by train-model, checking parity on its real validation histories", async () => {
    const csv = await syntheticCsv(dir, 300, 9);
    const trained = await trainModel({
      ...csv,
      out: join(dir, "trained"),
      config: "model:\n  hidden: 16\n  maxlen: 10\n  heads: 2\ntrain:\n  batchTokens: 512\n  negatives: 64",
      overrides: { train: { epochs: 1 } },
      log: silentLogger,
    });
    const report = await convertBundle({
      bundle: trained.bundle,
      data: { path: csv.data, ...csv },
      randomSequences: 50,
      log: silentLogger,
    });
    expect(report.parity.realSequences).toBe(trained.data.evaluationUsers);
    expect(report.parity.passed).toBe(true);
    expect(report.warnings).toEqual([]);
    const meta = metadataOf(await readModel(report.model));
    expect(meta["recship.data_sha256"]).toBe(trained.data.sha256);
  });
});

function editManifest(bundle: string, edit: (m: Record<string, unknown>) => void): void {
  const path = join(bundle, "bundle.json");
  const m = JSON.parse(readFileSync(path, "utf8"));
  edit(m);
  writeFileSync(path, JSON.stringify(m, null, 2));
}
