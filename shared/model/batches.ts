import { Rng } from "../util/random.js";

/** A left-padded batch: `items` and `targets` are [batch, length] row-major, 0 = padding. */
export interface SequenceBatch {
  batch: number;
  length: number;
  items: Int32Array;
  targets: Int32Array;
  /** Real (non-padding) target positions. */
  tokens: number;
}

/** One training example per user: input = train[:-1], target = train[1:], last `maxlen` positions. */
export function trainingExamples(train: Int32Array[], maxlen: number): Int32Array[] {
  return train.filter((s) => s.length >= 2).map((s) => (s.length > maxlen + 1 ? s.subarray(s.length - maxlen - 1) : s));
}

/**
 * Length-bucketed groups of example indexes: examples sorted by length (ties shuffled), cut
 * into groups of at most `batchTokens` padded positions, group order shuffled. Beauty's mean
 * history is ~7 items against maxlen 50: padding every batch to maxlen would waste ~85% of
 * the compute. Without `rng`: sorted, unshuffled.
 */
export function lengthBuckets(examples: Int32Array[], batchTokens: number, rng?: Rng): number[][] {
  const shuffled = Array.from(examples.keys());
  rng?.shuffle(shuffled);
  const order = byLength(shuffled, examples); // stable: shuffled within a length
  const groups: number[][] = [];
  let start = 0;
  while (start < order.length) {
    let end = start;
    // sorted ascending, so the last example sets the padded length
    while (end < order.length && (end - start + 1) * (examples[order[end]].length - 1) <= batchTokens) end++;
    if (end === start) end = start + 1;
    groups.push(order.slice(start, end));
    start = end;
  }
  rng?.shuffle(groups);
  return groups;
}

/**
 * `order` stably sorted by example length: a counting sort (lengths are at most maxlen + 1), O(n)
 * where a comparison sort of millions of users takes seconds an epoch.
 */
function byLength(order: number[], examples: Int32Array[]): number[] {
  let longest = 0;
  for (const e of examples) longest = Math.max(longest, e.length);
  const starts = new Int32Array(longest + 2);
  for (const i of order) starts[examples[i].length + 1]++;
  for (let l = 1; l < starts.length; l++) starts[l] += starts[l - 1];
  const sorted = new Array<number>(order.length);
  for (const i of order) sorted[starts[examples[i].length]++] = i;
  return sorted;
}

/** One epoch's batches (see lengthBuckets). */
export function epochBatches(examples: Int32Array[], batchTokens: number, rng: Rng): SequenceBatch[] {
  return lengthBuckets(examples, batchTokens, rng).map((group) => makeBatch(group.map((i) => examples[i])));
}

export function makeBatch(sequences: Int32Array[]): SequenceBatch {
  const length = Math.max(1, ...sequences.map((s) => s.length - 1));
  const batch = sequences.length;
  const items = new Int32Array(batch * length);
  const targets = new Int32Array(batch * length);
  let tokens = 0;
  sequences.forEach((s, b) => {
    const n = s.length - 1;
    const offset = b * length + (length - n);
    items.set(s.subarray(0, n), offset);
    targets.set(s.subarray(1), offset);
    tokens += n;
  });
  return { batch, length, items, targets, tokens };
}

/** Left-padded histories for scoring, [batch, length]; an empty history becomes one padding slot. */
export function historyBatch(histories: Int32Array[], maxlen: number): { items: Int32Array; batch: number; length: number } {
  const capped = histories.map((h) => (h.length > maxlen ? h.subarray(h.length - maxlen) : h));
  const length = Math.max(1, ...capped.map((h) => h.length));
  const items = new Int32Array(capped.length * length);
  capped.forEach((h, b) => items.set(h, b * length + (length - h.length)));
  return { items, batch: capped.length, length };
}
