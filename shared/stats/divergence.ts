/**
 * Distances between two discrete distributions given as counts (or shares) over the same bins,
 * as TensorFlow Data Validation reports drift: the Jensen-Shannon distance (the square root of
 * the JS divergence, base 2: 0 = the same, 1 = disjoint) and the L-infinity distance (the largest
 * change of one bin's share).
 */
function shares(counts: ArrayLike<number>): Float64Array {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += Math.max(0, counts[i]);
  const out = new Float64Array(counts.length);
  if (total > 0) for (let i = 0; i < counts.length; i++) out[i] = Math.max(0, counts[i]) / total;
  return out;
}

export function jensenShannonDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`bins differ: ${a.length} vs ${b.length}`);
  const p = shares(a);
  const q = shares(b);
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i] + q[i]) / 2;
    if (p[i] > 0) divergence += (p[i] / 2) * Math.log2(p[i] / m);
    if (q[i] > 0) divergence += (q[i] / 2) * Math.log2(q[i] / m);
  }
  return Math.sqrt(Math.min(1, Math.max(0, divergence)));
}

export function lInfinityDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`bins differ: ${a.length} vs ${b.length}`);
  const p = shares(a);
  const q = shares(b);
  let max = 0;
  for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i] - q[i]));
  return max;
}
