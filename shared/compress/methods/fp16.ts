import { DataType, type OnnxProto } from "../../onnx/proto.js";
import type { EditableGraph } from "../graph/editable-graph.js";
import { dimsOf, float16Tensor } from "../graph/tensors.js";

const FP16_MAX = 65504;
/** Smaller constants (scalars, shapes) stay float32: nothing to gain. */
const MIN_ELEMENTS = 16;
/**
 * Constants the graph derives from the config, not learned weights (the frequency filter's
 * low-pass table, shared/onnx/sasrec-graph.ts): kept exact, so fp16 changes the weights only.
 */
const DERIVED_CONSTANTS = new Set(["filter_weight_table"]);

export interface Fp16Summary {
  tensors: number;
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * fp16: float32 weights stored as float16, each behind a Cast back to float32. The CPU
 * provider computes in float32 (onnxruntime folds the constant Casts at load), so this saves
 * disk and download, not compute; values are rounded to fp16 precision. Tensors with values
 * outside the fp16 range (e.g. -1e9 mask constants) stay float32.
 */
export function storeFloat16(g: EditableGraph): Fp16Summary {
  let tensors = 0;
  let before = 0;
  let after = 0;
  const casts: OnnxProto.INodeProto[] = [];
  for (const [name, t] of [...g.initializers.entries()]) {
    if (t.dataType !== DataType.FLOAT || DERIVED_CONSTANTS.has(name)) continue;
    const f = g.floatInitializer(name)!;
    if (f.values.length < MIN_ELEMENTS || f.values.some((v) => !Number.isFinite(v) || Math.abs(v) > FP16_MAX)) continue;
    if (g.consumers(name).length === 0) continue;
    const stored = g.addInitializer(float16Tensor(`${name}.fp16`, dimsOf(t), f.values));
    const cast = g.makeNode("Cast", [stored], { name: `${name}/to_float`, attributes: { to: { int: DataType.FLOAT } } });
    g.rewire(name, cast.output![0]);
    casts.push(cast);
    tensors++;
    before += f.values.length * 4;
    after += f.values.length * 2;
  }
  g.insertBefore(g.nodes[0], casts);
  return { tensors, bytesBefore: before, bytesAfter: after };
}
