import * as tf from "@tensorflow/tfjs";
import type { SequenceBatch } from "./batches.js";
import type { SasrecConfig } from "./config.js";
import { logSumExpRows, mm } from "./ops.js";
import { forward, itemTable, type Params } from "./sasrec.js";

/**
 * Knowledge distillation's loss (compress-model trains a smaller student to match a teacher) in
 * the form data-parallel training needs: a batch slice's share of the global mean, from inputs
 * that a worker thread can receive. The candidates are built by compress/distill.
 */
interface DistillLossSettings {
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

/** What stays fixed for a whole distillation: the teacher's item table and the settings. */
export interface DistillSetup {
  settings: DistillLossSettings;
  topK: number;
  teacherHidden: number;
  /** The teacher's [items + 1, teacher hidden] item table. */
  teacherTable: Float32Array;
  /** [teacher hidden, student hidden]: the teacher's states in the student's coordinates (with a hint weight > 0). */
  hintProjection?: Float32Array;
}

/** A slice of a global distillation batch. */
export interface DistillInput {
  batch: SequenceBatch;
  rowOffset: number;
  dropoutSeed: number;
  candidates: BatchCandidates;
  /** Target positions of the whole global batch: every slice's sums are divided by it. */
  globalTokens: number;
}

/** The setup as tensors, made once per thread. */
export interface PreparedDistill {
  setup: DistillSetup;
  teacherTable: tf.Tensor2D;
  hintProjection?: tf.Tensor2D;
}

export function prepareDistill(setup: DistillSetup, studentHidden: number): PreparedDistill {
  const rows = setup.teacherTable.length / setup.teacherHidden;
  return {
    setup,
    teacherTable: tf.tensor2d(setup.teacherTable, [rows, setup.teacherHidden]),
    hintProjection: setup.hintProjection ? tf.tensor2d(setup.hintProjection, [setup.teacherHidden, studentHidden]) : undefined,
  };
}

export function disposeDistill(prepared: PreparedDistill): void {
  prepared.teacherTable.dispose();
  prepared.hintProjection?.dispose();
}

/** Rows [start, end) of a distillation batch with the candidates of their target positions. */
export function sliceDistill(whole: DistillInput, start: number, end: number, topK: number, teacherHidden: number): DistillInput {
  const { batch, candidates: c } = whole;
  const L = batch.length;
  // positions are ascending flat [row × length] indexes: the slice's tokens are one run of them
  let first = 0;
  while (first < c.tokens && c.positions[first] < start * L) first++;
  let last = first;
  while (last < c.tokens && c.positions[last] < end * L) last++;
  const width = 1 + topK + c.negatives.length;
  const rows = (a: Int32Array, w: number) => a.subarray(first * w, last * w);
  const items = batch.items.subarray(start * L, end * L);
  const targets = batch.targets.subarray(start * L, end * L);
  return {
    ...whole,
    batch: { batch: end - start, length: L, items, targets, tokens: last - first },
    rowOffset: whole.rowOffset + start,
    candidates: {
      tokens: last - first,
      positions: c.positions.subarray(first, last).map((p) => p - start * L),
      targets: rows(c.targets, 1),
      top: rows(c.top, topK),
      negatives: c.negatives,
      mask: c.mask.subarray(first * width, last * width),
      teacherStates: c.teacherStates.subarray(first * teacherHidden, last * teacherHidden),
    },
  };
}

/** Scores of every candidate, [tokens, 1 + topK + negatives], for hidden states h against a table. */
function candidateLogits(h: tf.Tensor2D, table: tf.Tensor, c: BatchCandidates, k: number, mask: tf.Tensor2D): tf.Tensor2D {
  const positive = tf.sum(tf.mul(h, tf.gather(table, tf.tensor1d(c.targets, "int32"))), 1, true);
  const topRows = tf.gather(table, tf.tensor2d(c.top, [c.tokens, k], "int32")); // [T, K, d]
  const top = tf.sum(tf.mul(tf.expandDims(h, 1), topRows), 2);
  const negative = mm(h, tf.transpose(tf.gather(table, tf.tensor1d(c.negatives, "int32"))));
  return tf.add(tf.concat([positive, top, negative], 1), mask) as tf.Tensor2D;
}

/** Teacher logits over a slice's candidates (no gradient), from the stored teacher states. */
export function teacherLogits(prepared: PreparedDistill, c: BatchCandidates): tf.Tensor2D {
  const { topK, teacherHidden } = prepared.setup;
  return tf.tidy(() => {
    const mask = tf.tensor2d(c.mask, [c.tokens, 1 + topK + c.negatives.length]);
    const h = tf.tensor2d(c.teacherStates, [c.tokens, teacherHidden]);
    return candidateLogits(h, prepared.teacherTable, c, topK, mask);
  });
}

/** The teacher's states at a slice's positions in the student's coordinates, for the hint. */
export function hintTargets(prepared: PreparedDistill, c: BatchCandidates): tf.Tensor2D | undefined {
  const projection = prepared.hintProjection;
  if (!projection || prepared.setup.settings.hint <= 0) return undefined;
  return tf.tidy(() => tf.matMul(tf.tensor2d(c.teacherStates, [c.tokens, prepared.setup.teacherHidden]), projection) as tf.Tensor2D);
}

/**
 * α · softmax cross-entropy of the target among the candidates + (1 − α) · τ² · cross-entropy
 * from the teacher's softened distribution over the same candidates (its top items, the
 * target, shared negatives) to the student's (the gradient of KL(teacher ‖ student)), plus the
 * hint; each term a sum over the slice's positions divided by the global batch's count.
 */
export function distillLoss(
  params: Params,
  config: SasrecConfig,
  input: DistillInput,
  prepared: PreparedDistill,
  teacherLogitsT: tf.Tensor2D,
  hints?: tf.Tensor2D,
): tf.Scalar {
  const { batch: b, candidates: c } = input;
  const { settings, topK } = prepared.setup;
  const n = input.globalTokens;
  const hidden = forward(params, config, b.items, b.batch, b.length, {
    training: true,
    dropoutSeed: input.dropoutSeed,
    rowOffset: input.rowOffset,
  });
  const h = tf.gather(tf.reshape(hidden, [b.batch * b.length, config.hidden]), tf.tensor1d(c.positions, "int32")) as tf.Tensor2D;
  const mask = tf.tensor2d(c.mask, [c.tokens, 1 + topK + c.negatives.length]);
  const logits = candidateLogits(h, itemTable(params), c, topK, mask);
  const positive = tf.reshape(tf.slice(logits, [0, 0], [c.tokens, 1]), [-1]);
  const groundTruth = tf.div(tf.sum(tf.sub(logSumExpRows(logits), positive)), n);
  let loss: tf.Tensor = tf.mul(groundTruth, settings.alpha);
  if (settings.alpha < 1) {
    const tau = settings.temperature;
    const soft = tf.div(logits, tau);
    const logQ = tf.sub(soft, tf.reshape(logSumExpRows(soft), [-1, 1]));
    const p = tf.softmax(tf.div(teacherLogitsT, tau));
    const kd = tf.mul(tf.div(tf.sum(tf.neg(tf.sum(tf.mul(p, logQ), 1))), n), tau * tau);
    loss = tf.add(loss, tf.mul(kd, 1 - settings.alpha));
  }
  if (hints) loss = tf.add(loss, tf.mul(tf.div(tf.sum(tf.square(tf.sub(h, hints))), n * config.hidden), settings.hint));
  return loss as tf.Scalar;
}
