import * as tf from "@tensorflow/tfjs";
import type { SasrecConfig, TrainConfig } from "../config.js";
import type { FlatLayout } from "../flat-params.js";
import { batchLoss, type LossInput } from "../losses.js";
import type { Params } from "../sasrec.js";

/** What one training step needs besides the batch: the model's shape and loss settings. */
export interface StepContext {
  model: SasrecConfig;
  train: TrainConfig;
  numItems: number;
  layout: FlatLayout;
}

/**
 * The loss of a batch slice and its gradient, written into `out` (flat layout). A parameter the
 * loss does not reach gets zeros. Returns the slice's loss (its share of the global mean).
 */
export function sliceGradients(params: Params, ctx: StepContext, input: LossInput, out: Float32Array): number {
  if (input.batch.batch === 0) {
    out.fill(0);
    return 0;
  }
  const vars = ctx.layout.entries.map((e) => params.get(e.name)!);
  const { value, grads } = tf.variableGrads(() => batchLoss(params, ctx.model, ctx.train, ctx.numItems, input), vars);
  const loss = value.dataSync()[0];
  value.dispose();
  ctx.layout.entries.forEach((e, i) => {
    const g = grads[vars[i].name];
    if (g) out.set(g.dataSync() as Float32Array, e.offset);
    else out.fill(0, e.offset, e.offset + e.size);
  });
  for (const g of Object.values(grads)) g.dispose();
  return loss;
}

/** Sets the model's learned variables to the flat vector's values. */
export function loadFlat(params: Params, layout: FlatLayout, flat: Float32Array): void {
  for (const e of layout.entries) {
    const v = params.get(e.name)!;
    tf.tidy(() => v.assign(tf.tensor(flat.subarray(e.offset, e.offset + e.size), e.shape, "float32")));
  }
}
