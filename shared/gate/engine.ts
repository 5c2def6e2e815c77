import { sampledNegatives, scoreBatchRows, type Scorer } from "../eval/evaluator.js";
import { maskedRank } from "../eval/metrics.js";
import type { Logger } from "../log.js";
import type { EvalData } from "./eval-data.js";
import { createRowRanker, sampledRank } from "../eval/rank-kernel.js";
import { mapSequences, vocabularyMap } from "../data/interaction-log.js";

/** Bumped when the engine's results for the same inputs change (stored evaluations are then recomputed). */
export const ENGINE_VERSION = 2;

/** One model's per-user results on an EvalData, in case order (paired across models). */
export interface ModelEvaluation {
  users: number;
  /** 0-based rank of the target among all items (data space); the history masked when the data's excludeSeen. */
  ranksFull: Float64Array;
  /** 0-based rank with the user's history masked (the published protocol; the same array as ranksFull when excludeSeen). */
  ranksMasked: Float64Array;
  /** 0-based rank among the target and its sampled negatives (absent when there are none). */
  ranksSampled?: Float64Array;
  /** Top `topWidth` data item ids per user (0 = empty), seen items masked when excludeSeen. */
  top: Int32Array;
  topWidth: number;
  /** Test targets the model does not know (ranked after every known item). */
  unknownTargets: number;
  /** History items dropped because the model does not know them. */
  unknownHistoryItems: number;
  /** The model's vocabulary is the data's, id for id (no re-mapping). */
  sameVocabulary: boolean;
  seconds: number;
  /** Time inside the model (scoring), the rest is ranking. */
  scoringSeconds: number;
  /** Largest resident set size seen while evaluating. */
  peakRssBytes: number;
}

export interface VocabularyMap {
  same: boolean;
  /** dataToModel[d] = model id of data item d (0: unknown to the model). */
  dataToModel: Int32Array;
}

export function mapVocabulary(dataItemIds: string[], modelItemIds: string[]): VocabularyMap {
  const same = dataItemIds.length === modelItemIds.length && dataItemIds.every((id, i) => id === modelItemIds[i]);
  const dataToModel = same ? Int32Array.from(dataItemIds, (_, i) => i) : vocabularyMap(dataItemIds, modelItemIds);
  return { same, dataToModel };
}

/** The test histories in a model's item ids (items it does not know dropped). */
export function modelHistories(data: EvalData, vocab: VocabularyMap): { histories: Int32Array[]; unknown: number } {
  if (vocab.same) return { histories: data.cases.map((c) => c.history), unknown: 0 };
  const { sequences, dropped } = mapSequences(
    data.cases.map((c) => c.history),
    vocab.dataToModel,
  );
  return { histories: sequences, unknown: dropped };
}

export interface EngineOptions {
  /** Width of the kept top lists (max K of coverage/popularity and the ranking diff). */
  topWidth: number;
  /** Histories per scorer call (default 256). */
  batchSize?: number;
  log?: Logger;
}

/**
 * Full-ranking and sampled evaluation of one model on the test split: per user the target's
 * rank (a count of higher scores, no sort) and the top-K list (one pass, no sort). The model
 * is scored on its own vocabulary; its scores are mapped onto the data's items (items it
 * does not know score -Infinity), so every model is ranked over the same catalogue.
 */
export async function evaluateModel(
  scorer: Scorer,
  modelItemIds: string[],
  data: EvalData,
  options: EngineOptions,
): Promise<ModelEvaluation> {
  const started = performance.now();
  const { cases, numItems } = data;
  const n = cases.length;
  const width = Math.min(options.topWidth, numItems);
  const batchSize = scoreBatchRows(Math.max(numItems, scorer.numItems), options.batchSize);
  const vocab = mapVocabulary(data.itemIds, modelItemIds);
  const modelItems = scorer.numItems;
  const ranksFull = new Float64Array(n);
  const ranksMasked = data.excludeSeen ? ranksFull : new Float64Array(n);
  const perUser = data.negativesPerUser;
  const ranksSampled = perUser > 0 ? new Float64Array(n) : undefined;
  const top = new Int32Array(n * width);
  const topScores = new Float32Array(width);
  const counts = { greater: 0, ties: 0 };
  const rankAndTopK = createRowRanker();
  const mapped = vocab.same ? undefined : new Float32Array(numItems);
  let unknownTargets = 0;
  let scoringMs = 0;
  let peakRss = process.memoryUsage.rss();

  const { histories, unknown: unknownHistoryItems } = modelHistories(data, vocab);
  const order = Array.from(cases.keys()).sort((a, b) => histories[a].length - histories[b].length || a - b);
  for (let start = 0; start < n; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const t0 = performance.now();
    const scores = await scorer.score(idx.map((i) => histories[i]));
    scoringMs += performance.now() - t0;
    for (let r = 0; r < idx.length; r++) {
      const ci = idx[r];
      const c = cases[ci];
      let row: Float32Array;
      if (mapped) {
        const base = r * modelItems;
        for (let d = 1; d <= numItems; d++) {
          const m = vocab.dataToModel[d];
          mapped[d - 1] = m > 0 ? scores[base + m - 1] : -Infinity;
        }
        row = mapped;
        if (vocab.dataToModel[c.target] === 0) unknownTargets++;
      } else {
        row = scores.subarray(r * numItems, (r + 1) * numItems);
      }
      if (data.excludeSeen) for (const item of c.history) if (item !== c.target) row[item - 1] = -Infinity;
      ranksFull[ci] = rankAndTopK(row, c.target - 1, width, top, ci * width, topScores, counts);
      if (!data.excludeSeen) ranksMasked[ci] = maskedRank(row, 0, c.target, counts, c.history);
      if (ranksSampled) {
        const negatives = sampledNegatives(c.user, c.interacted, numItems, perUser, data.negativesSeed);
        ranksSampled[ci] = sampledRank(row, c.target - 1, negatives, 0, perUser);
      }
    }
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }
  const seconds = (performance.now() - started) / 1000;
  options.log?.info(
    `evaluated ${n} users in ${seconds.toFixed(2)}s (model ${(scoringMs / 1000).toFixed(2)}s)` +
      (vocab.same
        ? ""
        : `; vocabulary mapped onto the data: ${unknownTargets} targets and ${unknownHistoryItems} history items unknown to the model`),
  );
  return {
    users: n,
    ranksFull,
    ranksMasked,
    ranksSampled,
    top,
    topWidth: width,
    unknownTargets,
    unknownHistoryItems,
    sameVocabulary: vocab.same,
    seconds,
    scoringSeconds: scoringMs / 1000,
    peakRssBytes: peakRss,
  };
}
