import { SERVED_OUTPUTS } from "../onnx/ort-recommender.js";
import { occlusionContributions, occlusionInput, topContributors, type Contributor } from "../eval/occlusion.js";
import type { Logger } from "../log.js";
import type { BatchSlice } from "./batcher.js";
import { fetched, writeHistoryRow, type ModelShape, type OutputName } from "./model-runner.js";
import { recommendNeeds, selectRecommendations, type Recommendations } from "./recommend.js";
import { loadServedModel } from "./served-model.js";
import type { ItemVocabulary } from "./vocabulary.js";

/** Runs [rows, maxlen] histories and answers their slice: the server's batcher, or a runner offline. */
export type SubmitRows = (input: BigInt64Array, rows: number, needs: readonly OutputName[]) => Promise<BatchSlice>;

/** One recommended item and the history items (by index in the history) that drove it most. */
export interface DenseExplanation {
  item: number;
  score: number;
  because: Contributor[];
}

export interface ExplainedRecommendations extends Recommendations {
  /** Items of the history explained (the model's window: the last maxlen). */
  window: number;
  /** With `explain`: one entry per recommended item, in order. */
  explanations?: DenseExplanation[];
}

/**
 * Recommends k items for one history (dense ids, oldest first) and, with `explainLimit`, which
 * history items drove each: leave-one-out occlusion (shared/eval/occlusion.ts), the history
 * and its variants in the same model run, so the run holds 1 + min(history, maxlen) rows and
 * fetches the full score rows.
 */
export async function recommendWithExplanations(
  submit: SubmitRows,
  shape: ModelShape,
  history: Int32Array,
  options: { k: number; excludeSeen: boolean; explainLimit?: number },
): Promise<ExplainedRecommendations> {
  const seen = options.excludeSeen && history.length ? new Set(history) : undefined;
  if (options.explainLimit === undefined) {
    const input = new BigInt64Array(shape.maxlen);
    writeHistoryRow(input, 0, shape.maxlen, history);
    const slice = await submit(input, 1, recommendNeeds(shape.topK, options.k, seen?.size ?? 0));
    return { ...selectRecommendations(slice, shape, options.k, seen), window: Math.min(history.length, shape.maxlen) };
  }
  const plan = occlusionInput(history, shape.maxlen);
  const slice = await submit(plan.input, plan.rows, [...SERVED_OUTPUTS, "scores"]);
  const picked = selectRecommendations(slice, shape, options.k, seen);
  const scores = fetched(slice.outputs.scores, "scores");
  const contributions = occlusionContributions(scores, shape.numItems, slice.offset, plan.window, picked.dense);
  const limit = options.explainLimit;
  const explanations = Array.from(picked.dense, (item, r) => ({
    item,
    score: picked.scores[r],
    because: topContributors(contributions, plan.window, r, limit, plan.firstIndex),
  }));
  return { ...picked, window: plan.window, explanations };
}

/** Indexes in `ids` of the ids the vocabulary knows (the history the model reads, mapHistory's order). */
export function knownIndexes(ids: readonly string[], vocabulary: ItemVocabulary): Int32Array {
  const out = new Int32Array(ids.length);
  let n = 0;
  ids.forEach((id, i) => {
    if (vocabulary.dense(id) !== undefined) out[n++] = i;
  });
  return out.subarray(0, n);
}

/** An explanation as answered: the shop's ids, the history item's index in the request's `items`. */
export interface ExplanationJson {
  item: string;
  score: number;
  because: { item: string; history_index: number; contribution: number }[];
}

export function explanationsJson(
  explanations: readonly DenseExplanation[],
  history: Int32Array,
  indexes: Int32Array,
  vocabulary: ItemVocabulary,
): ExplanationJson[] {
  return explanations.map((e) => ({
    item: vocabulary.id(e.item),
    score: e.score,
    because: e.because.map((c) => ({
      item: vocabulary.id(history[c.index]),
      history_index: indexes[c.index],
      contribution: c.contribution,
    })),
  }));
}

export interface ExplainReport {
  bundle: string;
  modelVersion: string;
  method: "leave-one-out occlusion";
  /** Ids given, known to the model, and explained (the window). */
  history: { given: number; known: number; explained: number };
  unknownItems: number;
  explanations: ExplanationJson[];
}

/** `recship explain`: one history's recommendations and explanations from a bundle's model, on this thread. */
export async function explainOffline(options: ExplainOfflineOptions & { items: readonly string[] }): Promise<ExplainReport> {
  const [report] = await explainHistories({ ...options, histories: [options.items] });
  return report;
}

export interface ExplainOfflineOptions {
  bundle: string;
  k: number;
  limit: number;
  excludeSeen: boolean;
  verifyChecksums?: boolean;
  log: Logger;
}

/** Several histories' explanations, the model loaded once (the bundle's served model: a chosen compressed variant, else the ONNX export). */
export async function explainHistories(
  options: ExplainOfflineOptions & { histories: readonly (readonly string[])[] },
): Promise<ExplainReport[]> {
  const model = await loadServedModel({
    bundle: options.bundle,
    device: "cpu",
    workers: 0,
    verifyChecksums: options.verifyChecksums,
    log: options.log,
  });
  try {
    const { runner, vocabulary } = model;
    const submit: SubmitRows = async (input, rows, needs) => ({ outputs: await runner.run(input, rows, new Set(needs)), offset: 0, rows });
    const reports: ExplainReport[] = [];
    for (const items of options.histories) {
      const { dense, unknown } = vocabulary.mapHistory(items);
      const k = Math.min(options.k, runner.shape.numItems - (options.excludeSeen ? new Set(dense).size : 0));
      const result = await recommendWithExplanations(submit, runner.shape, dense, {
        k,
        excludeSeen: options.excludeSeen,
        explainLimit: options.limit,
      });
      reports.push({
        bundle: options.bundle,
        modelVersion: model.version,
        method: "leave-one-out occlusion",
        history: { given: items.length, known: dense.length, explained: result.window },
        unknownItems: unknown,
        explanations: explanationsJson(result.explanations ?? [], dense, knownIndexes(items, vocabulary), vocabulary),
      });
    }
    return reports;
  } finally {
    await model.runner.release();
  }
}
