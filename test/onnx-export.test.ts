import { mkdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkParity, DEFAULT_TOLERANCE } from "../shared/convert/parity-check.js";
import { paritySample } from "../shared/convert/parity-sample.js";
import { RecshipError } from "../shared/errors.js";
import { silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import type { SasrecConfig } from "../shared/model/config.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { mappingFor, sasrecReference } from "../shared/onnx/mappings.js";
import { OnnxRecommender } from "../shared/onnx/ort-recommender.js";
import { decodeModel, encodeModel } from "../shared/onnx/proto.js";
import { float32Bytes, readFloatTensor } from "../shared/onnx/tensor.js";
import { sasrecGraph } from "../shared/onnx/sasrec-graph.js";
import { makeModel, writeModel } from "../shared/onnx/writer.js";
import { randomWeights, TINY_CONFIG } from "./helpers/onnx-bundle.js";
import { checkWithOnnx, onnxCheckerUnavailable } from "./helpers/onnx-check.js";
import { tempDir } from "./helpers/tmp.js";

beforeAll(async () => {
  await initBackend("auto", silentLogger);
});

const dir = tempDir("recship-onnx-export-");
let counter = 0;

async function exportModel(
  config: SasrecConfig,
  numItems: number,
  weights: Map<string, Float32Array>,
  options: { opset?: number; topK?: number; externalDataThresholdBytes?: number } = {},
): Promise<string> {
  const sub = join(dir, `m${++counter}`);
  mkdirSync(sub);
  const graph = sasrecGraph(config, numItems, weights, { topK: options.topK ?? 10 });
  const model = makeModel(graph.build(), { opset: options.opset, producerName: "recship-test", producerVersion: "0" });
  return (await writeModel(join(sub, "model.onnx"), model, { externalDataThresholdBytes: options.externalDataThresholdBytes })).path;
}

async function parityOf(
  path: string,
  config: SasrecConfig,
  numItems: number,
  referenceWeights: Map<string, Float32Array>,
  random = 60,
  topK = 10,
) {
  const reference = sasrecReference(new SasrecModel(config, numItems, referenceWeights));
  try {
    return await checkParity({
      modelPath: path,
      maxlen: config.maxlen,
      numItems,
      topK,
      reference,
      sample: paritySample({ numItems, maxlen: config.maxlen, random, seed: 5 }),
      tolerance: DEFAULT_TOLERANCE,
      log: silentLogger,
    });
  } finally {
    reference.dispose();
  }
}

const CONFIGS: { name: string; config: Partial<SasrecConfig>; numItems: number; opset?: number; topK?: number }[] = [
  {
    name: "1 block, 1 head, pre-LN, GELU, maxlen 5",
    config: { blocks: 1, heads: 1, norm: "pre", activation: "gelu", maxlen: 5 },
    numItems: 40,
  },
  {
    name: "2 blocks, 2 heads, post-LN, ReLU, maxlen 10",
    config: { blocks: 2, heads: 2, norm: "post", activation: "relu", maxlen: 10 },
    numItems: 60,
  },
  {
    name: "2 blocks, 1 head, post-LN, GELU, maxlen 12",
    config: { blocks: 2, heads: 1, norm: "post", activation: "gelu", maxlen: 12 },
    numItems: 50,
  },
  {
    name: "1 block, 2 heads, pre-LN, ReLU, maxlen 3, top-5",
    config: { blocks: 1, heads: 2, norm: "pre", activation: "relu", maxlen: 3 },
    numItems: 30,
    topK: 5,
  },
  {
    name: "3 blocks, 4 heads, pre-LN, GELU, hidden 32, ffn 48, eps 1e-5, maxlen 16",
    config: { blocks: 3, heads: 4, hidden: 32, ffnDim: 48, layerNormEpsilon: 1e-5, maxlen: 16 },
    numItems: 120,
  },
  { name: "2 blocks, 2 heads, pre-LN, GELU at opset 21", config: {}, numItems: 40, opset: 21 },
  {
    name: "frequency filter (cutoff 3, α 0.6), 2 blocks, pre-LN, maxlen 12",
    config: { frequencyFilter: { cutoff: 3, alpha: 0.6 }, maxlen: 12 },
    numItems: 50,
  },
  {
    name: "frequency filter (cutoff 1: the running mean, α 0.3), 3 blocks, post-LN, ReLU",
    config: { frequencyFilter: { cutoff: 1, alpha: 0.3 }, blocks: 3, norm: "post", activation: "relu" },
    numItems: 40,
  },
  {
    name: "frequency filter, 1 block (the low-pass row of the last position only)",
    config: { frequencyFilter: { cutoff: 4, alpha: 0.8 }, blocks: 1 },
    numItems: 30,
  },
  {
    name: "product-quantized item table: 4 subspaces × 6 codewords (random codes)",
    config: { itemTable: { kind: "pq", subspaces: 4, centroids: 6 } },
    numItems: 50,
  },
];

describe("SASRec → ONNX matches tfjs", () => {
  for (const c of CONFIGS) {
    it(c.name, async () => {
      const config = { ...TINY_CONFIG, ...c.config };
      const weights = randomWeights(config, c.numItems, counter + 11);
      const path = await exportModel(config, c.numItems, weights, { opset: c.opset, topK: c.topK });
      const parity = await parityOf(path, config, c.numItems, weights, 60, c.topK);
      expect(parity.failures).toEqual([]);
      expect(parity.passed).toBe(true);
      expect(parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
      expect(parity.embeddingMaxAbsDiff).toBeLessThanOrEqual(1e-4);
      expect(parity.top10Agreement).toBe(1);
      expect(parity.optimizedTop10Agreement).toBe(1);
      expect(parity.inconsistentTopK).toBe(0);
      expect(parity.sequences).toBe(60 + parity.edgeSequences);
    });
  }

  it("scores like SasrecModel.score on single histories too (no batch padding on the tfjs side)", async () => {
    const config = { ...TINY_CONFIG, norm: "post" as const };
    const weights = randomWeights(config, 40, 99);
    const path = await exportModel(config, 40, weights);
    const model = new SasrecModel(config, 40, weights);
    const ort = await OnnxRecommender.load(path, config.maxlen);
    for (const h of [Int32Array.of(7), Int32Array.of(3, 9, 27), Int32Array.from({ length: 14 }, (_, i) => 1 + ((i * 7) % 40))]) {
      const expected = model.score([h]);
      const actual = (await ort.run([h])).scores;
      let max = 0;
      for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i] - actual[i]));
      expect(max).toBeLessThanOrEqual(1e-4);
    }
    await ort.release();
    model.dispose();
  });

  it("ignores the padding row: changing item_emb[0] changes no score of a non-empty history", async () => {
    const config = TINY_CONFIG;
    const weights = randomWeights(config, 40, 7);
    const altered = new Map(weights);
    altered.set(
      "item_emb",
      Float32Array.from(weights.get("item_emb")!, (v, i) => (i < config.hidden ? v + 3 : v)),
    );
    const a = await OnnxRecommender.load(await exportModel(config, 40, weights), config.maxlen);
    const b = await OnnxRecommender.load(await exportModel(config, 40, altered), config.maxlen);
    const histories = [Int32Array.of(5), Int32Array.of(1, 2, 3), Int32Array.from({ length: config.maxlen }, (_, i) => i + 1)];
    const ra = await a.run(histories);
    const rb = await b.run(histories);
    let max = 0;
    for (let i = 0; i < ra.scores.length; i++) max = Math.max(max, Math.abs(ra.scores[i] - rb.scores[i]));
    expect(max).toBeLessThanOrEqual(1e-6);
    expect(Array.from(rb.topItems)).toEqual(Array.from(ra.topItems));
    await a.release();
    await b.release();
  });

  it("external data round-trips: onnxruntime loads it and gives the inline model's scores", async () => {
    const config = TINY_CONFIG;
    const weights = randomWeights(config, 80, 21);
    const inline = await exportModel(config, 80, weights);
    const external = await exportModel(config, 80, weights, { externalDataThresholdBytes: 1024 });
    const proto = decodeModel(await readFile(external));
    const moved = proto.graph!.initializer!.filter((t) => t.dataLocation === 1).map((t) => t.name);
    expect(moved).toContain("item_emb"); // 81 × 16 floats
    expect(moved).not.toContain("block0.attn.bq"); // 64 bytes stay inline
    const histories = paritySample({ numItems: 80, maxlen: config.maxlen, random: 20, seed: 2 }).histories;
    const a = await OnnxRecommender.load(inline, config.maxlen);
    const b = await OnnxRecommender.load(external, config.maxlen);
    const ra = await a.run(histories);
    const rb = await b.run(histories);
    expect(Array.from(rb.topItems)).toEqual(Array.from(ra.topItems));
    let max = 0;
    for (let i = 0; i < ra.scores.length; i++) max = Math.max(max, Math.abs(ra.scores[i] - rb.scores[i]));
    expect(max).toBeLessThanOrEqual(1e-6);
    await a.release();
    await b.release();
    expect((await parityOf(external, config, 80, weights, 20)).passed).toBe(true);
  });

  it("fails the parity check when one value of one initializer in the written model is perturbed", async () => {
    const config = TINY_CONFIG;
    const weights = randomWeights(config, 40, 31);
    const path = await exportModel(config, 40, weights);
    const proto = decodeModel(await readFile(path));
    const tensor = proto.graph!.initializer!.find((t) => t.name === "item_emb")!;
    const values = readFloatTensor(tensor);
    values[5 * config.hidden + 3] += 0.01; // one coordinate of item 5
    tensor.rawData = float32Bytes(values);
    await writeFile(path, encodeModel(proto));
    const parity = await parityOf(path, config, 40, weights);
    expect(parity.passed).toBe(false);
    expect(parity.maxAbsDiff).toBeGreaterThan(1e-4);
    expect(parity.failures.join("\n")).toMatch(/max \|Δ\| of the scores/);
  });

  it("fails the parity check when the graph was exported from altered weights", async () => {
    const config = { ...TINY_CONFIG, activation: "relu" as const };
    const weights = randomWeights(config, 40, 41);
    const altered = new Map(weights);
    altered.set(
      "block1.attn.bv",
      Float32Array.from(weights.get("block1.attn.bv")!, (v, i) => (i === 0 ? v + 0.05 : v)),
    );
    const parity = await parityOf(await exportModel(config, 40, altered), config, 40, weights);
    expect(parity.passed).toBe(false);
    expect(parity.embeddingMaxAbsDiff).toBeGreaterThan(1e-4);
  });

  it.skipIf(onnxCheckerUnavailable() !== undefined)(
    "passes onnx.checker.check_model(full_check=True), inline and with external data",
    async () => {
      for (const norm of ["pre", "post"] as const) {
        const config = { ...TINY_CONFIG, norm, blocks: 2 };
        const weights = randomWeights(config, 40, 3);
        expect(checkWithOnnx(await exportModel(config, 40, weights))).toMatch(/^ok/);
        expect(checkWithOnnx(await exportModel(config, 40, weights, { externalDataThresholdBytes: 256 }))).toMatch(/^ok/);
      }
      const quantized = { ...TINY_CONFIG, itemTable: { kind: "pq" as const, subspaces: 4, centroids: 6 } };
      expect(checkWithOnnx(await exportModel(quantized, 40, randomWeights(quantized, 40, 3)))).toMatch(/^ok/);
    },
  );

  it("refuses weights that do not fit the config, a top-k beyond the vocabulary and unknown model kinds", () => {
    const config = TINY_CONFIG;
    const weights = randomWeights(config, 40, 1);
    const missing = new Map(weights);
    missing.delete("block1.ffn.b2");
    expect(() => sasrecGraph(config, 40, missing, { topK: 10 })).toThrow(/no tensor "block1.ffn.b2"/);
    expect(() => sasrecGraph(config, 41, weights, { topK: 10 })).toThrow(/tensor "item_emb" holds/);
    expect(() => sasrecGraph(config, 40, weights, { topK: 41 })).toThrow(RecshipError);
    expect(() => mappingFor("gru4rec")).toThrow(/model kind "gru4rec" has no ONNX export/);
  });
});
