/**
 * Holm's step-down procedure: controls the family-wise error rate at `alpha` over all
 * tests of a family. Tests are taken by increasing p-value; the one of rank r (0-based) among
 * m is rejected when its p-value is at most alpha / (m − r) and every smaller one was
 * rejected too. Returns, per test in input order, whether it is rejected, its own threshold
 * alpha / (m − r) (the level its confidence interval is read at) and the Holm-adjusted p-value.
 */
export interface HolmDecision {
  rejected: boolean;
  threshold: number;
  adjusted: number;
}

export function holm(pValues: readonly number[], alpha: number): HolmDecision[] {
  const m = pValues.length;
  const order = pValues.map((_, i) => i).sort((a, b) => pValues[a] - pValues[b] || a - b);
  const out: HolmDecision[] = new Array(m);
  let stillRejecting = true;
  let runningMax = 0;
  order.forEach((i, r) => {
    const threshold = alpha / (m - r);
    const p = pValues[i];
    runningMax = Math.max(runningMax, Math.min(1, (m - r) * p));
    stillRejecting = stillRejecting && p <= threshold;
    out[i] = { rejected: stillRejecting, threshold, adjusted: runningMax };
  });
  return out;
}
