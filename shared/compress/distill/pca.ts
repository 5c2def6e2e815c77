/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations (n up to a few hundred:
 * the hidden size). Returns eigenvalues in descending order and the matching unit eigenvectors
 * as the columns of an n×n row-major matrix.
 */
function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p];
          const akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k];
          const aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y * n + y] - m[x * n + x]);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) order.forEach((col, j) => (vectors[r * n + j] = v[r * n + col]));
  return { values, vectors };
}

/**
 * The `k` leading principal directions of a table's rows (uncentered: the directions that
 * keep dot products, which is what scores are), as a [cols, k] projection, and the share of
 * the table's energy they keep.
 */
export function principalProjection(
  table: Float32Array,
  rows: number,
  cols: number,
  k: number,
): { projection: Float32Array; energy: number } {
  const gram = new Float64Array(cols * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) {
      const x = table[o + i];
      if (x === 0) continue;
      for (let j = i; j < cols; j++) gram[i * cols + j] += x * table[o + j];
    }
  }
  for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) gram[i * cols + j] = gram[j * cols + i];
  const { values, vectors } = symmetricEigen(gram, cols);
  const projection = new Float32Array(cols * k);
  for (let i = 0; i < cols; i++) for (let j = 0; j < k; j++) projection[i * k + j] = vectors[i * cols + j];
  const total = values.reduce((a, b) => a + Math.max(0, b), 0);
  const kept = values.slice(0, k).reduce((a, b) => a + Math.max(0, b), 0);
  return { projection, energy: total > 0 ? kept / total : 1 };
}

/** rows × [cols] · [cols, k] → rows × [k]. */
export function project(table: Float32Array, rows: number, cols: number, projection: Float32Array, k: number): Float32Array {
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const x = table[r * cols + i];
      if (x === 0) continue;
      for (let j = 0; j < k; j++) out[r * k + j] += x * projection[i * k + j];
    }
  }
  return out;
}
