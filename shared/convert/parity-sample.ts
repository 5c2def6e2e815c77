import { RecshipError } from "../errors.js";
import { Rng } from "../util/random.js";

/** Real histories the parity check uses at most, when not told. */
export const DEFAULT_MAX_REAL = 1000;

export interface ParitySample {
  histories: Int32Array[];
  /** How many came from real data, from the edge cases and from the random generator (in that order). */
  real: number;
  edge: number;
  random: number;
}

export interface ParitySampleOptions {
  numItems: number;
  maxlen: number;
  /** Real histories (dense item ids, oldest first), e.g. validation sequences of the training data. */
  histories?: Int32Array[];
  /** At most this many real histories are used, spread over the range of lengths (default 1000). */
  maxReal?: number;
  /** Random sequences added (default 200). */
  random?: number;
  seed?: number;
}

function checkHistory(h: Int32Array, index: number, numItems: number): void {
  for (let i = 0; i < h.length; i++) {
    if (!Number.isInteger(h[i]) || h[i] < 1 || h[i] > numItems) {
      throw new RecshipError(`parity history ${index} holds item ${h[i]} at position ${i}; items are dense ids 1..${numItems}`, {
        fix: "pass histories as dense item ids (line numbers of the bundle's items.txt), without padding",
      });
    }
  }
}

/**
 * Sequences for the parity check: real histories chosen evenly over their lengths (so the
 * shortest and the longest are in), edge cases (empty, one item, the first and last item
 * ids, full length, longer than maxlen, one item repeated) and uniform random sequences.
 */
export function paritySample(options: ParitySampleOptions): ParitySample {
  const { numItems, maxlen } = options;
  const rng = new Rng(`parity:${options.seed ?? 0}`);
  const given = options.histories ?? [];
  given.forEach((h, i) => checkHistory(h, i, numItems));
  const maxReal = options.maxReal ?? DEFAULT_MAX_REAL;
  // ordered by length either way: batches of similar lengths pad less in the tfjs reference
  const byLength = Array.from(given.keys()).sort((a, b) => given[a].length - given[b].length || a - b);
  let real = byLength.map((i) => given[i]);
  if (given.length > maxReal) {
    const step = (given.length - 1) / Math.max(1, maxReal - 1);
    real = Array.from({ length: maxReal }, (_, i) => given[byLength[Math.round(i * step)]]);
  }
  const randomItems = (n: number) => Int32Array.from({ length: n }, () => 1 + rng.int(numItems));
  const edge = [
    new Int32Array(0),
    Int32Array.of(1),
    Int32Array.of(numItems),
    Int32Array.of(numItems, 1),
    randomItems(2),
    randomItems(Math.max(1, maxlen - 1)),
    randomItems(maxlen),
    randomItems(maxlen + 5),
    new Int32Array(maxlen).fill(1 + rng.int(numItems)),
  ];
  const randomCount = options.random ?? 200;
  const random = Array.from({ length: randomCount }, (_, i) => randomItems(i % 4 === 0 ? maxlen : 1 + rng.int(maxlen)));
  return { histories: [...real, ...edge, ...random], real: real.length, edge: edge.length, random: random.length };
}
