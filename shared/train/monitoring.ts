import { buildMonitoringReference, LIST_LENGTH, type MonitoringReference } from "../bundle/monitoring-reference.js";
import type { LeaveOneOutSplit } from "../data/split.js";
import { spacedUsers } from "../data/user-sample.js";
import { scoreBatchRows, type Scorer } from "../eval/evaluator.js";
import { topK } from "../eval/topk.js";

/** Validation users the monitoring reference summarises at most (evenly spaced over all of them). */
const REFERENCE_USERS = 2000;
/** Histories scored per model call at most (a batch of full score rows; fewer at large catalogues: scoreBatchRows). */
const BATCH = 128;

/** Users the monitoring reference scores: every eligible one up to 2,000 (training's budget reserves their time). */
export function referenceUsers(split: LeaveOneOutSplit): number {
  return Math.min(REFERENCE_USERS, split.evalUsers.length);
}

/**
 * The monitoring reference (shared/bundle/monitoring-reference.ts) of a trained model: its first
 * LIST_LENGTH recommendations for validation users (evenly spaced over all of them, whatever the
 * evaluation's user sample), their history excluded as the server does by
 * default (exclude_seen), and each item's interactions in the training part of the log.
 */
export async function monitoringReferenceOf(scorer: Scorer, split: LeaveOneOutSplit): Promise<MonitoringReference> {
  const { numItems } = scorer;
  const { train } = split;
  const histories = Array.from(spacedUsers(split.evalUsers, REFERENCE_USERS), (u) => train[u]);
  const rows = scoreBatchRows(numItems, BATCH);
  const lists = new Int32Array(histories.length * LIST_LENGTH);
  const topScores = new Float32Array(histories.length);
  for (let start = 0; start < histories.length; start += rows) {
    const batch = histories.slice(start, start + rows);
    const scores = await scorer.score(batch);
    batch.forEach((history, b) => {
      const seen = new Set(Array.from(history, (item) => item - 1));
      const best = topK(scores, b * numItems, numItems, LIST_LENGTH, seen);
      for (let j = 0; j < best.columns.length; j++) lists[(start + b) * LIST_LENGTH + j] = best.columns[j] + 1;
      topScores[start + b] = best.scores[0];
    });
  }
  const counts = new Float64Array(numItems);
  for (const s of train) for (const item of s) if (item >= 1) counts[item - 1]++;
  return buildMonitoringReference(lists, topScores, counts);
}
