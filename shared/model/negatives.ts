import { type Rng, WeightedSampler } from "../util/random.js";
import type { SequenceBatch } from "./batches.js";

/**
 * Where sampled-ce's shared negatives come from:
 * - uniform: K items drawn uniformly;
 * - popularity: K items drawn from the training targets' frequencies (the unigram distribution);
 * - in-batch: the global batch's own targets (a popularity sample that costs no extra draws).
 */
export const NEGATIVE_SAMPLERS = ["uniform", "popularity", "in-batch"] as const;
export type NegativeSampler = (typeof NEGATIVE_SAMPLERS)[number];

/** A batch's negatives and, with the log-Q correction, log(K·q(j)) to subtract from each one's logit. */
interface NegativeDraw {
  negatives: Int32Array;
  /** Empty without the correction. */
  logQ: Float32Array;
}

/**
 * Draws a global batch's shared negatives. The log-Q correction (Bengio & Senécal 2008; Yi et
 * al., RecSys 2019) makes the sampled sum an unbiased estimate of the full softmax's: with K
 * draws from q, E[Σ_{j∈S} exp(s_j − log(K·q_j))] = Σ_j exp(s_j), so popular items are not
 * over-penalised for being drawn often, and uniform draws weigh each negative N/K times.
 */
export interface NegativeSource {
  draw(batch: SequenceBatch, rng: Rng): NegativeDraw;
}

/** How often each item is a training target (index = item id; 0 is padding and stays 0). */
export function targetFrequencies(sequences: readonly Int32Array[], numItems: number): Float64Array {
  const counts = new Float64Array(numItems + 1);
  for (const s of sequences) for (let i = 1; i < s.length; i++) counts[s[i]]++;
  return counts;
}

/** log(K·q(j)) for each drawn item j. */
function logQOf(negatives: Int32Array, probability: (item: number) => number): Float32Array {
  const out = new Float32Array(negatives.length);
  for (let j = 0; j < negatives.length; j++) out[j] = Math.log(negatives.length * probability(negatives[j]));
  return out;
}

/** The batch's real targets, in grid order: in-batch negatives. */
function batchTargets(batch: SequenceBatch): Int32Array {
  const out = new Int32Array(batch.tokens);
  let k = 0;
  for (const t of batch.targets) if (t !== 0) out[k++] = t;
  return out;
}

export interface NegativeSourceOptions {
  sampler: NegativeSampler;
  /** K for uniform and popularity draws. */
  count: number;
  logQ: boolean;
  numItems: number;
  /** Training target frequencies (targetFrequencies): popularity and in-batch need them. */
  frequencies?: Float64Array;
}

export function negativeSource(o: NegativeSourceOptions): NegativeSource {
  const none = new Float32Array(0);
  if (o.sampler === "uniform") {
    const k = Math.min(o.count, o.numItems);
    return {
      draw: (_batch, rng) => {
        const negatives = new Int32Array(k);
        for (let j = 0; j < k; j++) negatives[j] = 1 + rng.int(o.numItems);
        return { negatives, logQ: o.logQ ? logQOf(negatives, () => 1 / o.numItems) : none };
      },
    };
  }
  const frequencies = o.frequencies!;
  let total = 0;
  for (const f of frequencies) total += f;
  const probability = (item: number) => frequencies[item] / total;
  if (o.sampler === "in-batch") {
    return {
      draw: (batch) => {
        const negatives = batchTargets(batch);
        return { negatives, logQ: o.logQ ? logQOf(negatives, probability) : none };
      },
    };
  }
  const sampler = new WeightedSampler(frequencies);
  return {
    draw: (_batch, rng) => {
      const negatives = new Int32Array(o.count);
      for (let j = 0; j < o.count; j++) negatives[j] = sampler.sample(rng);
      return { negatives, logQ: o.logQ ? logQOf(negatives, probability) : none };
    },
  };
}
