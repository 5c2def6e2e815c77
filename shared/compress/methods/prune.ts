import { RecshipError } from "../../errors.js";
import type { EditableGraph } from "../graph/editable-graph.js";
import { embeddingTables, weightMatMuls } from "../graph/patterns.js";
import { float32Tensor } from "../graph/tensors.js";
import { magnitudePrune } from "../quant/math.js";

export interface PruneSummary {
  sparsity: number;
  tensors: number;
  weights: number;
  zeroed: number;
}

/**
 * prune: per-tensor magnitude pruning of the dense-layer weights and the embedding tables
 * (the smallest |w| set to 0 until `sparsity` of each tensor is zero). The graph is unchanged
 * and so is a dense file's size: the saving shows in its gzip size, and zeros stay zeros
 * through int8 quantization when composed with it. No fine-tuning follows.
 */
export function pruneWeights(g: EditableGraph, sparsity: number): PruneSummary {
  if (!(sparsity > 0 && sparsity < 1)) {
    throw new RecshipError(`the pruning sparsity must be a fraction between 0 and 1, got ${sparsity}`, { fix: "for example 0.5" });
  }
  const names = new Set([...weightMatMuls(g).map((m) => m.weight), ...embeddingTables(g).map((t) => t.name)]);
  let weights = 0;
  let zeroed = 0;
  for (const name of names) {
    const f = g.floatInitializer(name)!;
    const result = magnitudePrune(f.values, sparsity);
    g.setInitializer(float32Tensor(name, f.dims, result.pruned));
    weights += f.values.length;
    zeroed += result.zeroed;
  }
  return { sparsity, tensors: names.size, weights, zeroed };
}
