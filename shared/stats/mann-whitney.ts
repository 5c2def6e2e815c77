import { normalCdf } from "./normal.js";

export interface MannWhitneyResult {
  /** U of the first sample: pairs (x, y) with x > y, ties counted half. */
  u: number;
  z: number;
  /** One-sided p-value for "x is stochastically greater than y". */
  p: number;
}

/**
 * One-sided Mann-Whitney U test that `x` tends to be larger than `y`, with the normal
 * approximation, the tie correction and a continuity correction (fine from about 8 values
 * per sample; latency runs use 20 or more).
 */
export function mannWhitneyGreater(x: ArrayLike<number>, y: ArrayLike<number>): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) return { u: 0, z: 0, p: 1 };
  const all: { v: number; first: boolean }[] = [];
  for (let i = 0; i < n1; i++) all.push({ v: x[i], first: true });
  for (let i = 0; i < n2; i++) all.push({ v: y[i], first: false });
  all.sort((a, b) => a.v - b.v);
  const n = n1 + n2;
  let rankSumX = 0;
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j) / 2 + 1; // average 1-based rank of the tie group
    const t = j - i + 1;
    if (t > 1) tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k].first) rankSumX += rank;
    i = j + 1;
  }
  const u = rankSumX - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, z: 0, p: u > mean ? 0 : 1 };
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, z, p: 1 - normalCdf(z) };
}

/**
 * Is `candidate` slower than `baseline` by more than the relative margin? Tests
 * candidate > (1 + margin) × baseline: the baseline times are scaled by the margin first,
 * so runner noise within the margin can not make the test fail.
 */
export function slowerThanMargin(candidate: ArrayLike<number>, baseline: ArrayLike<number>, margin: number): MannWhitneyResult {
  const scaled = Array.from(baseline, (v) => v * (1 + margin));
  return mannWhitneyGreater(candidate, scaled);
}
