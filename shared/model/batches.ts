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
 * Length-bucketed batches for one epoch: examples sorted by length (ties shuffled), cut into
 * batches of at most `batchTokens` padded positions, batch order shuffled. Beauty's mean
 * history is ~7 items against maxlen 50: padding every batch to maxlen would waste ~85% of
 * the compute.
 */
export function epochBatches(examples: Int32Array[], batchTokens: number, rng: Rng): SequenceBatch[] {
  const order = Array.from(examples.keys());
  rng.shuffle(order);
  order.sort((a, b) => examples[a].length - examples[b].length); // stable: shuffled within a length
  const batches: SequenceBatch[] = [];
  let start = 0;
  while (start < order.length) {
    let end = start;
    // sorted ascending, so the last example sets the padded length
    while (end < order.length && (end - start + 1) * (examples[order[end]].length - 1) <= batchTokens) end++;
    if (end === start) end = start + 1;
    batches.push(makeBatch(order.slice(start, end).map((i) => examples[i])));
    start = end;
  }
  rng.shuffle(batches);
  return batches;
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
