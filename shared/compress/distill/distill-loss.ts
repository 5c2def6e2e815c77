import * as tf from "@tensorflow/tfjs";
import type { SasrecConfig } from "../../model/config.js";
import { logSumExpRows, mm } from "../../model/ops.js";
import { forward, itemTable, type Params } from "../../model/sasrec.js";
import type { Rng } from "../../util/random.js";
import type { IndexedBatch, TeacherTargets } from "./teacher-targets.js";

export interface DistillLossSettings {
  /** Weight of the ground-truth loss; 1 − alpha goes to matching the teacher. */
  alpha: number;
  temperature: number;
  /** Uniform negatives shared by the batch. */
  negatives: number;
  /** Weight of the hidden-state hint: mean squared distance of the student's final state to the teacher's, projected to the student's width. */
  hint: number;
}

/** The candidates of a batch's target positions, in the layout both models score them in. */
export interface BatchCandidates {
  tokens: number;
  positions: Int32Array;
  targets: Int32Array;
  /** [tokens, topK] the teacher's top items. */
  top: Int32Array;
  negatives: Int32Array;
  /** [tokens, 1 + topK + negatives] additive mask: −1e9 on duplicates of an earlier candidate. */
  mask: Float32Array;
  /** [tokens, teacher hidden]. */
  teacherStates: Float32Array;
}

/** Gathers a batch's targets, the teacher's data for them, shared negatives and the duplicate mask. */
export function batchCandidates(b: IndexedBatch, teacher: TeacherTargets, numItems: number, negatives: number, rng: Rng): BatchCandidates {
  const { batch } = b;
  const tokens = batch.tokens;
  const k = teacher.topK;
  const positions = new Int32Array(tokens);
  const targets = new Int32Array(tokens);
  let t = 0;
  for (let i = 0; i < batch.targets.length; i++) {
    if (batch.targets[i] !== 0) {
      positions[t] = i;
      targets[t++] = batch.targets[i];
    }
  }
  const top = new Int32Array(tokens * k);
  const teacherStates = new Float32Array(tokens * teacher.hidden);
  let row = 0;
  for (const e of b.examples) {
    top.set(teacher.top[e], row * k);
    teacherStates.set(teacher.states[e], row * teacher.hidden);
    row += teacher.top[e].length / k;
  }
  const n = Math.min(negatives, numItems);
  const neg = new Int32Array(n);
  for (let j = 0; j < n; j++) neg[j] = 1 + rng.int(numItems);
  const width = 1 + k + n;
  const mask = new Float32Array(tokens * width);
  const seen = new Set<number>();
  for (let r = 0; r < tokens; r++) {
    seen.clear();
    seen.add(targets[r]);
    for (let j = 0; j < k; j++) {
      const item = top[r * k + j];
      if (seen.has(item)) mask[r * width + 1 + j] = -1e9;
      else seen.add(item);
    }
    for (let j = 0; j < n; j++) {
      const item = neg[j];
      if (seen.has(item)) mask[r * width + 1 + k + j] = -1e9;
      else seen.add(item);
    }
  }
  return { tokens, positions, targets, top, negatives: neg, mask, teacherStates };
}

/** Scores of every candidate, [tokens, 1 + topK + negatives], for hidden states h against a table. */
function candidateLogits(h: tf.Tensor2D, table: tf.Tensor, c: BatchCandidates, k: number, mask: tf.Tensor2D): tf.Tensor2D {
  const positive = tf.sum(tf.mul(h, tf.gather(table, tf.tensor1d(c.targets, "int32"))), 1, true);
  const topRows = tf.gather(table, tf.tensor2d(c.top, [c.tokens, k], "int32")); // [T, K, d]
  const top = tf.sum(tf.mul(tf.expandDims(h, 1), topRows), 2);
  const negative = mm(h, tf.transpose(tf.gather(table, tf.tensor1d(c.negatives, "int32"))));
  return tf.add(tf.concat([positive, top, negative], 1), mask) as tf.Tensor2D;
}

/**
 * Teacher logits over the candidates (no gradient): computed once per batch from the stored
 * teacher states, outside the optimizer's tape.
 */
export function teacherLogits(teacherTable: tf.Tensor, c: BatchCandidates, teacher: TeacherTargets): tf.Tensor2D {
  return tf.tidy(() => {
    const width = 1 + teacher.topK + c.negatives.length;
    const mask = tf.tensor2d(c.mask, [c.tokens, width]);
    const h = tf.tensor2d(c.teacherStates, [c.tokens, teacher.hidden]);
    return candidateLogits(h, teacherTable, c, teacher.topK, mask);
  });
}

/**
 * α · softmax cross-entropy of the target among the candidates + (1 − α) · τ² · cross-entropy
 * from the teacher's softened distribution over the same candidates (its top items, the
 * target, shared negatives) to the student's: the gradient of KL(teacher ‖ student).
 */
export function distillLoss(
  params: Params,
  config: SasrecConfig,
  batch: IndexedBatch,
  c: BatchCandidates,
  teacherLogitsT: tf.Tensor2D,
  topK: number,
  settings: DistillLossSettings,
  dropoutSeed: number,
  /** The teacher's states at the batch's positions in the student's coordinates, [tokens, student hidden] (with a hint weight > 0). */
  hintTargets?: tf.Tensor2D,
): tf.Scalar {
  const { batch: b } = batch;
  const hidden = forward(params, config, b.items, b.batch, b.length, { training: true, dropoutSeed });
  const h = tf.gather(tf.reshape(hidden, [b.batch * b.length, config.hidden]), tf.tensor1d(c.positions, "int32")) as tf.Tensor2D;
  const width = 1 + topK + c.negatives.length;
  const mask = tf.tensor2d(c.mask, [c.tokens, width]);
  const logits = candidateLogits(h, itemTable(params), c, topK, mask);
  const positive = tf.reshape(tf.slice(logits, [0, 0], [c.tokens, 1]), [-1]);
  const groundTruth = tf.mean(tf.sub(logSumExpRows(logits), positive));
  let loss: tf.Tensor = tf.mul(groundTruth, settings.alpha);
  if (settings.alpha < 1) {
    const tau = settings.temperature;
    const soft = tf.div(logits, tau);
    const logQ = tf.sub(soft, tf.reshape(logSumExpRows(soft), [-1, 1]));
    const p = tf.softmax(tf.div(teacherLogitsT, tau));
    const kd = tf.mul(tf.mean(tf.neg(tf.sum(tf.mul(p, logQ), 1))), tau * tau);
    loss = tf.add(loss, tf.mul(kd, 1 - settings.alpha));
  }
  if (settings.hint > 0 && hintTargets) loss = tf.add(loss, tf.mul(tf.mean(tf.square(tf.sub(h, hintTargets))), settings.hint));
  return loss as tf.Scalar;
}
