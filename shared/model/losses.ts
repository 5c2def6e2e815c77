import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../util/random.js";
import type { SasrecConfig, TrainConfig } from "./config.js";
import type { SequenceBatch } from "./batches.js";
import { forward, itemTable, outputMatrix, type Params } from "./sasrec.js";
import { logSumExpRows, mm } from "./ops.js";

/**
 * The training loss of one batch, averaged over its real target positions.
 * - ce: softmax cross-entropy over the whole catalogue.
 * - sampled-ce: softmax over the target and `negatives` uniform items shared by the batch
 *   (accidental hits masked).
 * - bce: the SASRec paper's loss, one sampled negative per position.
 */
export function batchLoss(
  params: Params,
  model: SasrecConfig,
  train: TrainConfig,
  numItems: number,
  batch: SequenceBatch,
  rng: Rng,
): tf.Scalar {
  const hidden = forward(params, model, batch.items, batch.batch, batch.length, { training: true, dropoutSeed: rng.seed() });
  const positions = new Int32Array(batch.tokens);
  const targets = new Int32Array(batch.tokens);
  let t = 0;
  for (let i = 0; i < batch.targets.length; i++) {
    if (batch.targets[i] !== 0) {
      positions[t] = i;
      targets[t++] = batch.targets[i];
    }
  }
  const h = tf.gather(tf.reshape(hidden, [batch.batch * batch.length, model.hidden]), tf.tensor1d(positions, "int32"));
  const emb = itemTable(params);
  const positive = tf.sum(tf.mul(h, tf.gather(emb, tf.tensor1d(targets, "int32"))), 1);

  if (train.loss === "ce") {
    const logits = mm(h, outputMatrix(params));
    return tf.mean(tf.sub(logSumExpRows(logits), positive));
  }
  if (train.loss === "sampled-ce") {
    const n = Math.min(train.negatives, numItems);
    const negatives = new Int32Array(n);
    const slot = new Map<number, number>();
    for (let j = 0; j < n; j++) {
      negatives[j] = 1 + rng.int(numItems);
      slot.set(negatives[j], j);
    }
    let logits = mm(h, tf.transpose(tf.gather(emb, tf.tensor1d(negatives, "int32"))));
    const hits: number[] = [];
    for (let r = 0; r < targets.length; r++) {
      const j = slot.get(targets[r]);
      if (j !== undefined) hits.push(r * n + j);
    }
    if (hits.length > 0) {
      const mask = new Float32Array(targets.length * n);
      for (const k of hits) mask[k] = -1e9;
      logits = tf.add(logits, tf.tensor2d(mask, [targets.length, n]));
    }
    const all = tf.concat([tf.reshape(positive, [-1, 1]), logits], 1);
    return tf.mean(tf.sub(logSumExpRows(all), positive));
  }
  // bce with one negative per position
  const negatives = new Int32Array(targets.length);
  for (let r = 0; r < targets.length; r++) {
    let item = 1 + rng.int(numItems);
    while (item === targets[r] && numItems > 1) item = 1 + rng.int(numItems);
    negatives[r] = item;
  }
  const negative = tf.sum(tf.mul(h, tf.gather(emb, tf.tensor1d(negatives, "int32"))), 1);
  return tf.mean(tf.add(tf.softplus(tf.neg(positive)), tf.softplus(negative)));
}
