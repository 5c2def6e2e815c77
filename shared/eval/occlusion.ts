/**
 * Leave-one-out occlusion of a history: which history items drove a recommendation, measured on
 * the model's own output. For the items the model reads (the window: the last maxlen), one extra
 * history per item, without it; the contribution of history item j to item r is
 * score(r | history) − score(r | history without j). All the histories go through the model in
 * one batched run.
 *
 * Removing an item shifts the older items one place towards the end (the history stays
 * left-padded and contiguous, as the model saw histories in training): the counterfactual is the
 * shopper's history had they never interacted with that item, truncated to maxlen like any
 * request. With a history longer than maxlen the item just outside the window then moves in;
 * items outside the window are not explained (removing one changes nothing the model reads).
 * Blanking an item in place (padding in the middle of a history) would feed the model an input
 * it never saw in training.
 */
export interface OcclusionPlan {
  /** [rows, maxlen] int64: row 0 the history as the model reads it, row 1 + j the history without window item j. */
  input: BigInt64Array;
  rows: number;
  /** Items in the window (rows − 1). */
  window: number;
  /** Index in the given history (oldest first) of window item j. */
  firstIndex: number;
}

/** The full history and its leave-one-out variants as one [rows, maxlen] batch (see OcclusionPlan). */
export function occlusionInput(history: Int32Array, maxlen: number): OcclusionPlan {
  const n = history.length;
  const window = Math.min(n, maxlen);
  const rows = 1 + window;
  const input = new BigInt64Array(rows * maxlen);
  // the last maxlen + 1 items decide every row: one older item moves in when one is removed
  const tailStart = Math.max(0, n - maxlen - 1);
  const tail = history.subarray(tailStart);
  writeLeftPadded(input, 0, maxlen, tail, -1);
  const firstIndex = n - window;
  for (let j = 0; j < window; j++) writeLeftPadded(input, 1 + j, maxlen, tail, firstIndex + j - tailStart);
  return { input, rows, window, firstIndex };
}

/** Writes `items` without index `skip` (−1: none), left-padded, keeping the last maxlen. */
function writeLeftPadded(out: BigInt64Array, row: number, maxlen: number, items: Int32Array, skip: number): void {
  const length = items.length - (skip >= 0 ? 1 : 0);
  const kept = Math.min(length, maxlen);
  const start = row * maxlen;
  out.fill(0n, start, start + maxlen - kept);
  let at = start + maxlen - 1;
  for (let i = items.length - 1; i >= 0 && at >= start + maxlen - kept; i--) {
    if (i === skip) continue;
    out[at--] = BigInt(items[i]);
  }
}

/**
 * Contributions of the window items to each of `items` (dense ids): [items.length, window],
 * score(item | full) − score(item | without window item j). `scores` is the run's score matrix
 * [rows, numItems] (column d − 1 = dense item d); `firstRow` is the plan's row 0 in it.
 */
export function occlusionContributions(
  scores: Float32Array,
  numItems: number,
  firstRow: number,
  window: number,
  items: ArrayLike<number>,
): Float32Array {
  const out = new Float32Array(items.length * window);
  for (let r = 0; r < items.length; r++) {
    const column = items[r] - 1;
    const full = scores[firstRow * numItems + column];
    for (let j = 0; j < window; j++) out[r * window + j] = full - scores[(firstRow + 1 + j) * numItems + column];
  }
  return out;
}

export interface Contributor {
  /** Index in the history (oldest first). */
  index: number;
  /** Score lost when the item is removed (negative: the item held the recommendation back). */
  contribution: number;
}

/** The `limit` largest contributions of row `r` (ties: the more recent item first). */
export function topContributors(contributions: Float32Array, window: number, r: number, limit: number, firstIndex: number): Contributor[] {
  const order = Array.from({ length: window }, (_, j) => j);
  const at = r * window;
  order.sort((a, b) => contributions[at + b] - contributions[at + a] || b - a);
  return order.slice(0, Math.min(limit, window)).map((j) => ({ index: firstIndex + j, contribution: contributions[at + j] }));
}

/**
 * The same histories as occlusionInput, as arrays (oldest first, at most maxlen each) for a
 * scorer that pads them itself: [0] the history as the model reads it, [1 + j] without window item j.
 */
export function leaveOneOutHistories(history: Int32Array, maxlen: number): { histories: Int32Array[]; window: number; firstIndex: number } {
  const n = history.length;
  const window = Math.min(n, maxlen);
  const firstIndex = n - window;
  const tailStart = Math.max(0, n - maxlen - 1);
  const tail = history.subarray(tailStart);
  const histories = [history.subarray(firstIndex)];
  for (let j = firstIndex - tailStart; j < tail.length; j++) {
    const without = new Int32Array(tail.length - 1);
    without.set(tail.subarray(0, j));
    without.set(tail.subarray(j + 1), j);
    histories.push(without.subarray(Math.max(0, without.length - maxlen)));
  }
  return { histories, window, firstIndex };
}
