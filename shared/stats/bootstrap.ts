/** A statistic of both models over a weighted set of users (the weights are bootstrap counts). */
export interface PairedStatistic {
  id: string;
  /** [candidate, baseline] over `users`, user j weighted counts[j] (null: every weight 1). */
  compute(users: Int32Array, counts: Int32Array | null): [number, number];
}

/**
 * The mean of a per-user metric vector (NDCG, HR, MRR, popularity of the top-K, ...). Every
 * replicate weighs exactly `users.length` draws, so only users where either model is
 * non-zero need visiting: HR and NDCG vectors are mostly zeros, which makes this fast.
 */
export function meanStatistic(id: string, candidate: ArrayLike<number>, baseline: ArrayLike<number>): PairedStatistic {
  let prepared: { users: Int32Array; positions: Int32Array; c: Float64Array; b: Float64Array } | undefined;
  const prepare = (users: Int32Array) => {
    const pos: number[] = [];
    for (let j = 0; j < users.length; j++) if (candidate[users[j]] !== 0 || baseline[users[j]] !== 0) pos.push(j);
    return {
      users,
      positions: Int32Array.from(pos),
      c: Float64Array.from(pos, (j) => candidate[users[j]]),
      b: Float64Array.from(pos, (j) => baseline[users[j]]),
    };
  };
  return {
    id,
    compute(users, counts) {
      if (prepared?.users !== users) prepared = prepare(users);
      const n = users.length;
      if (n === 0) return [0, 0];
      return counts ? weightedSums(prepared.positions, prepared.c, prepared.b, counts, n) : plainSums(prepared.c, prepared.b, n);
    },
  };
}

function weightedSums(positions: Int32Array, c: Float64Array, b: Float64Array, counts: Int32Array, n: number): [number, number] {
  let sc = 0;
  let sb = 0;
  for (let i = 0; i < positions.length; i++) {
    const w = counts[positions[i]];
    sc += w * c[i];
    sb += w * b[i];
  }
  return [sc / n, sb / n];
}

function plainSums(c: Float64Array, b: Float64Array, n: number): [number, number] {
  let sc = 0;
  let sb = 0;
  for (let i = 0; i < c.length; i++) {
    sc += c[i];
    sb += b[i];
  }
  return [sc / n, sb / n];
}

/** Catalogue coverage: the share of items found in at least one (resampled) user's top-K. */
export function coverageStatistic(
  id: string,
  candidateTop: Int32Array,
  baselineTop: Int32Array,
  width: number,
  k: number,
  numItems: number,
): PairedStatistic {
  const stamp = [new Int32Array(numItems + 1), new Int32Array(numItems + 1)];
  let round = 0;
  return {
    id,
    compute(users, counts) {
      round++;
      const result: [number, number] = [0, 0];
      [candidateTop, baselineTop].forEach((top, m) => {
        const seen = stamp[m];
        let distinct = 0;
        for (let j = 0; j < users.length; j++) {
          if (counts && counts[j] === 0) continue;
          const offset = users[j] * width;
          for (let r = 0; r < k; r++) {
            const item = top[offset + r];
            if (item > 0 && seen[item] !== round) {
              seen[item] = round;
              distinct++;
            }
          }
        }
        result[m] = numItems > 0 ? distinct / numItems : 0;
      });
      return result;
    },
  };
}

export interface BootstrapDistribution {
  id: string;
  /** Point estimates on all the users. */
  candidate: number;
  baseline: number;
  /** candidate − baseline. */
  absDelta: number;
  /** (candidate − baseline) / baseline; 0 when both are 0, ±Infinity when only the baseline is. */
  relDelta: number;
  /** Replicate deltas, sorted ascending. */
  abs: Float64Array;
  rel: Float64Array;
}

export function relativeChange(candidate: number, baseline: number): number {
  if (baseline === 0) return candidate === 0 ? 0 : candidate > 0 ? Infinity : -Infinity;
  return (candidate - baseline) / Math.abs(baseline);
}

/**
 * Paired bootstrap over users: each replicate draws the users with replacement (the same
 * draw for every statistic, so correlated metrics stay correlated) and recomputes every
 * statistic on both models. Seeded: the same seed gives the same intervals.
 */
export function pairedBootstrap(
  users: Int32Array,
  statistics: PairedStatistic[],
  options: { resamples: number; seed: string | number },
): BootstrapDistribution[] {
  const n = users.length;
  const resamples = Math.max(1, Math.floor(options.resamples));
  const next = sfc32(`bootstrap:${options.seed}`);
  const abs = statistics.map(() => new Float64Array(resamples));
  const rel = statistics.map(() => new Float64Array(resamples));
  const counts = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[Math.floor(next() * n)]++;
    statistics.forEach((s, i) => {
      const [c, b] = s.compute(users, counts);
      abs[i][r] = c - b;
      rel[i][r] = relativeChange(c, b);
    });
  }
  return statistics.map((s, i) => {
    const [c, b] = s.compute(users, null);
    return {
      id: s.id,
      candidate: c,
      baseline: b,
      absDelta: c - b,
      relDelta: relativeChange(c, b),
      abs: abs[i].sort(),
      rel: rel[i].sort(),
    };
  });
}

/**
 * sfc32 (Chris Doty-Humphrey's small fast counting generator), seeded from a string: uniform
 * in [0, 1). Millions of draws per bootstrap, so it has to be cheaper than seedrandom.
 */
function sfc32(seed: string): () => number {
  // cyrb128 hash of the seed for the four state words
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < seed.length; i++) {
    const k = seed.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  let a = Math.imul(h3 ^ (h1 >>> 18), 597399067) >>> 0;
  let b = Math.imul(h4 ^ (h2 >>> 22), 2869860233) >>> 0;
  let c = Math.imul(h1 ^ (h3 >>> 17), 951274213) >>> 0;
  let d = Math.imul(h2 ^ (h4 >>> 19), 2716044179) >>> 0;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** Linear-interpolation quantile (type 7) of an ascending array. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo];
  const b = sorted[hi];
  if (a === b || pos === lo) return a;
  return a + (b - a) * (pos - lo);
}

export type Direction = "higher" | "lower";

/**
 * One-sided bootstrap p-value of "the change is no worse than the margin": small when the
 * replicates lie beyond the margin in the bad direction (for a higher-is-better metric and
 * margin m: the share of replicate changes ≥ −m, with the usual +1 correction).
 */
export function regressionPValue(sortedDeltas: ArrayLike<number>, direction: Direction, margin: number): number {
  const n = sortedDeltas.length;
  let notWorse = 0;
  for (let i = 0; i < n; i++) {
    const d = sortedDeltas[i];
    if (direction === "higher" ? d >= -margin : d <= margin) notWorse++;
  }
  return (1 + notWorse) / (1 + n);
}
