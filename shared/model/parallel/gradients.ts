import * as tf from "@tensorflow/tfjs";
import type { SasrecConfig, TrainConfig } from "../config.js";
import type { FlatLayout } from "../flat-params.js";
import { batchLoss, sliceInput, type LossInput } from "../losses.js";
import {
  distillLoss,
  hintTargets,
  sliceDistill,
  teacherLogits,
  type DistillInput,
  type DistillSetup,
  type PreparedDistill,
} from "../distill-objective.js";
import type { Params } from "../sasrec.js";
import { readTensor } from "../backend.js";

/** What one training step needs besides the batch: the model's shape, loss settings and objective's fixed data. */
export interface StepContext {
  model: SasrecConfig;
  train: TrainConfig;
  numItems: number;
  layout: FlatLayout;
  /** A distillation's teacher data, as tensors of this thread. */
  distill?: PreparedDistill;
}

/** A global batch (or a slice) of what a step minimises: train-model's loss or a distillation's. */
export type StepInput = { kind: "sasrec"; input: LossInput } | { kind: "distill"; input: DistillInput };

export function stepRows(step: StepInput): number {
  return step.input.batch.batch;
}

/** Rows [start, end) of a step's global batch, with their share of its draws or candidates. */
export function sliceStep(step: StepInput, start: number, end: number, distill?: DistillSetup): StepInput {
  if (step.kind === "sasrec") return { kind: "sasrec", input: sliceInput(step.input, start, end) };
  if (!distill) throw new Error("a distillation step needs the distillation setup");
  return { kind: "distill", input: sliceDistill(step.input, start, end, distill.topK, distill.teacherHidden) };
}

/**
 * A lazy step's item table (lazy Adam, ./update-plan.ts): the rows the whole global batch reads,
 * and the flat weights the slice's rows are read from (the model's table variable is not kept
 * up to date between lazy steps: loading 64 M values a step is what lazy updates avoid).
 */
export interface LazyTable {
  rows: Int32Array;
  weights: Float32Array;
}

/**
 * The loss of a batch slice and its gradient, written into `out` (flat layout). A parameter the
 * loss does not reach gets zeros; on a lazy step only the global batch's table rows are written
 * (the optimizer reads no others). Returns the slice's loss (its share of the global mean).
 */
export async function sliceGradients(
  params: Params,
  ctx: StepContext,
  step: StepInput,
  out: Float32Array,
  lazy?: LazyTable,
): Promise<number> {
  const table = ctx.layout.entries.find((e) => e.name === "item_emb");
  if (stepRows(step) === 0) {
    if (lazy && table) {
      out.fill(0, 0, table.offset);
      out.fill(0, table.offset + table.size);
      zeroRows(out, table, lazy.rows);
    } else out.fill(0);
    return 0;
  }
  if (step.kind === "distill") return distillGradients(params, ctx, step.input, out);
  const input = step.input;
  if (table && ctx.train.loss !== "ce") return sparseTableGradients(params, ctx, input, out, table, lazy);
  return gradientsOf(params, ctx, (p) => batchLoss(p, ctx.model, ctx.train, input), out, new Map());
}

type TableEntry = FlatLayout["entries"][number];

/** Zeros the table's `rows` in the flat vector. */
function zeroRows(out: Float32Array, table: TableEntry, rows: Int32Array): void {
  const d = table.shape[1];
  for (const r of rows) out.fill(0, table.offset + r * d, table.offset + (r + 1) * d);
}

/** The table's `rows` as a [rows, d] tensor: from the flat weights (a lazy step) or the model's variable. */
function tableRows(params: Params, table: TableEntry, rows: Int32Array, lazy: LazyTable | undefined): tf.Tensor2D {
  if (!lazy) return tf.gather(params.get("item_emb")!, tf.tensor1d(rows, "int32")) as tf.Tensor2D;
  const d = table.shape[1];
  const values = new Float32Array(rows.length * d);
  for (let r = 0; r < rows.length; r++) {
    const start = table.offset + rows[r] * d;
    values.set(lazy.weights.subarray(start, start + d), r * d);
  }
  return tf.tensor2d(values, [rows.length, d]);
}

/** A distillation slice: the teacher's logits (and hint targets) first, off the tape, then the student's gradient. */
async function distillGradients(params: Params, ctx: StepContext, input: DistillInput, out: Float32Array): Promise<number> {
  const prepared = ctx.distill;
  if (!prepared) throw new Error("a distillation step needs the distillation setup");
  const teacher = teacherLogits(prepared, input.candidates);
  const hints = hintTargets(prepared, input.candidates);
  try {
    return await gradientsOf(params, ctx, (p) => distillLoss(p, ctx.model, input, prepared, teacher, hints), out, new Map());
  } finally {
    teacher.dispose();
    hints?.dispose();
  }
}

/**
 * tf.variableGrads of `loss` over the layout's parameters (as found in `params`), each gradient
 * copied to its place in `out`, except those named in `custom`, which write their own.
 */
async function gradientsOf(
  params: Params,
  ctx: StepContext,
  loss: (p: Params) => tf.Scalar,
  out: Float32Array,
  custom: Map<string, (g: Float32Array) => void>,
): Promise<number> {
  const vars = ctx.layout.entries.map((e) => params.get(e.name)!);
  const { value, grads } = tf.variableGrads(() => loss(params), vars);
  // asynchronous reads: WebGPU in Node cannot read synchronously (on wasm they resolve at once)
  const result = (await readTensor(value))[0];
  for (let i = 0; i < vars.length; i++) {
    const e = ctx.layout.entries[i];
    const g = grads[vars[i].name];
    const values = g ? await readTensor(g) : undefined;
    const write = custom.get(e.name);
    if (write) write(values ?? new Float32Array(0));
    else if (values) out.set(values, e.offset);
    else out.fill(0, e.offset, e.offset + e.size);
  }
  for (const g of Object.values(grads)) if (!g.isDisposed) g.dispose();
  return result;
}

/**
 * The same gradient with the item table reduced to the rows the batch reads (its items, targets
 * and negatives; row 0, padding, first): the loss runs on that small table with ids renumbered,
 * so the table's gradient costs rows × hidden instead of catalogue × hidden, and is scattered into
 * `out` here. The arithmetic is the dense path's, row for row.
 */
async function sparseTableGradients(
  params: Params,
  ctx: StepContext,
  input: LossInput,
  out: Float32Array,
  table: TableEntry,
  lazy?: LazyTable,
): Promise<number> {
  const { rows, renumber } = usedRows([input.batch.items, input.batch.targets, input.draws.negatives]);
  const local: LossInput = {
    ...input,
    batch: { ...input.batch, items: renumber(input.batch.items), targets: renumber(input.batch.targets) },
    draws: { ...input.draws, negatives: renumber(input.draws.negatives) },
  };
  const d = table.shape[1];
  const small = tf.tidy(() => tf.variable(tableRows(params, table, rows, lazy), true));
  const view: Params = new Map(params);
  view.set("item_emb", small);
  try {
    const scatter = (g: Float32Array) => {
      if (lazy) zeroRows(out, table, lazy.rows);
      else out.fill(0, table.offset, table.offset + table.size);
      for (let r = 0; r < rows.length; r++) out.set(g.subarray(r * d, (r + 1) * d), table.offset + rows[r] * d);
    };
    return await gradientsOf(view, ctx, (p) => batchLoss(p, ctx.model, ctx.train, local), out, new Map([["item_emb", scatter]]));
  } finally {
    small.dispose();
  }
}

/** The distinct ids in `lists` (0 first, always present) and a function mapping ids to their place in that list. */
function usedRows(lists: Int32Array[]): { rows: Int32Array; renumber: (ids: Int32Array) => Int32Array } {
  const place = new Map<number, number>([[0, 0]]);
  for (const list of lists) for (const id of list) if (!place.has(id)) place.set(id, place.size);
  const rows = Int32Array.from(place.keys());
  return { rows, renumber: (ids) => ids.map((id) => place.get(id)!) };
}

/** A model whose variables the flat weights are loaded into; told when they change (it keeps an output layer built from them). */
interface LoadTarget {
  params: Params;
  weightsChanged(): void;
}

/** Sets the model's item table variable to the flat vector's (after lazy steps: before scoring or a dense step). */
export function loadTable(model: LoadTarget, layout: FlatLayout, flat: Float32Array): void {
  const e = layout.entries.find((entry) => entry.name === "item_emb");
  if (!e) return;
  tf.tidy(() => model.params.get(e.name)!.assign(tf.tensor(flat.subarray(e.offset, e.offset + e.size), e.shape, "float32")));
  model.weightsChanged();
}

/** Sets the model's learned variables to the flat vector's values (but `skip`'s: a lazy step's table). */
export function loadFlat(model: LoadTarget, layout: FlatLayout, flat: Float32Array, skip?: string): void {
  for (const e of layout.entries) {
    if (e.name === skip) continue;
    const v = model.params.get(e.name)!;
    tf.tidy(() => v.assign(tf.tensor(flat.subarray(e.offset, e.offset + e.size), e.shape, "float32")));
  }
  model.weightsChanged();
}
