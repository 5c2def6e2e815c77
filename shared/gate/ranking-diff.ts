/** How differently two models rank: per-user top-K overlap and rank-biased overlap. */
export interface RankingDiff {
  k: number;
  rboP: number;
  users: number;
  /** Mean share of a user's top-K that both models recommend (0..1). */
  meanOverlap: number;
  /** Mean extrapolated rank-biased overlap of the two top-K lists (0..1; 1 = same order). */
  meanRbo: number;
  /** Share of users whose top-K lists are identical, order included. */
  identical: number;
  /** overlapHistogram[j] = users sharing exactly j of their top-K items. */
  overlapHistogram: number[];
}

/**
 * Extrapolated RBO (Webber, Moffat & Zobel 2010, eq. 32) of two rankings cut at depth k:
 * 1 for identical lists, 0 for disjoint ones. Lists hold item ids; 0 marks an empty slot.
 */
export function rbo(a: ArrayLike<number>, aOffset: number, b: ArrayLike<number>, bOffset: number, k: number, p: number): number {
  const seenA = new Set<number>();
  const seenB = new Set<number>();
  let overlap = 0;
  let sum = 0;
  let weight = 1;
  for (let d = 1; d <= k; d++) {
    const x = a[aOffset + d - 1];
    const y = b[bOffset + d - 1];
    if (x === y) {
      if (x !== 0) overlap++;
    } else {
      if (x !== 0) {
        if (seenB.has(x)) overlap++;
        seenA.add(x);
      }
      if (y !== 0) {
        if (seenA.has(y)) overlap++;
        seenB.add(y);
      }
    }
    weight *= p;
    sum += (overlap / d) * weight;
  }
  return (overlap / k) * Math.pow(p, k) + ((1 - p) / p) * sum;
}

export function rankingDiff(
  candidateTop: Int32Array,
  baselineTop: Int32Array,
  width: number,
  k: number,
  p: number,
): RankingDiff & { overlap: Float64Array; rbo: Float64Array } {
  const depth = Math.min(k, width);
  const users = Math.floor(candidateTop.length / width);
  const overlapVec = new Float64Array(users);
  const rboVec = new Float64Array(users);
  const histogram = new Array<number>(depth + 1).fill(0);
  let identical = 0;
  for (let u = 0; u < users; u++) {
    const o = u * width;
    const set = new Set<number>();
    for (let r = 0; r < depth; r++) if (baselineTop[o + r] > 0) set.add(baselineTop[o + r]);
    let shared = 0;
    let same = true;
    for (let r = 0; r < depth; r++) {
      const item = candidateTop[o + r];
      if (item > 0 && set.has(item)) shared++;
      if (item !== baselineTop[o + r]) same = false;
    }
    histogram[shared]++;
    if (same) identical++;
    overlapVec[u] = shared / depth;
    rboVec[u] = rbo(candidateTop, o, baselineTop, o, depth, p);
  }
  const mean = (v: Float64Array) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
  return {
    k: depth,
    rboP: p,
    users,
    meanOverlap: mean(overlapVec),
    meanRbo: mean(rboVec),
    identical: users ? identical / users : 0,
    overlapHistogram: histogram,
    overlap: overlapVec,
    rbo: rboVec,
  };
}
