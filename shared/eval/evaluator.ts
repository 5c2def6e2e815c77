import { Rng } from "../util/random.js";
import { DEFAULT_CUTOFFS, maskedRank, rankAmong, rankOf, summarize, type MetricSet } from "./metrics.js";
import { createRowRanker } from "./rank-kernel.js";

/** Scores every item (1..numItems, column j = item j+1) for each history, row-major [B, numItems]. */
export interface Scorer {
  readonly numItems: number;
  score(histories: Int32Array[]): Promise<Float32Array> | Float32Array;
  /** Batches it can score at once (training workers score side by side); default 1. */
  readonly concurrency?: number;
}

export interface EvalCase {
  user: number;
  history: Int32Array;
  target: number;
  /** Every item the user ever interacted with (sampled negatives avoid them). */
  interacted: Int32Array;
}

export interface EvalOptions {
  /** Negatives per user for the sampled protocol (default 100). 0 disables it. */
  sampledNegatives?: number;
  seed?: number;
  cutoffs?: readonly number[];
  batchSize?: number;
}

/**
 * Two full-ranking protocols (../shared/datasets/README.md): `full` ranks the target among all
 * items (only padding excluded); `fullMasked` masks the user's history first, as every published
 * number on these data sets does (the history of a test case includes its validation item).
 */
export interface EvalResult {
  users: number;
  full: MetricSet;
  fullMasked: MetricSet;
  sampled?: MetricSet;
  /** Per-user 0-based ranks in case order, for paired comparisons. */
  ranks: { full: Float64Array; fullMasked: Float64Array; sampled?: Float64Array };
}

/** Uniform negatives the user never interacted with, seeded per user so every model sees the same ones. */
export function sampledNegatives(user: number, interacted: Int32Array, numItems: number, count: number, seed: number): Int32Array {
  const rng = new Rng(`negatives:${seed}:${user}`);
  const seen = new Set(interacted);
  const out = new Int32Array(count);
  const available = numItems - seen.size;
  if (available < count) throw new Error(`cannot sample ${count} negatives: only ${available} unseen items`);
  const chosen = new Set<number>();
  let n = 0;
  while (n < count) {
    const item = 1 + rng.int(numItems);
    if (seen.has(item) || chosen.has(item)) continue;
    chosen.add(item);
    out[n++] = item;
  }
  return out;
}

/** Bytes of scores one scoring batch may hold: [rows, catalogue] float32. */
const SCORE_BATCH_BYTES = 64 * 2 ** 20;

/**
 * Histories per scoring batch: the requested count, capped so that the batch's scores (a row of
 * the whole catalogue each) stay within 64 MB; at a million items 16 rows instead of 256 (1 GB a
 * batch, which a wasm heap or an onnxruntime output buffer then keeps for good).
 */
export function scoreBatchRows(numItems: number, requested = 256, bytes = SCORE_BATCH_BYTES): number {
  return Math.max(1, Math.min(requested, Math.floor(bytes / (4 * Math.max(1, numItems)))));
}

export async function evaluate(scorer: Scorer, cases: EvalCase[], options: EvalOptions = {}): Promise<EvalResult> {
  const numItems = scorer.numItems;
  const negatives = Math.min(options.sampledNegatives ?? 100, numItems - 1);
  const seed = options.seed ?? 0;
  const batchSize = scoreBatchRows(numItems, options.batchSize);
  const full = new Float64Array(cases.length);
  const fullMasked = new Float64Array(cases.length);
  const sampled = negatives > 0 ? new Float64Array(cases.length) : undefined;
  // similar lengths together: less padding for sequence models
  const order = Array.from(cases.keys()).sort((a, b) => cases[a].history.length - cases[b].history.length);
  // the counts through the SIMD kernel (its top list, one item wide, is not used)
  const rankRow = createRowRanker();
  const [top, topScore, counts] = [new Int32Array(1), new Float32Array(1), { greater: 0, ties: 0 }];
  const rankBatch = (idx: number[], scores: Float32Array) => {
    idx.forEach((ci, row) => {
      const c = cases[ci];
      const offset = row * numItems;
      const targetScore = scores[offset + c.target - 1];
      rankRow(scores.subarray(offset, offset + numItems), c.target - 1, 1, top, 0, topScore, counts);
      full[ci] = rankOf(counts.greater, counts.ties);
      fullMasked[ci] = maskedRank(scores, offset, c.target, counts, c.history);
      if (sampled) {
        const neg = sampledNegatives(c.user, c.interacted, numItems, negatives, seed);
        const candidate = new Float32Array(negatives + 1);
        candidate[0] = targetScore;
        for (let j = 0; j < negatives; j++) candidate[j + 1] = scores[offset + neg[j] - 1];
        sampled[ci] = rankAmong(candidate, targetScore, negatives + 1);
      }
    });
  };
  // batches go to the scorer `concurrency` at a time; each case's rank lands in its own slot
  let next = 0;
  const lane = async () => {
    while (next < order.length) {
      const idx = order.slice(next, next + batchSize);
      next += batchSize;
      rankBatch(idx, await scorer.score(idx.map((i) => cases[i].history)));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, scorer.concurrency ?? 1) }, lane));
  const cutoffs = options.cutoffs ?? DEFAULT_CUTOFFS;
  return {
    users: cases.length,
    full: summarize(full, cutoffs),
    fullMasked: summarize(fullMasked, cutoffs),
    sampled: sampled ? summarize(sampled, cutoffs) : undefined,
    ranks: { full, fullMasked, sampled },
  };
}
