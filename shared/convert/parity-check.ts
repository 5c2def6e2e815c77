import type { Logger } from "../log.js";
import { scoreBatchRows } from "../eval/evaluator.js";
import type { ReferenceModel } from "../onnx/mappings.js";
import { OnnxRecommender, type RecommenderOutputs } from "../onnx/ort-recommender.js";
import { inconsistentTopRows, ParityMeter, type Disagreement } from "./parity.js";
import type { ParitySample } from "./parity-sample.js";

export interface ParityTolerance {
  /** Largest allowed |tfjs − onnxruntime| over scores and user embeddings. */
  maxAbsDiff: number;
  /** Smallest allowed fraction of sequences whose top 10 agree (ties: see parity.ts). */
  minTop10Agreement: number;
}

export const DEFAULT_TOLERANCE: ParityTolerance = { maxAbsDiff: 1e-4, minTop10Agreement: 0.999 };

export interface ParityResult {
  sequences: number;
  realSequences: number;
  edgeSequences: number;
  randomSequences: number;
  /** Worst over onnxruntime with graph optimisation "all" and "disabled", each against tfjs. */
  maxAbsDiff: number;
  maxRelDiff: number;
  /** Of the user_embedding output. */
  embeddingMaxAbsDiff: number;
  top10Agreement: number;
  /** onnxruntime "all" against "disabled": same top 10? (on `unoptimizedSequences` of the sample) */
  optimizedTop10Agreement: number;
  unoptimizedSequences: number;
  optimizedMaxAbsDiff: number;
  /** Rows whose top_items/top_scores outputs disagree with their own scores output (must be 0). */
  inconsistentTopK: number;
  tieTolerance: number;
  tolerance: ParityTolerance;
  passed: boolean;
  /** Why it failed, one line each. */
  failures: string[];
  /** A few disagreeing sequences (tfjs vs optimised onnxruntime), for debugging. */
  examples: Disagreement[];
  seconds: number;
}

export interface ParityCheckInput {
  modelPath: string;
  maxlen: number;
  numItems: number;
  topK: number;
  reference: ReferenceModel;
  sample: ParitySample;
  tolerance: ParityTolerance;
  log: Logger;
  batchSize?: number;
  /**
   * Sequences also run with graph optimisation disabled, spread over the sample (default 1024):
   * enough to show that ORT's optimised graph ranks like the plain one, without doubling the time.
   */
  unoptimizedSequences?: number;
}

const sci = (v: number) => (Number.isNaN(v) ? "NaN" : v.toExponential(2));
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/**
 * Runs the reference (tfjs) and the exported model in onnxruntime-node (graph optimisation
 * "all" and "disabled") on the same sequences and compares scores, user embeddings and top-10
 * lists; also checks that the model's top_items/top_scores match its own scores.
 */
export async function checkParity(input: ParityCheckInput): Promise<ParityResult> {
  const started = performance.now();
  const { numItems, topK, reference, sample, tolerance, log } = input;
  const tieTolerance = 2 * tolerance.maxAbsDiff;
  const batchSize = scoreBatchRows(numItems, input.batchSize);
  const batches = Math.ceil(sample.histories.length / batchSize);
  const plainEvery = Math.max(1, Math.floor(batches / Math.max(1, Math.ceil((input.unoptimizedSequences ?? 1024) / batchSize))));
  const optimized = await OnnxRecommender.load(input.modelPath, input.maxlen, { optimization: "all" });
  const plain = await OnnxRecommender.load(input.modelPath, input.maxlen, { optimization: "disabled" });
  const vsOptimized = new ParityMeter(numItems, tieTolerance);
  const vsPlain = new ParityMeter(numItems, tieTolerance);
  const plainVsOptimized = new ParityMeter(numItems, tieTolerance);
  let inconsistentTopK = 0;
  const candidate = (o: RecommenderOutputs) => ({ scores: o.scores, embedding: o.userEmbedding, topItems: o.topItems, topK });
  try {
    for (let start = 0; start < sample.histories.length; start += batchSize) {
      const batch = sample.histories.slice(start, start + batchSize);
      // onnxruntime runs off the main thread: let it work while tfjs scores the same batch
      const pending = optimized.run(batch);
      const ref = { scores: reference.score(batch), embedding: reference.userEmbeddings(batch) };
      const a = await pending;
      vsOptimized.add(ref, candidate(a));
      inconsistentTopK += inconsistentTopRows(a, numItems, topK);
      if ((start / batchSize) % plainEvery === 0) {
        const b = await plain.run(batch);
        vsPlain.add(ref, candidate(b));
        plainVsOptimized.add({ scores: b.scores, embedding: b.userEmbedding }, candidate(a));
        inconsistentTopK += inconsistentTopRows(b, numItems, topK);
      }
    }
  } finally {
    await optimized.release();
    await plain.release();
  }
  const nanMax = (...v: number[]) => (v.some(Number.isNaN) ? NaN : Math.max(...v));
  const result: ParityResult = {
    sequences: sample.histories.length,
    realSequences: sample.real,
    edgeSequences: sample.edge,
    randomSequences: sample.random,
    maxAbsDiff: nanMax(vsOptimized.maxAbsDiff, vsPlain.maxAbsDiff),
    maxRelDiff: nanMax(vsOptimized.maxRelDiff, vsPlain.maxRelDiff),
    embeddingMaxAbsDiff: nanMax(vsOptimized.embeddingMaxAbsDiff, vsPlain.embeddingMaxAbsDiff),
    top10Agreement: Math.min(vsOptimized.topAgreement, vsPlain.topAgreement),
    optimizedTop10Agreement: plainVsOptimized.topAgreement,
    unoptimizedSequences: plainVsOptimized.sequences,
    optimizedMaxAbsDiff: nanMax(plainVsOptimized.maxAbsDiff, plainVsOptimized.embeddingMaxAbsDiff),
    inconsistentTopK,
    tieTolerance,
    tolerance,
    passed: false,
    failures: [],
    examples: vsOptimized.disagreements.length > 0 ? vsOptimized.disagreements : vsPlain.disagreements,
    seconds: (performance.now() - started) / 1000,
  };
  const f = result.failures;
  if (!(result.maxAbsDiff <= tolerance.maxAbsDiff))
    f.push(`max |Δ| of the scores ${sci(result.maxAbsDiff)} exceeds ${sci(tolerance.maxAbsDiff)}`);
  if (!(result.embeddingMaxAbsDiff <= tolerance.maxAbsDiff)) {
    f.push(`max |Δ| of the user embeddings ${sci(result.embeddingMaxAbsDiff)} exceeds ${sci(tolerance.maxAbsDiff)}`);
  }
  if (!(result.top10Agreement >= tolerance.minTop10Agreement)) {
    f.push(`top-10 agreement ${pct(result.top10Agreement)} is below ${pct(tolerance.minTop10Agreement)}`);
  }
  if (!(result.optimizedTop10Agreement >= tolerance.minTop10Agreement)) {
    f.push(
      `onnxruntime with graph optimisation "all" agrees with "disabled" on the top 10 for only ${pct(result.optimizedTop10Agreement)}`,
    );
  }
  if (inconsistentTopK > 0) f.push(`top_items/top_scores disagree with the scores output on ${inconsistentTopK} rows`);
  result.passed = f.length === 0;
  log.info(
    `parity on ${result.sequences} sequences (${sample.real} real, ${sample.edge} edge cases, ${sample.random} random): ` +
      `max |Δ| ${sci(result.maxAbsDiff)}, max rel Δ ${sci(result.maxRelDiff)}, embedding max |Δ| ${sci(result.embeddingMaxAbsDiff)}, ` +
      `top-10 agreement ${pct(result.top10Agreement)}, optimised vs unoptimised ${pct(result.optimizedTop10Agreement)} (on ${result.unoptimizedSequences})`,
  );
  return result;
}
