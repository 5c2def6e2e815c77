import * as tf from "@tensorflow/tfjs";

/**
 * Matrix products whose forward and backward passes use only the non-transposed
 * kernel. The wasm backend runs A·B through XNNPACK (~16 GFLOP/s on one core here) but
 * A·Bᵀ and Aᵀ·B through a generic path 8x slower, and tfjs's own MatMul gradient uses
 * exactly those. Transposing the smaller operand explicitly is cheap.
 */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

const matMulNN = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      const g = dy as tf.Tensor;
      return [tf.matMul(g as tf.Tensor3D, swapLast(sb) as tf.Tensor3D), tf.matMul(swapLast(sa) as tf.Tensor3D, g as tf.Tensor3D)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/** a·b for rank-2 or batched rank-3/4 tensors with equal batch dimensions. */
export function mm<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  return matMulNN(a, b) as T;
}

/** log Σ exp over the last axis of [rows, n], with the softmax as its gradient (no one-hot, no extra passes). */
export const logSumExpRows = tf.customGrad(((logits: tf.Tensor, save: tf.GradSaveFunc) => {
  const m = tf.max(logits, 1, true);
  const value = tf.add(tf.log(tf.sum(tf.exp(tf.sub(logits, m)), 1, true)), m);
  save([logits, value]);
  return {
    value: tf.reshape(value, [-1]),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [l, v] = saved;
      return tf.mul(tf.exp(tf.sub(l, v)), tf.reshape(dy as tf.Tensor, [-1, 1]));
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axis, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
}

/** GELU, exact form 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
