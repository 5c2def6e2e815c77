import * as tf from "@tensorflow/tfjs";
import { lengthBuckets, makeBatch, type SequenceBatch } from "../../model/batches.js";
import type { SasrecConfig } from "../../model/config.js";
import { forward, itemTable, type Params } from "../../model/sasrec.js";
import type { Rng } from "../../util/random.js";

/** A training batch and the examples (indexes) it holds, in row order. */
export interface IndexedBatch {
  batch: SequenceBatch;
  examples: number[];
}

/**
 * Length-bucketed batches of at most `batchTokens` padded positions (train-model's scheme:
 * sorted by length with ties shuffled, batch order shuffled), keeping which examples went
 * where so per-example teacher data can follow them. Without `rng`: sorted, unshuffled.
 */
export function indexedBatches(examples: Int32Array[], batchTokens: number, rng?: Rng): IndexedBatch[] {
  return lengthBuckets(examples, batchTokens, rng).map((idx) => ({ batch: makeBatch(idx.map((i) => examples[i])), examples: idx }));
}

/**
 * What the teacher says about every training position, computed once (the teacher is fixed
 * and SASRec's output does not depend on the padding): its final hidden state there, and its
 * `topK` highest-scored items (the candidates its distribution puts its mass on).
 */
export interface TeacherTargets {
  hidden: number;
  topK: number;
  /** Per example: [positions × hidden] hidden states and [positions × topK] item ids, positions oldest first. */
  states: Float32Array[];
  top: Int32Array[];
}

export function teacherTargets(
  params: Params,
  config: SasrecConfig,
  numItems: number,
  examples: Int32Array[],
  options: { topK: number; batchTokens: number },
): TeacherTargets {
  const d = config.hidden;
  const k = Math.min(options.topK, numItems);
  const states: Float32Array[] = new Array(examples.length);
  const top: Int32Array[] = new Array(examples.length);
  const table = tf.tidy(() => {
    const e = itemTable(params);
    return tf.transpose(tf.slice(e, [1, 0], [numItems, d]));
  });
  try {
    for (const { batch, examples: idx } of indexedBatches(examples, options.batchTokens)) {
      const [hidden, ids] = tf.tidy(() => {
        const h = tf.reshape(forward(params, config, batch.items, batch.batch, batch.length, { training: false }), [
          batch.batch * batch.length,
          d,
        ]);
        const positions: number[] = [];
        for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i] !== 0) positions.push(i);
        const hs = tf.gather(h, tf.tensor1d(positions, "int32"));
        const scores = tf.matMul(hs, table);
        return [hs, tf.topk(scores, k, true).indices];
      });
      const hv = hidden.dataSync() as Float32Array;
      const iv = ids.dataSync() as Int32Array;
      hidden.dispose();
      ids.dispose();
      let row = 0;
      for (const e of idx) {
        const n = examples[e].length - 1;
        states[e] = hv.slice(row * d, (row + n) * d);
        const t = iv.slice(row * k, (row + n) * k);
        for (let i = 0; i < t.length; i++) t[i] += 1; // column j = item j+1
        top[e] = t;
        row += n;
      }
    }
  } finally {
    table.dispose();
  }
  return { hidden: d, topK: k, states, top };
}
