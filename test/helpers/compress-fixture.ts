import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { InferenceSession } from "onnxruntime-node";
import { convertBundle } from "../../shared/convert/convert-bundle.js";
import { silentLogger } from "../../shared/log.js";
import type { SasrecConfig } from "../../shared/model/config.js";
import { padHistories } from "../../shared/onnx/ort-recommender.js";
import { onnxRuntime } from "../../shared/onnx/ort-runtime.js";
import { encodeModel, type OnnxProto } from "../../shared/onnx/proto.js";
import { sasrecGraph } from "../../shared/onnx/sasrec-graph.js";
import { makeModel } from "../../shared/onnx/writer.js";
import { trainModel } from "../../shared/train/train-model.js";
import { Rng } from "../../shared/util/random.js";
import { randomWeights, TINY_CONFIG } from "./onnx-bundle.js";
import { syntheticCsv } from "./synthetic.js";

/** A SASRec graph as convert-onnx exports it, with random weights (biases and LayerNorm parameters included). */
export function tinySasrec(
  options: { config?: Partial<SasrecConfig>; numItems?: number; seed?: number; weights?: Map<string, Float32Array> } = {},
) {
  const config: SasrecConfig = { ...TINY_CONFIG, ...options.config };
  const numItems = options.numItems ?? 40;
  const weights = options.weights ?? randomWeights(config, numItems, options.seed ?? 1);
  const model = makeModel(sasrecGraph(config, numItems, weights, { topK: 5 }).build(), {
    producerName: "recship-test",
    producerVersion: "0",
  });
  return { config, numItems, weights, model };
}

/** The same graph with some weights replaced (e.g. by their dequantized values): the reference a variant must match. */
export function referenceModel(
  config: SasrecConfig,
  numItems: number,
  weights: Map<string, Float32Array>,
  replace: Record<string, Float32Array>,
): OnnxProto.IModelProto {
  const w = new Map(weights);
  for (const [k, v] of Object.entries(replace)) w.set(k, v);
  return makeModel(sasrecGraph(config, numItems, w, { topK: 5 }).build(), { producerName: "recship-test", producerVersion: "0" });
}

/** Random histories (lengths 0..maxlen+3, so some are cut and one is empty) of dense ids 1..numItems. */
export function randomHistories(count: number, numItems: number, maxlen: number, seed = 3): Int32Array[] {
  const rng = new Rng(`histories:${seed}`);
  return Array.from({ length: count }, (_, i) =>
    Int32Array.from({ length: i === 0 ? 0 : 1 + rng.int(maxlen + 3) }, () => 1 + rng.int(numItems)),
  );
}

export interface Outputs {
  scores: Float32Array;
  userEmbedding: Float32Array;
}

export async function session(
  model: OnnxProto.IModelProto | Uint8Array,
  optimization: "all" | "disabled" = "all",
): Promise<InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  return onnxRuntime().InferenceSession.create(bytes, { graphOptimizationLevel: optimization, intraOpNumThreads: 1 });
}

/** Runs an exported recommender on histories; returns scores [B, n_items] and user embeddings [B, hidden]. */
export async function runRecommender(
  model: OnnxProto.IModelProto,
  histories: Int32Array[],
  maxlen: number,
  optimization: "all" | "disabled" = "all",
): Promise<Outputs> {
  const s = await session(model, optimization);
  try {
    const input = new (onnxRuntime().Tensor)("int64", padHistories(histories, maxlen), [histories.length, maxlen]);
    const out = await s.run({ item_seq: input });
    return { scores: out.scores.data as Float32Array, userEmbedding: out.user_embedding.data as Float32Array };
  } finally {
    await s.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** onnx DynamicQuantizeLinear on a whole tensor: uint8 asymmetric, range widened to include 0, round half to even. */
export function dynamicQuantize(x: ArrayLike<number>): { q: Int32Array; scale: number; zeroPoint: number } {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < x.length; i++) {
    lo = Math.min(lo, x[i]);
    hi = Math.max(hi, x[i]);
  }
  const scale = Math.fround((hi - lo) / 255);
  const rne = (v: number) => {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : r;
  };
  const zeroPoint = Math.min(255, Math.max(0, rne(Math.fround(-lo / scale))));
  const q = Int32Array.from(x, (v) => Math.min(255, Math.max(0, rne(Math.fround(v / scale)) + zeroPoint)));
  return { q, scale, zeroPoint };
}

/**
 * A trained bundle with model.onnx and the synthetic interaction log it was trained on: small,
 * but trained enough (hidden 32, 20 epochs: NDCG@10 ≈ 0.14, popularity ≈ 0.03) that damage shows in its metrics.
 */
export async function trainedBundle(
  dir: string,
  options: { users?: number; epochs?: number; seed?: number } = {},
): Promise<{ bundle: string; data: string }> {
  await mkdir(dir, { recursive: true });
  const csv = await syntheticCsv(dir, options.users ?? 700, options.seed ?? 21);
  const bundle = join(dir, "bundle");
  await trainModel({
    ...csv,
    out: bundle,
    config: "model:\n  hidden: 32\n  maxlen: 20\ntrain:\n  batchTokens: 512\n  learningRate: 0.01\n  negatives: 256",
    overrides: { train: { epochs: options.epochs ?? 20 } },
    log: silentLogger,
  });
  await convertBundle({ bundle, randomSequences: 20, maxRealSequences: 50, log: silentLogger });
  return { bundle, data: csv.data };
}
