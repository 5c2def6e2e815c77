/**
 * One pass over a row of scores: the 0-based rank of the target (a count of higher scores,
 * half of the ties, as metrics.rankAmong) and the top-k items, kept sorted in place (no full
 * sort: an item enters only when it beats the current k-th score). Items scored -Infinity
 * (masked or unknown to the model) are never recommended. Equal scores: lower id first.
 */
export function rankAndTopK(
  row: Float32Array,
  targetIndex: number,
  k: number,
  topItems: Int32Array,
  offset: number,
  /** Scratch for the kept scores, length ≥ k. */
  topScores: Float32Array,
  /** When given, receives the counts the rank comes from (for the history-masked rank, without another pass). */
  counts?: { greater: number; ties: number },
): number {
  const t = row[targetIndex];
  const n = row.length;
  let greater = 0;
  let ties = 0;
  let filled = 0;
  let floor = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = row[i];
    if (s > t) greater++;
    else if (s === t) ties++;
    if (s > floor) {
      let j = filled < k ? filled : k - 1;
      while (j > 0 && topScores[j - 1] < s) {
        topScores[j] = topScores[j - 1];
        topItems[offset + j] = topItems[offset + j - 1];
        j--;
      }
      topScores[j] = s;
      topItems[offset + j] = i + 1;
      if (filled < k) filled++;
      if (filled === k) floor = topScores[k - 1];
    }
  }
  for (let j = filled; j < k; j++) {
    topItems[offset + j] = 0;
    topScores[j] = -Infinity;
  }
  if (counts) {
    counts.greater = greater;
    counts.ties = ties;
  }
  return greater + Math.floor(Math.max(0, ties - 1) / 2);
}

/** Rank of the target among sampled negatives: higher-scored negatives plus half the tied ones. */
export function sampledRank(row: Float32Array, targetIndex: number, negatives: Int32Array, start: number, count: number): number {
  const t = row[targetIndex];
  let greater = 0;
  let ties = 0;
  for (let j = start; j < start + count; j++) {
    const s = row[negatives[j] - 1];
    if (s > t) greater++;
    else if (s === t) ties++;
  }
  return greater + Math.floor(ties / 2);
}
