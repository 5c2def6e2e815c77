import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildVariant } from "../shared/compress/build-variant.js";
import { EditableGraph } from "../shared/compress/graph/editable-graph.js";
import { fromHalfBits, roundToHalf, toHalfBits } from "../shared/compress/graph/tensors.js";
import { INT4_LOOKUPS, quantizeEmbeddingsInt4, quantizeEmbeddingsInt8 } from "../shared/compress/methods/embedding.js";
import { storeFloat16 } from "../shared/compress/methods/fp16.js";
import { quantizeMatMulsDynamic, quantizeMatMulsStatic, staticQuantInputs } from "../shared/compress/methods/matmul-int8.js";
import { pruneWeights } from "../shared/compress/methods/prune.js";
import {
  dequantizeColumns,
  dequantizeRowBlocksInt4,
  dequantizeRows,
  fakeQuantizeUint8,
  INT8_WEIGHT_MAX,
  magnitudePrune,
  quantizeColumnsInt8,
  quantizeRowBlocksInt4,
  quantizeRowsInt8,
  uint8Params,
} from "../shared/compress/quant/math.js";
import { GraphBuilder } from "../shared/onnx/graph-builder.js";
import { onnxRuntime } from "../shared/onnx/ort-runtime.js";
import { encodeModel, type OnnxProto } from "../shared/onnx/proto.js";
import { floatTensor } from "../shared/onnx/tensor.js";
import { makeModel } from "../shared/onnx/writer.js";
import { Rng } from "../shared/util/random.js";
import {
  dynamicQuantize,
  maxAbs,
  maxAbsDiff,
  randomHistories,
  referenceModel,
  runRecommender,
  session,
  tinySasrec,
} from "./helpers/compress-fixture.js";
import { checkWithOnnx, onnxCheckerUnavailable } from "./helpers/onnx-check.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-compress-methods-");
const checkerMissing = onnxCheckerUnavailable();

function randn(n: number, seed: number, std = 1): Float32Array {
  const rng = new Rng(`randn:${seed}`);
  return Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
}

/** Writes the model and runs onnx.checker (full check) on it, unless python3-onnx is missing. */
function expectValidOnnx(model: OnnxProto.IModelProto, name: string): void {
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, encodeModel(model));
  if (checkerMissing) {
    console.warn(`skipping onnx.checker for ${name}: ${checkerMissing}`);
    return;
  }
  expect(checkWithOnnx(path)).toMatch(/^ok/);
}

describe("quantization arithmetic", () => {
  it("per-column symmetric int8 keeps each weight within half a step of its column's scale", () => {
    // two uint8·int8 products never overflow the 16-bit sums of x86 kernels without VNNI (vpmaddubsw)
    expect(2 * 255 * INT8_WEIGHT_MAX).toBeLessThanOrEqual(32767);
    const [rows, cols] = [16, 12];
    const w = randn(rows * cols, 1);
    w.fill(0, 0, 0);
    for (let r = 0; r < rows; r++) w[r * cols + 5] = 0; // an all-zero column stays exact
    const { q, scales } = quantizeColumnsInt8(w, rows, cols);
    const deq = dequantizeColumns(q, scales, rows, cols);
    for (let c = 0; c < cols; c++) {
      let peak = 0;
      for (let r = 0; r < rows; r++) {
        expect(Math.abs(w[r * cols + c] - deq[r * cols + c])).toBeLessThanOrEqual(scales[c] / 2 + 1e-7);
        peak = Math.max(peak, Math.abs(q[r * cols + c]));
      }
      expect(peak).toBe(c === 5 ? 0 : INT8_WEIGHT_MAX); // the largest weight of a column maps to ±63
    }
  });

  it("row-wise int8 with fp16-rounded scales stays within half a step and inside ±63", () => {
    const [rows, cols] = [30, 16];
    const w = randn(rows * cols, 2, 0.3);
    const { q, scales } = quantizeRowsInt8(w, rows, cols, roundToHalf);
    expect(Array.from(scales).every((s) => s === fromHalfBits(toHalfBits(s)))).toBe(true);
    const deq = dequantizeRows(q, scales, rows, cols);
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs(q[i])).toBeLessThanOrEqual(INT8_WEIGHT_MAX);
      expect(Math.abs(w[i] - deq[i])).toBeLessThanOrEqual(scales[Math.floor(i / cols)] * 0.51);
    }
  });

  it("4-bit blocks pack two values a byte, low nibble first, and decode within half a step", () => {
    const [rows, cols, block] = [9, 64, 32];
    const w = randn(rows * cols, 3);
    const b = quantizeRowBlocksInt4(w, rows, cols, block);
    expect(b.packed.length).toBe((rows * cols) / 2);
    expect(b.scales.length).toBe(rows * 2);
    const deq = dequantizeRowBlocksInt4(b, rows, cols);
    for (let i = 0; i < w.length; i++) {
      const s = Math.abs(b.scales[Math.floor(i / cols) * 2 + Math.floor((i % cols) / block)]);
      expect(Math.abs(w[i] - deq[i])).toBeLessThanOrEqual(s / 2 + 1e-6 + (Math.abs(w[i]) > 7.4 * s ? s : 0));
    }
    // the largest magnitude of each block is exact (it maps to −8)
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < 2; k++) {
        const span = Array.from(w.subarray(r * cols + k * block, r * cols + (k + 1) * block));
        const at = span.reduce((best, v, i) => (Math.abs(v) > Math.abs(span[best]) ? i : best), 0);
        expect(deq[r * cols + k * block + at]).toBeCloseTo(span[at], 6);
      }
    }
    // value 0 of row 0 is the low nibble of byte 0, stored as q + 8
    expect(((b.packed[0] & 15) - 8) * b.scales[0]).toBeCloseTo(deq[0], 6);
  });

  it("converts to float16 with round-to-nearest-even and keeps the range", () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11))).toBe(1); // a tie rounds to the even mantissa
    expect(fromHalfBits(toHalfBits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(fromHalfBits(toHalfBits(2 ** -24))).toBe(2 ** -24); // smallest subnormal
    for (const v of randn(200, 4)) expect(Math.abs(fromHalfBits(toHalfBits(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
  });

  it("magnitude pruning zeroes exactly the target share, smallest magnitudes first", () => {
    const w = randn(1000, 5);
    const { pruned, zeroed } = magnitudePrune(w, 0.3);
    expect(zeroed).toBe(300);
    expect(pruned.filter((v) => v === 0).length).toBe(300);
    const kept = Array.from(pruned)
      .filter((v) => v !== 0)
      .map(Math.abs);
    const dropped = Array.from(w)
      .filter((_, i) => pruned[i] === 0)
      .map(Math.abs);
    expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...dropped));
  });

  it("derives uint8 activation parameters that include 0 and simulate QuantizeLinear", () => {
    const { scale, zeroPoint } = uint8Params(0.5, 2);
    expect(zeroPoint).toBe(0); // widened to [0, 2]
    expect(scale).toBeCloseTo(2 / 255, 7);
    expect(fakeQuantizeUint8(5, scale, zeroPoint)).toBeCloseTo(2, 6); // clipped at the top
    const p = uint8Params(-1, 3);
    expect(fakeQuantizeUint8(-2, p.scale, p.zeroPoint)).toBeCloseTo(-p.zeroPoint * p.scale, 6);
  });
});

/** x [batch, 4, 16] → MatMul(W [16, 12]) → Add(b) → y. */
function singleMatMul(w: Float32Array, bias: Float32Array): OnnxProto.IModelProto {
  const g = new GraphBuilder("dense");
  const x = g.input("x", "float", ["batch", 4, 16]);
  const mm = g.op("MatMul", [x, g.initializer(floatTensor("W", [16, 12], w))], { name: "dense/matmul" });
  g.op("Add", [mm, g.initializer(floatTensor("b", [12], bias))], { name: "dense/bias", output: "y" });
  g.output("y", "float", ["batch", 4, 12]);
  return makeModel(g.build(), { producerName: "test", producerVersion: "0" });
}

async function runDense(model: OnnxProto.IModelProto, x: Float32Array, optimization: "all" | "disabled"): Promise<Float32Array> {
  const s = await session(model, optimization);
  try {
    const out = await s.run({ x: new (onnxRuntime().Tensor)("float32", x, [x.length / 64, 4, 16]) });
    return out.y.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("int8 dense layers, against an exact simulation of the integer arithmetic", () => {
  const w = randn(16 * 12, 6, 0.4);
  const bias = randn(12, 7, 0.1);
  const x = randn(3 * 64, 8, 1.5);
  const { q, scales } = quantizeColumnsInt8(w, 16, 12);

  it("int8-dynamic: DynamicQuantizeLinear + MatMulInteger, per-channel weights", async () => {
    const g = new EditableGraph(singleMatMul(w, bias));
    const summary = quantizeMatMulsDynamic(g);
    expect(summary.matmuls).toBe(1);
    const model = g.toModel();
    expect(model.graph!.node!.map((n) => n.opType)).toEqual(["DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul", "Add"]);
    const a = dynamicQuantize(x);
    const expected = new Float32Array(3 * 4 * 12);
    for (let r = 0; r < 12; r++) {
      for (let c = 0; c < 12; c++) {
        let acc = 0;
        for (let k = 0; k < 16; k++) acc += (a.q[r * 16 + k] - a.zeroPoint) * q[k * 12 + c];
        expected[r * 12 + c] = acc * a.scale * scales[c] + bias[c];
      }
    }
    for (const opt of ["disabled", "all"] as const) {
      const y = await runDense(model, x, opt);
      // float rounding only (the fused kernel scales in another order)
      expect(maxAbsDiff(y, expected)).toBeLessThan(1e-5 * maxAbs(expected) + 1e-6);
    }
    expectValidOnnx(model, "dense-int8-dynamic");
  });

  it("int8-qdq: calibrated QuantizeLinear/DequantizeLinear, clipping outside the range", async () => {
    const g = new EditableGraph(singleMatMul(w, bias));
    expect(staticQuantInputs(g)).toEqual(["x"]);
    const range = { min: -2, max: 2.5 }; // narrower than x: values outside clip
    quantizeMatMulsStatic(g, new Map([["x", range]]));
    const model = g.toModel();
    const { scale, zeroPoint } = uint8Params(range.min, range.max);
    const deqW = dequantizeColumns(q, scales, 16, 12);
    const expected = new Float32Array(3 * 4 * 12);
    for (let r = 0; r < 12; r++) {
      for (let c = 0; c < 12; c++) {
        let acc = 0;
        for (let k = 0; k < 16; k++) acc += fakeQuantizeUint8(x[r * 16 + k], scale, zeroPoint) * deqW[k * 12 + c];
        expected[r * 12 + c] = acc + bias[c];
      }
    }
    for (const opt of ["disabled", "all"] as const) {
      const y = await runDense(model, x, opt);
      expect(maxAbsDiff(y, expected)).toBeLessThan(1e-5 * maxAbs(expected) + 1e-6);
    }
    expectValidOnnx(model, "dense-int8-qdq");
  });
});

describe("methods on an exported SASRec graph, against the dequantized reference", () => {
  const tiny = tinySasrec({ numItems: 40, seed: 11 });
  const { config, numItems, weights } = tiny;
  const histories = randomHistories(24, numItems, config.maxlen);
  const rows = numItems + 1;
  const d = config.hidden;

  it("emb-int8: lookups exact to the int8 table, scores exact to the integer output projection", async () => {
    const g = new EditableGraph(tiny.model);
    const summary = quantizeEmbeddingsInt8(g);
    expect(summary.tables).toEqual([expect.objectContaining({ name: "item_emb", rows, cols: d, tiedOutput: true })]);
    const model = g.toModel();
    expect(model.graph!.initializer!.some((t) => t.name === "item_emb")).toBe(false); // the float table is gone
    const { q, scales } = quantizeRowsInt8(weights.get("item_emb")!, rows, d, roundToHalf);
    const reference = referenceModel(config, numItems, weights, { item_emb: dequantizeRows(q, scales, rows, d) });
    const ref = await runRecommender(reference, histories, config.maxlen);
    for (const opt of ["disabled", "all"] as const) {
      const out = await runRecommender(model, histories, config.maxlen, opt);
      expect(maxAbsDiff(out.userEmbedding, ref.userEmbedding)).toBeLessThan(1e-4);
      // scores: the user embeddings quantized per batch (uint8), times the int8 rows, times both scales
      const u = dynamicQuantize(out.userEmbedding);
      const expected = new Float32Array(histories.length * numItems);
      for (let b = 0; b < histories.length; b++) {
        for (let j = 0; j < numItems; j++) {
          let acc = 0;
          for (let k = 0; k < d; k++) acc += (u.q[b * d + k] - u.zeroPoint) * q[(j + 1) * d + k];
          expected[b * numItems + j] = acc * u.scale * scales[j + 1];
        }
      }
      expect(maxAbsDiff(out.scores, expected)).toBeLessThan(1e-5 * maxAbs(expected) + 1e-6);
      // and against float scores the loss is what quantizing the user embedding costs
      expect(maxAbsDiff(out.scores, ref.scores)).toBeLessThan(0.02 * maxAbs(ref.scores));
    }
    expectValidOnnx(model, "sasrec-emb-int8");
  });

  it.each(INT4_LOOKUPS)("emb-int4 (%s lookups): lookups and MatMulNBits scores match the dequantized 4-bit table", async (lookup) => {
    const g = new EditableGraph(tiny.model);
    quantizeEmbeddingsInt4(g, { blockSize: 16, accuracyLevel: 0, lookup });
    const model = g.toModel();
    expect(model.opsetImport).toContainEqual({ domain: "com.microsoft", version: 1 });
    expect(model.graph!.node!.some((n) => n.opType === "GatherBlockQuantized")).toBe(lookup === "gather-block-quantized");
    const blocks = quantizeRowBlocksInt4(weights.get("item_emb")!, rows, d, 16, roundToHalf);
    const table = dequantizeRowBlocksInt4(blocks, rows, d);
    const reference = referenceModel(config, numItems, weights, { item_emb: table });
    const ref = await runRecommender(reference, histories, config.maxlen);
    for (const opt of ["disabled", "all"] as const) {
      const out = await runRecommender(model, histories, config.maxlen, opt);
      expect(maxAbsDiff(out.userEmbedding, ref.userEmbedding)).toBeLessThan(1e-4);
      expect(maxAbsDiff(out.scores, ref.scores)).toBeLessThan(1e-4 * maxAbs(ref.scores) + 1e-5);
    }
    expectValidOnnx(model, `sasrec-emb-int4-${lookup}`);
  });

  it("emb-int4 refuses a block size that does not divide the hidden size", () => {
    const g = new EditableGraph(tiny.model);
    expect(() => quantizeEmbeddingsInt4(g, { blockSize: 32, accuracyLevel: 0 })).toThrow(/not a multiple of the block size 32/);
  });

  it("int8-dynamic on the whole model: every dense layer quantized, close to the dequantized-weight reference", async () => {
    const g = new EditableGraph(tiny.model);
    const summary = quantizeMatMulsDynamic(g);
    // 2 blocks × (q, k, v, o, ffn in, ffn out)
    expect(summary.matmuls).toBe(12);
    const model = g.toModel();
    const replace: Record<string, Float32Array> = {};
    for (const [name, w] of weights) {
      if (!/\.(attn\.w[qkvo]|ffn\.w[12])$/.test(name)) continue;
      const [r, c] = name.endsWith("ffn.w1") ? [d, config.ffnDim] : name.endsWith("ffn.w2") ? [config.ffnDim, d] : [d, d];
      const qw = quantizeColumnsInt8(w, r, c);
      replace[name] = dequantizeColumns(qw.q, qw.scales, r, c);
    }
    const ref = await runRecommender(referenceModel(config, numItems, weights, replace), histories, config.maxlen);
    const out = await runRecommender(model, histories, config.maxlen);
    // what remains is activation quantization: uint8 per tensor, 12 times through the network
    expect(maxAbsDiff(out.userEmbedding, ref.userEmbedding)).toBeLessThan(0.05 * maxAbs(ref.userEmbedding));
    expect(maxAbsDiff(out.scores, ref.scores)).toBeLessThan(0.05 * maxAbs(ref.scores));
    expectValidOnnx(model, "sasrec-int8-dynamic");
  });

  it.each(["int8-qdq", "int8-qdq-pct"] as const)(
    "%s on the whole model: calibrated, QDQ around every dense layer, close to the reference",
    async (method) => {
      const built = await buildVariant(tiny.model, [method], {
        calibrationHistories: randomHistories(200, numItems, config.maxlen, 21),
        calibrationSize: 128,
        percentile: 99.9,
        maxlen: config.maxlen,
        seed: 1,
        int4BlockSize: 16,
        int4AccuracyLevel: 0,
        sparsity: 0.5,
      });
      const ops = built.model.graph!.node!.map((n) => n.opType);
      expect(ops.filter((o) => o === "QuantizeLinear")).toHaveLength(9); // one per distinct dense-layer input
      expect(ops.filter((o) => o === "DequantizeLinear")).toHaveLength(9 + 12); // inputs + weights
      const replace: Record<string, Float32Array> = {};
      for (const [name, w] of weights) {
        if (!/\.(attn\.w[qkvo]|ffn\.w[12])$/.test(name)) continue;
        const [r, c] = name.endsWith("ffn.w1") ? [d, config.ffnDim] : name.endsWith("ffn.w2") ? [config.ffnDim, d] : [d, d];
        const qw = quantizeColumnsInt8(w, r, c);
        replace[name] = dequantizeColumns(qw.q, qw.scales, r, c);
      }
      const ref = await runRecommender(referenceModel(config, numItems, weights, replace), histories, config.maxlen);
      for (const opt of ["disabled", "all"] as const) {
        const out = await runRecommender(built.model, histories, config.maxlen, opt);
        expect(maxAbsDiff(out.scores, ref.scores)).toBeLessThan(0.05 * maxAbs(ref.scores));
      }
      expectValidOnnx(built.model, `sasrec-${method}`);
    },
  );

  it("fp16: weights rounded to half precision, computed in float32", async () => {
    const g = new EditableGraph(tiny.model);
    const summary = storeFloat16(g);
    expect(summary.tensors).toBeGreaterThan(10);
    const model = g.toModel();
    const rounded: Record<string, Float32Array> = {};
    for (const [name, w] of weights) if (w.length >= 16) rounded[name] = roundToHalf(w);
    const ref = await runRecommender(referenceModel(config, numItems, weights, rounded), histories, config.maxlen);
    const out = await runRecommender(model, histories, config.maxlen);
    expect(maxAbsDiff(out.scores, ref.scores)).toBeLessThan(1e-4);
    // the -1e9 attention mask constant cannot be fp16 and stays float32
    expect(model.graph!.initializer!.find((t) => t.name === "mask_blocked")?.dataType).toBe(1);
    // the frequency filter's table is derived from the config, not learned: kept exact
    expect(model.graph!.initializer!.find((t) => t.name === "filter_weight_table")?.dataType).toBe(1);
    expectValidOnnx(model, "sasrec-fp16");
  });

  it("prune: the target share of each weight matrix is zero and the model runs as the pruned reference", async () => {
    const g = new EditableGraph(tiny.model);
    const summary = pruneWeights(g, 0.5);
    expect(summary.tensors).toBe(13); // 12 dense weights + the item table
    expect(summary.zeroed).toBe(summary.weights / 2);
    const model = g.toModel();
    const pruned: Record<string, Float32Array> = {};
    for (const name of [...weights.keys()].filter((n) => /\.(attn\.w[qkvo]|ffn\.w[12])$|^item_emb$/.test(n))) {
      pruned[name] = magnitudePrune(weights.get(name)!, 0.5).pruned;
    }
    const ref = await runRecommender(referenceModel(config, numItems, weights, pruned), histories, config.maxlen);
    const out = await runRecommender(model, histories, config.maxlen);
    expect(maxAbsDiff(out.scores, ref.scores)).toBeLessThan(1e-5);
    expectValidOnnx(model, "sasrec-prune");
  });
});
