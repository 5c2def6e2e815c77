/**
 * The quantization arithmetic, free of ONNX: what each method stores and the float values
 * those stored numbers stand for (the "dequantized reference" tests compare onnxruntime with).
 */

/**
 * The largest stored int8 weight: 63, not 127 (7 bits of magnitude, onnxruntime's "reduce_range").
 * On x86 CPUs without VNNI, MLAS's u8·s8 integer kernels (MatMulInteger, the QDQ MatMul fusion)
 * add two adjacent uint8·int8 products in 16 bits with saturation (vpmaddubsw): 2·255·127 = 64,770
 * overflows 32,767 and silently clips the sum, while 2·255·63 = 32,130 never does. The bundle is
 * compressed on one machine and served on others, so every int8 weight keeps the safe range.
 */
export const INT8_WEIGHT_MAX = 63;

/** Symmetric int8 of one group: scale = max|x| / INT8_WEIGHT_MAX, q = round(x / scale) within ±INT8_WEIGHT_MAX. */
function symmetricScale(maxAbs: number): number {
  return maxAbs > 0 ? maxAbs / INT8_WEIGHT_MAX : 1;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** A weight's stored int8 at `scale`: rounded, within ±INT8_WEIGHT_MAX. */
function int8Of(v: number, scale: number): number {
  return clamp(Math.round(v / scale), -INT8_WEIGHT_MAX, INT8_WEIGHT_MAX);
}

export interface Int8Quantized {
  q: Int8Array;
  /** One scale per column (per-channel weights) or per row (embedding tables). */
  scales: Float32Array;
}

/** Per-output-channel symmetric int8 of a MatMul weight [rows = in, cols = out]: one scale per column. */
export function quantizeColumnsInt8(w: Float32Array, rows: number, cols: number): Int8Quantized {
  const maxAbs = new Float32Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) maxAbs[c] = Math.max(maxAbs[c], Math.abs(w[r * cols + c]));
  const scales = Float32Array.from(maxAbs, symmetricScale);
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) q[r * cols + c] = int8Of(w[r * cols + c], scales[c]);
  return { q, scales };
}

/** Row-wise symmetric int8 of a table [rows, cols]: one scale per row. Scales can be rounded first (fp16 storage). */
export function quantizeRowsInt8(
  w: Float32Array,
  rows: number,
  cols: number,
  roundScale: (s: Float32Array) => Float32Array = (s) => s,
): Int8Quantized {
  const raw = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    raw[r] = symmetricScale(m);
  }
  // q is clamped, so a scale rounded slightly down (fp16 storage) still maps the row into range
  const scales = roundScale(raw);
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) q[r * cols + c] = int8Of(w[r * cols + c], scales[r]);
  return { q, scales };
}

export function dequantizeColumns(q: Int8Array, scales: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = q[r * cols + c] * scales[c];
  return out;
}

export function dequantizeRows(q: Int8Array, scales: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = q[r * cols + c] * scales[r];
  return out;
}

export interface Int4Blocks {
  /** Nibbles q + 8 (q in [-8, 7]), two a byte, the first in the low nibble; rows padded to whole blocks. */
  packed: Uint8Array;
  /** [rows, blocksPerRow]; may be negative (see quantizeRowBlocksInt4). */
  scales: Float32Array;
  blocksPerRow: number;
  blockSize: number;
}

/**
 * Symmetric 4-bit block quantization along rows, in com.microsoft's MatMulNBits /
 * GatherBlockQuantized layout with their default zero point 8 (so no zero points are stored).
 * Per block of `blockSize` values of a row, the value m of largest magnitude sets
 * scale = m / −8, so m itself is exact and the block uses all 16 levels (MLAS's scheme);
 * q = clamp(round(x / scale), −8, 7), stored as the nibble q + 8.
 */
export function quantizeRowBlocksInt4(
  w: Float32Array,
  rows: number,
  cols: number,
  blockSize: number,
  roundScale: (s: Float32Array) => Float32Array = (s) => s,
): Int4Blocks {
  const blocksPerRow = Math.ceil(cols / blockSize);
  const rawScales = new Float32Array(rows * blocksPerRow);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocksPerRow; b++) {
      let m = 0;
      for (let c = b * blockSize; c < Math.min(cols, (b + 1) * blockSize); c++)
        if (Math.abs(w[r * cols + c]) > Math.abs(m)) m = w[r * cols + c];
      rawScales[r * blocksPerRow + b] = m !== 0 ? m / -8 : 1;
    }
  }
  const scales = roundScale(rawScales);
  const paddedCols = blocksPerRow * blockSize;
  const packed = new Uint8Array((rows * paddedCols) / 2);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < paddedCols; c++) {
      const q = c < cols ? clamp(Math.round(w[r * cols + c] / scales[r * blocksPerRow + Math.floor(c / blockSize)]), -8, 7) : 0;
      const i = r * paddedCols + c;
      packed[i >> 1] |= i & 1 ? (q + 8) << 4 : q + 8;
    }
  }
  return { packed, scales, blocksPerRow, blockSize };
}

/** The float table a 4-bit block quantization stands for, [rows, cols]. */
export function dequantizeRowBlocksInt4(b: Int4Blocks, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const paddedCols = b.blocksPerRow * b.blockSize;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * paddedCols + c;
      const nibble = i & 1 ? b.packed[i >> 1] >> 4 : b.packed[i >> 1] & 15;
      out[r * cols + c] = (nibble - 8) * b.scales[r * b.blocksPerRow + Math.floor(c / b.blockSize)];
    }
  }
  return out;
}

/** uint8 asymmetric activation parameters for a range (widened to include 0, as ONNX requires). */
export function uint8Params(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  return { scale, zeroPoint: clamp(Math.round(-lo / scale), 0, 255) + 0 }; // + 0: never -0
}

/** What QuantizeLinear → DequantizeLinear does to x (uint8, round half to even as ONNX specifies). */
export function fakeQuantizeUint8(x: number, scale: number, zeroPoint: number): number {
  const v = x / scale;
  const r = Math.round(v);
  const even = Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
  return (clamp(even + zeroPoint, 0, 255) - zeroPoint) * scale;
}

/** Sets the smallest-magnitude `sparsity` fraction of `w` to zero; returns the pruned copy and the count zeroed. */
export function magnitudePrune(w: Float32Array, sparsity: number): { pruned: Float32Array; zeroed: number } {
  const k = Math.floor(w.length * sparsity);
  const pruned = Float32Array.from(w);
  if (k <= 0) return { pruned, zeroed: 0 };
  const magnitudes = Float32Array.from(w, Math.abs).sort();
  const threshold = magnitudes[k - 1];
  // everything below the k-th smallest magnitude, then ties at it in index order, until k are zero
  let zeroed = 0;
  for (let i = 0; i < w.length; i++) {
    if (Math.abs(w[i]) < threshold) {
      pruned[i] = 0;
      zeroed++;
    }
  }
  for (let i = 0; i < w.length && zeroed < k; i++) {
    if (Math.abs(w[i]) === threshold) {
      pruned[i] = 0;
      zeroed++;
    }
  }
  return { pruned, zeroed };
}
