import { RANK_KERNEL_WASM } from "./rank-kernel-wasm.js";

/**
 * One pass over a row of scores: the 0-based rank of the target (a count of higher scores,
 * half of the ties, as metrics.rankAmong) and the top-k items, kept sorted in place (no full
 * sort: an item enters only when it beats the current k-th score). Items scored -Infinity
 * (masked or unknown to the model) are never recommended. Equal scores: lower id first.
 */
export function rankAndTopK(
  row: Float32Array,
  targetIndex: number,
  k: number,
  topItems: Int32Array,
  offset: number,
  /** Scratch for the kept scores, length ≥ k. */
  topScores: Float32Array,
  /** When given, receives the counts the rank comes from (for the history-masked rank, without another pass). */
  counts?: { greater: number; ties: number },
): number {
  const t = row[targetIndex];
  const n = row.length;
  let greater = 0;
  let ties = 0;
  let filled = 0;
  let floor = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = row[i];
    if (s > t) greater++;
    else if (s === t) ties++;
    if (s > floor) {
      let j = filled < k ? filled : k - 1;
      while (j > 0 && topScores[j - 1] < s) {
        topScores[j] = topScores[j - 1];
        topItems[offset + j] = topItems[offset + j - 1];
        j--;
      }
      topScores[j] = s;
      topItems[offset + j] = i + 1;
      if (filled < k) filled++;
      if (filled === k) floor = topScores[k - 1];
    }
  }
  for (let j = filled; j < k; j++) {
    topItems[offset + j] = 0;
    topScores[j] = -Infinity;
  }
  if (counts) {
    counts.greater = greater;
    counts.ties = ties;
  }
  return greater + Math.floor(Math.max(0, ties - 1) / 2);
}

/** Rank of the target among sampled negatives: higher-scored negatives plus half the tied ones. */
export function sampledRank(row: Float32Array, targetIndex: number, negatives: Int32Array, start: number, count: number): number {
  const t = row[targetIndex];
  let greater = 0;
  let ties = 0;
  for (let j = start; j < start + count; j++) {
    const s = row[negatives[j] - 1];
    if (s > t) greater++;
    else if (s === t) ties++;
  }
  return greater + Math.floor(ties / 2);
}

/** rankAndTopK's signature: the target's rank, the top k written to topItems[offset ...]. */
export type RankRow = typeof rankAndTopK;

interface KernelExports {
  memory: WebAssembly.Memory;
  rankTopK(row: number, n: number, target: number, k: number, items: number, scores: number, out: number): void;
}

const WASM_PAGE = 65536;
let compiled: WebAssembly.Module | null | undefined;

/** The kernel's module, compiled once (null where WebAssembly SIMD is missing). */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(RANK_KERNEL_WASM, "base64");
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/**
 * rankAndTopK on WebAssembly SIMD (rank-kernel.wat, four scores per instruction): the same
 * ranks, counts and top lists, about four times faster on a million-item row. The row is copied
 * into the kernel's memory, which grows to the longest row seen. Falls back to rankAndTopK where
 * WebAssembly SIMD is missing.
 */
export function createRowRanker(): RankRow {
  const module = kernelModule();
  if (!module) return rankAndTopK;
  const kernel = new WebAssembly.Instance(module).exports as unknown as KernelExports;
  return (row, targetIndex, k, topItems, offset, topScores, counts) => {
    // layout: counts (2 × i32) at 0, top scores at 16, top items after them, the row 16-aligned after those
    const scoresAt = 16;
    const itemsAt = scoresAt + 4 * k;
    const rowAt = (itemsAt + 4 * k + 15) & ~15;
    const needed = rowAt + 4 * row.length;
    const memory = kernel.memory;
    if (memory.buffer.byteLength < needed) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / WASM_PAGE));
    const heap = memory.buffer;
    new Float32Array(heap, rowAt, row.length).set(row);
    kernel.rankTopK(rowAt, row.length, targetIndex, k, itemsAt, scoresAt, 0);
    topItems.set(new Int32Array(heap, itemsAt, k), offset);
    topScores.set(new Float32Array(heap, scoresAt, k));
    const [greater, ties] = new Int32Array(heap, 0, 2);
    if (counts) {
      counts.greater = greater;
      counts.ties = ties;
    }
    return greater + Math.floor(Math.max(0, ties - 1) / 2);
  };
}
