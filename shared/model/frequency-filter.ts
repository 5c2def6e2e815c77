import { RecshipError } from "../errors.js";

/**
 * A causal form of BSARec's frequency filter (Shin et al., AAAI 2024), the inductive bias it
 * adds beside self-attention: split a sequence of hidden states into its low-frequency part
 * (the user's slowly moving taste) and the rest, and let the model re-weight the rest.
 *
 * BSARec filters the whole padded sequence with an FFT, so position t sees later positions and
 * only the last position can be trained. SASRec trains every position, so here each position t
 * filters its own past: the low-pass output at t is a weighted mean of the real items at t and
 * before, weighted by the impulse response of BSARec's ideal low-pass filter (the `cutoff`
 * lowest frequencies of a length-maxlen sequence), renormalised over the items that exist. It
 * depends only on the real items (never on padding), so length-bucketed training equals
 * full-length inference, as for attention.
 */
export interface FrequencyFilterConfig {
  /** Frequencies kept by the low-pass filter (BSARec's c): 1 keeps only the mean. */
  cutoff: number;
  /** Weight of the filter branch; 1 − alpha goes to self-attention (BSARec's α). */
  alpha: number;
}

/**
 * Impulse response of keeping the `cutoff` lowest real-FFT bins of a length-n sequence:
 * k(j) = (1/n)·Σ_{f kept} e^{2πi·f·j/n}, i.e. (1 + 2·Σ_{f=1}^{c−1} cos(2πfj/n)) / n, with the
 * Nyquist bin (f = n/2, counted once) when it is kept.
 */
export function lowPassKernel(n: number, cutoff: number): Float64Array {
  const k = new Float64Array(n);
  const half = Math.floor(n / 2);
  for (let j = 0; j < n; j++) {
    let sum = 1;
    for (let f = 1; f < cutoff && f <= half; f++) {
      const term = Math.cos((2 * Math.PI * f * j) / n);
      sum += 2 * f === n ? term : 2 * term;
    }
    k[j] = sum / n;
  }
  return k;
}

/**
 * The filter's weights as a [maxlen × maxlen] table: row n−1 holds, for a position with n real
 * items up to and including it, the weight of the item j steps back: k(j) / Σ_{i<n} k(i).
 */
export function filterWeightTable(maxlen: number, cutoff: number): Float32Array {
  if (!Number.isInteger(cutoff) || cutoff < 1) {
    throw new RecshipError(`model.frequencyFilter.cutoff must be a whole number ≥ 1, got ${cutoff}`, {
      fix: "use e.g. 3: the three lowest frequencies of a maxlen-long sequence",
    });
  }
  const k = lowPassKernel(maxlen, cutoff);
  const table = new Float32Array(maxlen * maxlen);
  let norm = 0;
  for (let n = 1; n <= maxlen; n++) {
    norm += k[n - 1];
    for (let j = 0; j < n; j++) table[(n - 1) * maxlen + j] = k[j] / norm;
  }
  return table;
}

/** Left padding of each row of a [batch, length] id grid: the index of its first real item. */
function firstItem(items: Int32Array, row: number, length: number): number {
  let start = 0;
  while (start < length && items[row * length + start] === 0) start++;
  return start;
}

/**
 * The low-pass operator of a batch, [batch, length, length]: row t of sequence b mixes its real
 * items s (start ≤ s ≤ t) with weight table[(t − start)·maxlen + (t − s)]; padding rows are 0.
 */
export function filterMatrix(items: Int32Array, batch: number, length: number, maxlen: number, table: Float32Array): Float32Array {
  const out = new Float32Array(batch * length * length);
  for (let b = 0; b < batch; b++) {
    const start = firstItem(items, b, length);
    for (let t = start; t < length; t++) {
      const row = (b * length + t) * length;
      const weights = (t - start) * maxlen;
      for (let s = start; s <= t; s++) out[row + s] = table[weights + t - s];
    }
  }
  return out;
}
