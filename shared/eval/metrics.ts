/**
 * Ranking metrics from 0-based ranks of the held-out item, one per user. Shared by
 * train-model (validation and test) and benchmark-gate, which keeps the per-user vectors
 * for paired comparisons.
 */
export const DEFAULT_CUTOFFS = [5, 10, 20] as const;

export type MetricSet = Record<string, number> & { mrr: number };

function hitRate(rank: number, k: number): number {
  return rank < k ? 1 : 0;
}

export function ndcg(rank: number, k: number): number {
  return rank < k ? 1 / Math.log2(rank + 2) : 0;
}

function reciprocalRank(rank: number): number {
  return 1 / (rank + 1);
}

/** Per-user values of one metric, e.g. perUser(ranks, "ndcg", 10). */
export function perUser(ranks: ArrayLike<number>, metric: "hr" | "ndcg" | "mrr", k = 10): Float64Array {
  const out = new Float64Array(ranks.length);
  for (let i = 0; i < ranks.length; i++) {
    out[i] = metric === "hr" ? hitRate(ranks[i], k) : metric === "ndcg" ? ndcg(ranks[i], k) : reciprocalRank(ranks[i]);
  }
  return out;
}

/** Means over users: hr@K and ndcg@K for each cutoff (keys "hr10", "ndcg10", ...) and mrr. */
export function summarize(ranks: ArrayLike<number>, cutoffs: readonly number[] = DEFAULT_CUTOFFS): MetricSet {
  const n = ranks.length;
  const out: Record<string, number> = {};
  for (const k of cutoffs) {
    let hr = 0;
    let nd = 0;
    for (let i = 0; i < n; i++) {
      hr += hitRate(ranks[i], k);
      nd += ndcg(ranks[i], k);
    }
    out[`hr${k}`] = n ? hr / n : 0;
    out[`ndcg${k}`] = n ? nd / n : 0;
  }
  let rr = 0;
  for (let i = 0; i < n; i++) rr += reciprocalRank(ranks[i]);
  out.mrr = n ? rr / n : 0;
  return out as MetricSet;
}

/**
 * 0-based rank of `target` among `candidates` scores: the number of candidates scored higher,
 * plus half of the other candidates tied with it (so constant scores do not look good or bad).
 */
export function rankAmong(scores: ArrayLike<number>, targetScore: number, count: number, offset = 0): number {
  const { greater, ties } = rankCounts(scores, targetScore, count, offset);
  return rankOf(greater, ties);
}

/** Items scoring above the target, and items tying with it (the target itself included). */
export function rankCounts(scores: ArrayLike<number>, targetScore: number, count: number, offset = 0): { greater: number; ties: number } {
  let greater = 0;
  let ties = 0;
  for (let i = offset; i < offset + count; i++) {
    const s = scores[i];
    if (s > targetScore) greater++;
    else if (s === targetScore) ties++;
  }
  return { greater, ties };
}

/** 0-based rank from the counts: every better item, and half the other tying ones. */
export function rankOf(greater: number, ties: number): number {
  return greater + Math.floor(Math.max(0, ties - 1) / 2);
}

/**
 * The rank with the user's history masked (the published protocol): as if every item of
 * `history` but the target scored -∞, from the all-items counts and the history alone,
 * O(history) instead of another pass over the catalogue. Item i's score is scores[offset + i - 1].
 */
export function maskedRank(
  scores: ArrayLike<number>,
  offset: number,
  target: number,
  counts: { greater: number; ties: number },
  history: ArrayLike<number>,
): number {
  const targetScore = scores[offset + target - 1];
  let { greater, ties } = counts;
  const seen = new Set<number>();
  for (let i = 0; i < history.length; i++) {
    const item = history[i];
    if (item === target || item <= 0 || seen.has(item)) continue;
    seen.add(item);
    const s = scores[offset + item - 1];
    if (s > targetScore) greater--;
    else if (s === targetScore) ties--;
  }
  return rankOf(greater, ties);
}

/**
 * Catalogue coverage@K: the share of the `numItems` items found in at least one user's top-K.
 * `top` holds one row of `width` ≥ k item ids (1-based, 0 = empty) per user; `users` picks rows.
 */
export function coverage(top: Int32Array, width: number, k: number, numItems: number, users?: ArrayLike<number>): number {
  const seen = new Uint8Array(numItems + 1);
  const rows = users ?? Array.from({ length: Math.floor(top.length / width) }, (_, i) => i);
  let distinct = 0;
  for (let j = 0; j < rows.length; j++) {
    const offset = rows[j] * width;
    for (let r = 0; r < k; r++) {
      const item = top[offset + r];
      if (item > 0 && !seen[item]) {
        seen[item] = 1;
        distinct++;
      }
    }
  }
  return numItems > 0 ? distinct / numItems : 0;
}

/** Per user: the mean popularity (e.g. interaction count) of the items in their top-K. */
export function topPopularity(top: Int32Array, width: number, k: number, popularity: ArrayLike<number>): Float64Array {
  const users = Math.floor(top.length / width);
  const out = new Float64Array(users);
  for (let u = 0; u < users; u++) {
    let sum = 0;
    let n = 0;
    for (let r = 0; r < k; r++) {
      const item = top[u * width + r];
      if (item > 0) {
        sum += popularity[item];
        n++;
      }
    }
    out[u] = n ? sum / n : 0;
  }
  return out;
}
