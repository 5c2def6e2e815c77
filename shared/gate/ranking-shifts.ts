import { leaveOneOutHistories, occlusionContributions, topContributors } from "../eval/occlusion.js";
import { mapVocabulary } from "./engine.js";
import type { EvalData } from "./eval-data.js";
import type { OnnxScorer } from "./onnx-scorer.js";
import { rankingDiff } from "./ranking-diff.js";

/** An item that entered (or left) a user's top-k, and the history items that drove it in the model that ranks it. */
export interface ShiftedItem {
  item: string;
  /** 1-based rank in the candidate's top-k (entered) or the baseline's (left). */
  rank: number;
  /** Largest leave-one-out contributions (score lost without the history item), in that model. */
  because: { item: string; contribution: number }[];
}

/** One of the users whose top-k changed most between the baseline and the candidate. */
export interface RankingShift {
  /** Index of the test user in the evaluation data (its order of users). */
  testUser: number;
  historyLength: number;
  /** Items both top-k lists share, and their rank-biased overlap. */
  shared: number;
  rbo: number;
  entered?: ShiftedItem;
  left?: ShiftedItem;
}

/** A model as the gate holds it: its scorer and vocabulary. */
export interface ShiftModel {
  scorer: OnnxScorer;
  itemIds: string[];
  /** Top `topWidth` data item ids per user (the evaluation's). */
  top: Int32Array;
}

/**
 * For the `users` test users whose top-k lists differ most (lowest rank-biased overlap), the
 * best-ranked item that entered the candidate's list, explained by the candidate, and the
 * best-ranked item that left the baseline's, explained by the baseline: leave-one-out occlusion
 * of the user's history (shared/eval/occlusion.ts), one batched run per item.
 */
export async function rankingShifts(
  data: EvalData,
  candidate: ShiftModel,
  baseline: ShiftModel,
  options: { width: number; k: number; p: number; users: number; limit: number },
): Promise<RankingShift[]> {
  const diff = rankingDiff(candidate.top, baseline.top, options.width, options.k, options.p);
  const depth = diff.k;
  const picked = Array.from(diff.rbo.keys())
    .filter((u) => diff.rbo[u] < 1 - 1e-12)
    .sort((a, b) => diff.rbo[a] - diff.rbo[b] || a - b)
    .slice(0, options.users);
  const shifts: RankingShift[] = [];
  for (const u of picked) {
    const cand = Array.from(candidate.top.subarray(u * options.width, u * options.width + depth));
    const base = Array.from(baseline.top.subarray(u * options.width, u * options.width + depth));
    const enteredAt = cand.findIndex((item) => item > 0 && !base.includes(item));
    const leftAt = base.findIndex((item) => item > 0 && !cand.includes(item));
    const history = data.cases[u].history;
    shifts.push({
      testUser: u,
      historyLength: history.length,
      shared: Math.round(diff.overlap[u] * depth),
      rbo: diff.rbo[u],
      ...(enteredAt >= 0 ? { entered: await explainItem(data, candidate, history, cand[enteredAt], enteredAt + 1, options.limit) } : {}),
      ...(leftAt >= 0 ? { left: await explainItem(data, baseline, history, base[leftAt], leftAt + 1, options.limit) } : {}),
    });
  }
  return shifts;
}

/** One data item's top contributors among a (data-space) history, in one model. */
async function explainItem(
  data: EvalData,
  model: ShiftModel,
  history: Int32Array,
  item: number,
  rank: number,
  limit: number,
): Promise<ShiftedItem> {
  const vocab = mapVocabulary(data.itemIds, model.itemIds);
  const target = vocab.dataToModel[item];
  const known = Int32Array.from(Array.from(history, (d) => vocab.dataToModel[d]).filter((m) => m > 0));
  const shown = { item: data.itemIds[item], rank };
  if (target === 0 || known.length === 0) return { ...shown, because: [] };
  const plan = leaveOneOutHistories(known, model.scorer.maxlen);
  const scores = await model.scorer.score(plan.histories);
  const contributions = occlusionContributions(scores, model.scorer.numItems, 0, plan.window, [target]);
  const top = topContributors(contributions, plan.window, 0, limit, plan.firstIndex);
  return { ...shown, because: top.map((c) => ({ item: model.itemIds[known[c.index]], contribution: c.contribution })) };
}
