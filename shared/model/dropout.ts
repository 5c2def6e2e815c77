import * as tf from "@tensorflow/tfjs";

/**
 * Dropout whose mask is a pure function of (seed, site, element's index in the global batch),
 * so a batch cut into row slices on several workers drops exactly the elements the whole batch
 * would drop on one: data-parallel steps equal one-worker steps. tf.dropout draws its mask
 * from one random stream over the tensor's shape, which a slice cannot reproduce.
 */
export interface DropoutKey {
  seed: number;
  /** The first row of this slice in the global batch (0 for a whole batch). */
  rowOffset: number;
}

/** One round of lowbias32 (C. Wellons' integer hash): a well-mixed 32-bit value of x. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The mask for `size` elements of a [rows, …] tensor whose first row is global row `rowOffset`:
 * element i keeps (value 1 / keep) when hash(seed, site, global index) falls below keep, else 0.
 */
export function dropoutMask(key: DropoutKey, site: number, size: number, rows: number, rate: number): Float32Array {
  const keep = 1 - rate;
  const scale = 1 / keep;
  const threshold = Math.floor(keep * 2 ** 32);
  const base = mix32(key.seed ^ mix32(site + 0x9e3779b9));
  const start = key.rowOffset * (size / rows);
  const mask = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    // a site holds at most batch tokens × width elements: far below 2^32
    const h = mix32(base ^ mix32(start + i));
    mask[i] = h < threshold ? scale : 0;
  }
  return mask;
}

/** A dropout function for one forward pass: each call is the next site, in call order. */
export function hashedDropout(key: DropoutKey | undefined, rate: number, rows: number): (x: tf.Tensor) => tf.Tensor {
  let site = 0;
  return (x) => {
    if (!key || rate <= 0) return x;
    const mask = dropoutMask(key, site++, x.size, rows, rate);
    return tf.mul(x, tf.tensor(mask, x.shape, "float32"));
  };
}
