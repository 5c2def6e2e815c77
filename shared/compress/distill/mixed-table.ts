import type { SasrecConfig } from "../../model/config.js";
import { principalProjection, project } from "./pca.js";

/** Item ids 1..numItems, most frequent in the sequences first (ties: lower id first). */
export function itemsByFrequency(sequences: Int32Array[], numItems: number): Int32Array {
  const counts = new Float64Array(numItems + 1);
  for (const s of sequences) for (const item of s) if (item > 0 && item <= numItems) counts[item]++;
  const order = Int32Array.from({ length: numItems }, (_, i) => i + 1);
  return order.sort((a, b) => counts[b] - counts[a] || a - b);
}

/** The share of the sequences' interactions that fall on the first `head` items of an order. */
export function headCoverage(sequences: Int32Array[], order: Int32Array, head: number): number {
  const isHead = new Uint8Array(order.length + 1);
  for (let i = 0; i < head; i++) isHead[order[i]] = 1;
  let hits = 0;
  let total = 0;
  for (const s of sequences) {
    for (const item of s) {
      if (item <= 0) continue;
      total++;
      hits += isHead[item];
    }
  }
  return total > 0 ? hits / total : 0;
}

/**
 * A mixed item table that starts as close to a dense teacher table as its shape allows: the
 * head (the most frequent items) keeps the teacher's rows exactly; the tail's rows are the
 * teacher's projected onto their `tailDim` leading principal directions, with the projection's
 * transpose as item_emb_proj, so tail · proj is the teacher's tail at that rank.
 * Returns the four tensors and the share of the tail's energy the rank keeps.
 */
export function mixedTableFromDense(
  dense: Float32Array,
  numItems: number,
  hidden: number,
  table: NonNullable<SasrecConfig["itemTable"]>,
  order: Int32Array,
): { values: Map<string, Float32Array>; tailEnergy: number } {
  const { headItems: head, tailDim: r } = table;
  const d = hidden;
  const rows = new Float32Array(numItems + 1);
  const headValues = new Float32Array((head + 1) * d);
  const tailDense = new Float32Array((numItems - head) * d);
  for (let j = 0; j < numItems; j++) {
    const item = order[j];
    const source = dense.subarray(item * d, (item + 1) * d);
    if (j < head) {
      rows[item] = j + 1;
      headValues.set(source, (j + 1) * d);
    } else {
      rows[item] = head + 1 + (j - head);
      tailDense.set(source, (j - head) * d);
    }
  }
  const { projection, energy } = principalProjection(tailDense, numItems - head, d, r);
  const tail = project(tailDense, numItems - head, d, projection, r);
  const proj = new Float32Array(r * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) proj[k * d + i] = projection[i * r + k];
  const values = new Map<string, Float32Array>([
    ["item_emb_head", headValues],
    ["item_emb_tail", tail],
    ["item_emb_proj", proj],
    ["item_rows", rows],
  ]);
  return { values, tailEnergy: energy };
}
