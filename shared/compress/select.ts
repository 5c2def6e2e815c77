import type { MeasuredModel, Objective, VariantResult } from "./report.js";

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/** Relative loss (baseline − value) / baseline; 0 when both are 0. */
function relativeDrop(baseline: number, value: number): number {
  if (baseline === 0) return value === 0 ? 0 : -Infinity;
  return (baseline - value) / baseline;
}

/** The objective's ratio (smaller is better). */
function objectiveRatio(v: Pick<VariantResult, "sizeRatio" | "latencyRatioBatch64">, objective: Objective): number {
  return objective === "size" ? v.sizeRatio : v.latencyRatioBatch64;
}

/** Ratios, budget check and verdict of one variant against the baseline (not yet chosen). */
export function judge(
  baseline: MeasuredModel,
  measured: MeasuredModel,
  extra: Pick<VariantResult, "methods" | "rankChangedShare" | "notes" | "details" | "sha256" | "calibration">,
  budget: { maxNdcgDrop: number; objective: Objective },
): VariantResult {
  const sizeRatio = measured.bytes / baseline.bytes;
  const latencyRatioBatch64 = measured.latency.batch64.p50 / baseline.latency.batch64.p50;
  const ndcg10RelDrop = relativeDrop(baseline.validation.ndcg10, measured.validation.ndcg10);
  const withinBudget = ndcg10RelDrop <= budget.maxNdcgDrop;
  const ratio = objectiveRatio({ sizeRatio, latencyRatioBatch64 }, budget.objective);
  const saves = ratio < 1;
  const verdict = !withinBudget
    ? `over budget: NDCG@10 −${pct(ndcg10RelDrop)} > −${pct(budget.maxNdcgDrop)}`
    : !saves
      ? `no ${budget.objective} saving (${ratio.toFixed(3)}× the fp32 model)`
      : "within budget";
  return {
    ...measured,
    ...extra,
    sizeRatio,
    gzipRatio: measured.gzipBytes / baseline.gzipBytes,
    latencyRatioBatch1: measured.latency.batch1.p50 / baseline.latency.batch1.p50,
    latencyRatioBatch64,
    throughputRatioBatch64: measured.latency.batch64.throughput / baseline.latency.batch64.throughput,
    ndcg10RelDrop,
    testNdcg10RelDrop: relativeDrop(baseline.test.ndcg10, measured.test.ndcg10),
    withinBudget,
    eligible: withinBudget && saves,
    chosen: false,
    kept: false,
    verdict,
  };
}

/**
 * The best eligible variant for the objective: smallest size (ties: lower latency) or lowest
 * batch-64 latency (ties: smaller size), then the smaller accuracy loss. Marks it chosen.
 */
export function choose(variants: VariantResult[], objective: Objective): VariantResult | null {
  const other: Objective = objective === "size" ? "latency" : "size";
  const ranked = variants
    .filter((v) => v.eligible)
    .sort(
      (a, b) =>
        objectiveRatio(a, objective) - objectiveRatio(b, objective) ||
        objectiveRatio(a, other) - objectiveRatio(b, other) ||
        a.ndcg10RelDrop - b.ndcg10RelDrop,
    );
  const best = ranked[0] ?? null;
  if (best) {
    best.chosen = true;
    best.verdict = `chosen: best ${objective} within budget`;
  }
  return best;
}
