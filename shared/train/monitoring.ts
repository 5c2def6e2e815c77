import { buildMonitoringReference, LIST_LENGTH, type MonitoringReference } from "../bundle/monitoring-reference.js";
import type { EvalCase, Scorer } from "../eval/evaluator.js";
import { topK } from "../eval/topk.js";

/** Validation users the monitoring reference summarises at most (evenly spaced over all of them). */
const REFERENCE_USERS = 2000;
/** Histories scored per model call (a batch of full score rows). */
const BATCH = 128;

/** Every `cases.length / n`-th case, or all of them. */
function spaced(cases: readonly EvalCase[], n: number): EvalCase[] {
  if (cases.length <= n) return [...cases];
  const step = cases.length / n;
  return Array.from({ length: n }, (_, i) => cases[Math.floor(i * step)]);
}

/**
 * The monitoring reference (shared/bundle/monitoring-reference.ts) of a trained model: its first
 * LIST_LENGTH recommendations for validation users, their history excluded as the server does by
 * default (exclude_seen), and each item's interactions in the training part of the log.
 */
export async function monitoringReferenceOf(
  scorer: Scorer,
  validation: readonly EvalCase[],
  train: readonly Int32Array[],
): Promise<MonitoringReference> {
  const { numItems } = scorer;
  const cases = spaced(validation, REFERENCE_USERS);
  const lists = new Int32Array(cases.length * LIST_LENGTH);
  const topScores = new Float32Array(cases.length);
  for (let start = 0; start < cases.length; start += BATCH) {
    const batch = cases.slice(start, start + BATCH);
    const scores = await scorer.score(batch.map((c) => c.history));
    batch.forEach((c, b) => {
      const seen = new Set(Array.from(c.history, (item) => item - 1));
      const best = topK(scores, b * numItems, numItems, LIST_LENGTH, seen);
      for (let j = 0; j < best.columns.length; j++) lists[(start + b) * LIST_LENGTH + j] = best.columns[j] + 1;
      topScores[start + b] = best.scores[0];
    });
  }
  const counts = new Float64Array(numItems);
  for (const s of train) for (const item of s) if (item >= 1) counts[item - 1]++;
  return buildMonitoringReference(lists, topScores, counts);
}
