import * as tf from "@tensorflow/tfjs";
import type { QuantizedItemTable } from "../../model/config.js";
import { Rng } from "../../util/random.js";

/** Points assigned per tfjs distance computation (bounds the [points, centroids] matrix). */
const CHUNK = 4096;

/**
 * k-means (Lloyd) on `count` points of `dim` values: seeded start from distinct points, then
 * `iterations` rounds of nearest-centroid assignment (squared distance, computed as a tfjs
 * matrix product) and centroid update; an emptied centroid restarts at the point it fits worst.
 * Written here because the distance step must run on the tfjs backend (wasm SIMD) to take
 * seconds instead of minutes for 12k items × 2048 centroids; JS k-means packages loop in JS.
 */
export function kMeans(
  points: Float32Array,
  count: number,
  dim: number,
  k: number,
  iterations: number,
  rng: Rng,
): { centroids: Float32Array; assignment: Int32Array; error: number } {
  const centroids = new Float32Array(k * dim);
  const picks = new Set<number>();
  for (let j = 0; j < k; j++) {
    let p = rng.int(count);
    for (let tries = 0; picks.has(p) && tries < 10; tries++) p = rng.int(count);
    picks.add(p);
    centroids.set(points.subarray(p * dim, (p + 1) * dim), j * dim);
  }
  const assignment = new Int32Array(count);
  const distance = new Float32Array(count);
  const all = tf.tensor2d(points, [count, dim]);
  try {
    for (let it = 0; it <= iterations; it++) {
      const c = tf.tensor2d(centroids, [k, dim]);
      const cNorm = tf.sum(tf.square(c), 1);
      for (let start = 0; start < count; start += CHUNK) {
        const rows = Math.min(CHUNK, count - start);
        const [best, bestDistance] = tf.tidy(() => {
          const x = tf.slice(all, [start, 0], [rows, dim]);
          const d2 = tf.add(tf.sub(tf.reshape(tf.sum(tf.square(x), 1), [-1, 1]), tf.mul(tf.matMul(x, c, false, true), 2)), cNorm);
          return [tf.argMin(d2, 1), tf.min(d2, 1)];
        });
        assignment.set(best.dataSync() as Int32Array, start);
        distance.set(bestDistance.dataSync() as Float32Array, start);
        best.dispose();
        bestDistance.dispose();
      }
      c.dispose();
      cNorm.dispose();
      if (it === iterations) break;
      const sums = new Float64Array(k * dim);
      const sizes = new Int32Array(k);
      for (let i = 0; i < count; i++) {
        const j = assignment[i];
        sizes[j]++;
        for (let q = 0; q < dim; q++) sums[j * dim + q] += points[i * dim + q];
      }
      for (let j = 0; j < k; j++) {
        if (sizes[j] > 0) {
          for (let q = 0; q < dim; q++) centroids[j * dim + q] = sums[j * dim + q] / sizes[j];
        } else {
          let worst = 0;
          for (let i = 1; i < count; i++) if (distance[i] > distance[worst]) worst = i;
          distance[worst] = 0;
          centroids.set(points.subarray(worst * dim, (worst + 1) * dim), j * dim);
        }
      }
    }
  } finally {
    all.dispose();
  }
  let error = 0;
  for (let i = 0; i < count; i++) error += Math.max(0, distance[i]);
  return { centroids, assignment, error };
}

/**
 * A product-quantized table fitted to a dense one: per subspace (a slice of hidden / subspaces
 * columns), k-means on the items' slices gives the codewords and each item's code. Returns the
 * two tensors and the share of the table's energy (sum of squares) the codewords keep.
 */
export function quantizedTableFromDense(
  dense: Float32Array,
  numItems: number,
  hidden: number,
  table: QuantizedItemTable,
  options: { iterations: number; seed: number },
): { values: Map<string, Float32Array>; energyKept: number } {
  const { subspaces, centroids: k } = table;
  const width = hidden / subspaces;
  const codebooks = new Float32Array(subspaces * k * width);
  const codes = new Float32Array((numItems + 1) * subspaces);
  const rng = new Rng(`pq:${options.seed}`);
  let error = 0;
  let energy = 0;
  for (let i = hidden; i < (numItems + 1) * hidden; i++) energy += dense[i] * dense[i];
  const slice = new Float32Array(numItems * width);
  for (let m = 0; m < subspaces; m++) {
    for (let i = 0; i < numItems; i++) {
      slice.set(dense.subarray((i + 1) * hidden + m * width, (i + 1) * hidden + (m + 1) * width), i * width);
    }
    const fit = kMeans(slice, numItems, width, Math.min(k, numItems), options.iterations, rng);
    codebooks.set(fit.centroids, m * k * width);
    error += fit.error;
    // item 0 (padding) takes codeword 0; its row is never scored
    codes[m] = m * k;
    for (let i = 0; i < numItems; i++) codes[(i + 1) * subspaces + m] = m * k + fit.assignment[i];
  }
  return {
    values: new Map([
      ["item_codebooks", codebooks],
      ["item_codes", codes],
    ]),
    energyKept: energy > 0 ? Math.max(0, 1 - error / energy) : 1,
  };
}
