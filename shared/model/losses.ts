import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../util/random.js";
import type { SasrecConfig, TrainConfig } from "./config.js";
import type { SequenceBatch } from "./batches.js";
import { forward, itemTable, outputMatrix, type Params } from "./sasrec.js";
import { logSumExpRows, mm } from "./ops.js";
import { negativeSource, targetFrequencies, type NegativeSource } from "./negatives.js";

/**
 * Everything random about one global batch's loss, drawn once on the coordinating thread so
 * that any row slice of the batch (a worker's share) sees the same draws as the whole batch.
 */
export interface LossDraws {
  dropoutSeed: number;
  /** sampled-ce: the batch's shared negatives; bce: one negative per cell of the [batch, length] grid; ce: empty. */
  negatives: Int32Array;
  /** sampled-ce with the log-Q correction: log(K·q(j)) for each shared negative (else empty). */
  logQ: Float32Array;
  /** bce's negatives are per cell (a slice takes its rows' cells); sampled-ce's are shared by every slice. */
  perCell: boolean;
  /** Real target positions of the whole global batch: every slice's loss sum is divided by it. */
  globalTokens: number;
}

/** A row slice of a global batch with its draws (a whole batch is the slice at row 0). */
export interface LossInput {
  batch: SequenceBatch;
  /** First row of this slice in the global batch. */
  rowOffset: number;
  draws: LossDraws;
}

/**
 * Draws a global batch's randomness from the epoch's generator. sampled-ce's negatives come from
 * `source` (default: the config's uniform draws; popularity and in-batch need the training data's
 * frequencies: negativeSourceFor).
 */
export function drawLoss(train: TrainConfig, numItems: number, batch: SequenceBatch, rng: Rng, source?: NegativeSource): LossDraws {
  const dropoutSeed = rng.seed();
  let negatives: Int32Array = new Int32Array(0);
  let logQ: Float32Array = new Float32Array(0);
  if (train.loss === "sampled-ce") {
    const from = source ?? negativeSource({ sampler: "uniform", count: train.negatives, logQ: train.logQ ?? false, numItems });
    ({ negatives, logQ } = from.draw(batch, rng));
  } else if (train.loss === "bce") {
    negatives = new Int32Array(batch.targets.length);
    for (let i = 0; i < negatives.length; i++) {
      const target = batch.targets[i];
      if (target === 0) continue;
      let item = 1 + rng.int(numItems);
      while (item === target && numItems > 1) item = 1 + rng.int(numItems);
      negatives[i] = item;
    }
  }
  return { dropoutSeed, negatives, logQ, perCell: train.loss === "bce", globalTokens: batch.tokens };
}

/** The negative source a training run on these sequences uses (its config's sampler and correction). */
export function negativeSourceFor(train: TrainConfig, numItems: number, sequences: readonly Int32Array[]): NegativeSource {
  const sampler = train.negativeSampler ?? "uniform";
  return negativeSource({
    sampler,
    count: train.negatives,
    logQ: train.logQ ?? false,
    numItems,
    frequencies: sampler === "uniform" ? undefined : targetFrequencies(sequences, numItems),
  });
}

/** Rows [start, end) of a batch and of its per-cell draws. */
export function sliceInput(whole: LossInput, start: number, end: number): LossInput {
  const { batch } = whole;
  const cells = (r: number) => r * batch.length;
  const items = batch.items.subarray(cells(start), cells(end));
  const targets = batch.targets.subarray(cells(start), cells(end));
  let tokens = 0;
  for (const t of targets) if (t !== 0) tokens++;
  const negatives = whole.draws.perCell ? whole.draws.negatives.subarray(cells(start), cells(end)) : whole.draws.negatives;
  return {
    batch: { batch: end - start, length: batch.length, items, targets, tokens },
    rowOffset: whole.rowOffset + start,
    draws: { ...whole.draws, negatives },
  };
}

/** Positions (flat [batch × length] indexes) of the real targets and the targets there. */
function targetPositions(targetsGrid: Int32Array, tokens: number): { positions: Int32Array; targets: Int32Array } {
  const positions = new Int32Array(tokens);
  const targets = new Int32Array(tokens);
  let t = 0;
  for (let i = 0; i < targetsGrid.length; i++) {
    if (targetsGrid[i] !== 0) {
      positions[t] = i;
      targets[t++] = targetsGrid[i];
    }
  }
  return { positions, targets };
}

/**
 * Flat [targets × negatives] indexes where a shared negative is the row's own target (every
 * occurrence: draws with replacement and in-batch negatives repeat items), found by sorting the
 * negatives once and binary-searching each target.
 */
export function accidentalHits(targets: Int32Array, negatives: Int32Array): number[] {
  const n = negatives.length;
  const order = Int32Array.from(negatives.keys()).sort((a, b) => negatives[a] - negatives[b]);
  const hits: number[] = [];
  for (let r = 0; r < targets.length; r++) {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (negatives[order[mid]] < targets[r]) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < n && negatives[order[k]] === targets[r]; k++) hits.push(r * n + order[k]);
  }
  return hits;
}

/**
 * log Σ over the target and the shared negatives (each logit less its log(K·q) with the log-Q
 * correction; accidental hits of the target masked), minus the target's logit.
 */
function sampledSoftmaxLoss(h: tf.Tensor2D, emb: tf.Tensor2D, positive: tf.Tensor1D, targets: Int32Array, draws: LossDraws): tf.Tensor1D {
  const { negatives, logQ } = draws;
  const n = negatives.length;
  let logits = mm(h, tf.transpose(tf.gather(emb, tf.tensor1d(negatives, "int32"))));
  if (logQ.length > 0) logits = tf.sub(logits, tf.tensor1d(logQ));
  const hits = accidentalHits(targets, negatives);
  if (hits.length > 0) {
    const mask = new Float32Array(targets.length * n);
    for (const k of hits) mask[k] = -1e9;
    logits = tf.add(logits, tf.tensor2d(mask, [targets.length, n]));
  }
  const all = tf.concat([tf.reshape(positive, [-1, 1]), logits], 1);
  return tf.sub(logSumExpRows(all), positive);
}

/**
 * The training loss of a batch slice: the sum of its target positions' losses divided by the
 * global batch's target count, so the slices' losses (and gradients) add up to the global mean.
 * - ce: softmax cross-entropy over the whole catalogue.
 * - sampled-ce: softmax over the target and the batch's shared negatives (uniform, popularity or
 *   in-batch; optionally log-Q corrected; accidental hits masked).
 * - bce: the SASRec paper's loss, one sampled negative per position.
 */
export function batchLoss(params: Params, model: SasrecConfig, train: TrainConfig, input: LossInput): tf.Scalar {
  const { batch, draws } = input;
  const hidden = forward(params, model, batch.items, batch.batch, batch.length, {
    training: true,
    dropoutSeed: draws.dropoutSeed,
    rowOffset: input.rowOffset,
  });
  const { positions, targets } = targetPositions(batch.targets, batch.tokens);
  const h = tf.gather(tf.reshape(hidden, [batch.batch * batch.length, model.hidden]), tf.tensor1d(positions, "int32")) as tf.Tensor2D;
  const emb = itemTable(params);
  const positive = tf.sum(tf.mul(h, tf.gather(emb, tf.tensor1d(targets, "int32"))), 1) as tf.Tensor1D;
  let perToken: tf.Tensor1D;
  if (train.loss === "ce") {
    perToken = tf.sub(logSumExpRows(mm(h, outputMatrix(params))), positive);
  } else if (train.loss === "sampled-ce") {
    perToken = sampledSoftmaxLoss(h, emb, positive, targets, draws);
  } else {
    const negatives = new Int32Array(targets.length);
    positions.forEach((p, r) => (negatives[r] = draws.negatives[p]));
    const negative = tf.sum(tf.mul(h, tf.gather(emb, tf.tensor1d(negatives, "int32"))), 1);
    perToken = tf.add(tf.softplus(tf.neg(positive)), tf.softplus(negative));
  }
  return tf.div(tf.sum(perToken), draws.globalTokens) as tf.Scalar;
}
