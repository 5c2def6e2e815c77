import type { TrainConfig } from "../config.js";
import { adamUpdate, shardOf, type AdamSettings, type FlatLayout } from "../flat-params.js";
import type { StepInput } from "./gradients.js";

/**
 * What one optimizer step updates. Adam moves every learned value (`dense` covers the whole flat
 * vector). Lazy Adam (TensorFlow Addons' LazyAdam) moves the item table's rows the step read and
 * leaves every other row as it was, moments included: the values outside the table are `dense`,
 * the table is `table.rows`. On a million-item catalogue that is a few thousand rows a step
 * instead of 64 million values.
 */
export interface UpdatePlan {
  /** Ranges [start, end) of the flat vector updated whole. */
  dense: [number, number][];
  /** The item table's rows to update (sorted, distinct; row 0, padding, included). */
  table?: { offset: number; width: number; rows: Int32Array };
}

/** The item table in the flat layout, when the optimizer may update it row by row. */
function itemTableEntry(layout: FlatLayout): FlatLayout["entries"][number] | undefined {
  return layout.entries.find((e) => e.name === "item_emb");
}

/** A step's updates are lazy: lazy-adam was asked for and the step is a sampled loss over a dense item table. */
function isLazyStep(train: TrainConfig, layout: FlatLayout, input: StepInput): boolean {
  return train.optimizer === "lazy-adam" && input.kind === "sasrec" && train.loss !== "ce" && itemTableEntry(layout) !== undefined;
}

/** The sorted distinct ids in `lists`, with 0 (padding) always present. */
export function distinctIds(lists: Int32Array[]): Int32Array {
  let total = 1;
  for (const l of lists) total += l.length;
  const all = new Int32Array(total); // all[0] = 0: the padding row
  let k = 1;
  for (const l of lists) {
    all.set(l, k);
    k += l.length;
  }
  all.sort();
  let n = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[n++] = all[i];
  return all.slice(0, n);
}

/** The item rows a sampled-loss step reads: its items, its targets and its negatives. */
function rowsRead(input: StepInput): Int32Array {
  if (input.kind !== "sasrec") throw new Error("only train-model's steps read item rows lazily");
  const { batch, draws } = input.input;
  return distinctIds([batch.items, batch.targets, draws.negatives]);
}

/** The plan of one step: everything (Adam), or everything but the table plus the rows read (lazy Adam). */
export function updatePlan(train: TrainConfig, layout: FlatLayout, input: StepInput): UpdatePlan {
  const table = itemTableEntry(layout);
  if (!table || !isLazyStep(train, layout, input)) return { dense: [[0, layout.total]] };
  const end = table.offset + table.size;
  const dense: [number, number][] = [];
  if (table.offset > 0) dense.push([0, table.offset]);
  if (end < layout.total) dense.push([end, layout.total]);
  return { dense, table: { offset: table.offset, width: table.shape[1], rows: rowsRead(input) } };
}

/** Rows [start, end) of `rows` for part `index` of `count`: as even as whole rows allow. */
function rowShare(rows: number, index: number, count: number): [number, number] {
  return [Math.floor((index * rows) / count), Math.floor(((index + 1) * rows) / count)];
}

/**
 * Applies one step of the plan's updates, part `index` of `count` of them (a worker's share; the
 * whole with 0 of 1): its shard of every dense range and its share of the table's rows, each
 * value by adamUpdate's arithmetic with the gradient summed over `grads`. Lazy Adam uses the
 * global step t for the bias corrections, as LazyAdam does.
 */
export function applyUpdate(
  settings: AdamSettings,
  t: number,
  plan: UpdatePlan,
  part: { index: number; count: number },
  state: { weights: Float32Array; m: Float32Array; v: Float32Array },
  grads: Float32Array[],
): void {
  const { weights, m, v } = state;
  for (const [start, end] of plan.dense) {
    const [a, b] = shardOf(end - start, part.index, part.count);
    if (b > a) adamUpdate(settings, t, [start + a, start + b], weights, m, v, grads);
  }
  if (!plan.table) return;
  const { offset, width, rows } = plan.table;
  const [first, last] = rowShare(rows.length, part.index, part.count);
  for (let r = first; r < last; r++) {
    const start = offset + rows[r] * width;
    adamUpdate(settings, t, [start, start + width], weights, m, v, grads);
  }
}
