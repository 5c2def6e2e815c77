import { RecshipError } from "../../errors.js";
import { DataType } from "../../onnx/proto.js";
import type { EditableGraph } from "../graph/editable-graph.js";
import { weightMatMuls, type WeightMatMul } from "../graph/patterns.js";
import { float32Tensor, int8Tensor, uint8Tensor } from "../graph/tensors.js";
import { quantizeColumnsInt8, uint8Params } from "../quant/math.js";

export interface MatMulQuantSummary {
  matmuls: number;
  /** float32 weight bytes replaced by int8 (+ scales). */
  weightBytesBefore: number;
  weightBytesAfter: number;
}

function safeName(weight: string): string {
  return weight.replace(/[^0-9A-Za-z_.]/g, "_");
}

function requireMatMuls(g: EditableGraph, method: string): WeightMatMul[] {
  const found = weightMatMuls(g);
  if (found.length === 0) {
    throw new RecshipError(`${method}: the model has no MatMul with a constant 2-D weight to quantize`, {
      fix: "drop this method: it applies to the transformer's dense layers",
    });
  }
  return found;
}

/** Stores W [K, N] as per-output-channel symmetric int8 plus float scales [N]. */
function quantizedWeight(g: EditableGraph, m: WeightMatMul): { q: string; scales: string; zero: string; bytes: number } {
  const w = g.floatInitializer(m.weight)!;
  const { q, scales } = quantizeColumnsInt8(w.values, m.rows, m.cols);
  const base = safeName(m.weight);
  return {
    q: g.addInitializer(int8Tensor(`${base}.int8`, [m.rows, m.cols], q)),
    scales: g.addInitializer(float32Tensor(`${base}.scale`, [m.cols], scales)),
    zero: g.addInitializer(int8Tensor(`${base}.zero_point`, [m.cols], new Int8Array(m.cols))),
    bytes: q.byteLength + scales.byteLength + m.cols,
  };
}

/**
 * int8-dynamic: every MatMul against a constant weight becomes
 * DynamicQuantizeLinear(x) → MatMulInteger(x_u8, W_s8) → Cast → Mul(x_scale · w_scale[N]),
 * weights per-output-channel symmetric int8, activations uint8 per tensor at run time.
 * onnxruntime fuses each chain and its bias Add into DynamicQuantizeMatMul, or, where several
 * read one input (attention's Q, K, V), quantizes the input once for MatMulIntegerToFloat
 * kernels. (Concatenating Q, K and V into one GEMM measured slower: the split costs more.)
 */
export function quantizeMatMulsDynamic(g: EditableGraph): MatMulQuantSummary {
  const found = requireMatMuls(g, "int8-dynamic");
  let before = 0;
  let after = 0;
  for (const m of found) {
    const w = quantizedWeight(g, m);
    before += m.rows * m.cols * 4;
    after += w.bytes;
    const prefix = m.node.name ?? "matmul";
    const dq = g.makeNode("DynamicQuantizeLinear", [m.input], { name: `${prefix}/quantize_input`, outputs: 3 });
    const [xq, xScale, xZero] = dq.output!;
    const mmi = g.makeNode("MatMulInteger", [xq, w.q, xZero, w.zero], { name: `${prefix}/matmul_int8` });
    const cast = g.makeNode("Cast", [mmi.output![0]], { name: `${prefix}/to_float`, attributes: { to: { int: DataType.FLOAT } } });
    const scale = g.makeNode("Mul", [xScale, w.scales], { name: `${prefix}/scale` });
    const out = g.makeNode("Mul", [cast.output![0], scale.output![0]], { name: `${prefix}/rescale`, outputs: [m.node.output![0]] });
    g.replace(m.node, [dq, mmi, cast, scale, out]);
  }
  return { matmuls: found.length, weightBytesBefore: before, weightBytesAfter: after };
}

/** Range of one activation tensor over the calibration sequences. */
export interface ActivationRange {
  min: number;
  max: number;
}

/**
 * int8-qdq: static quantization in QDQ form. The activation x gets calibrated uint8
 * parameters (QuantizeLinear → DequantizeLinear), the weight is stored int8 per output
 * channel behind a DequantizeLinear (axis 1); the MatMul itself stays. onnxruntime fuses
 * DQ → MatMul ← DQ into an integer kernel (MatMulIntegerToFloat / QLinearMatMul).
 */
export function quantizeMatMulsStatic(g: EditableGraph, ranges: Map<string, ActivationRange>): MatMulQuantSummary {
  const found = requireMatMuls(g, "int8-qdq");
  let before = 0;
  let after = 0;
  const quantizedInputs = new Map<string, string>();
  for (const m of found) {
    const range = ranges.get(m.input);
    if (!range) throw new Error(`int8-qdq: no calibrated range for ${m.input}`);
    const w = quantizedWeight(g, m);
    before += m.rows * m.cols * 4;
    after += w.bytes;
    const prefix = m.node.name ?? "matmul";
    const nodes = [];
    let xDq = quantizedInputs.get(m.input);
    if (!xDq) {
      const { scale, zeroPoint } = uint8Params(range.min, range.max);
      const s = g.addInitializer(float32Tensor(`${safeName(m.input)}.scale`, [], Float32Array.of(scale)));
      const z = g.addInitializer(uint8Tensor(`${safeName(m.input)}.zero_point`, [], Uint8Array.of(zeroPoint)));
      const q = g.makeNode("QuantizeLinear", [m.input, s, z], { name: `${prefix}/quantize_input` });
      const dq = g.makeNode("DequantizeLinear", [q.output![0], s, z], { name: `${prefix}/dequantize_input` });
      nodes.push(q, dq);
      xDq = dq.output![0];
      quantizedInputs.set(m.input, xDq);
    }
    const wDq = g.makeNode("DequantizeLinear", [w.q, w.scales, w.zero], {
      name: `${prefix}/dequantize_weight`,
      attributes: { axis: { int: 1 } },
    });
    const mm = g.makeNode("MatMul", [xDq, wDq.output![0]], { name: prefix, outputs: [m.node.output![0]] });
    g.replace(m.node, [...nodes, wDq, mm]);
  }
  return { matmuls: found.length, weightBytesBefore: before, weightBytesAfter: after };
}

/** The activations int8-qdq needs ranges for: the left inputs of the weight MatMuls. */
export function staticQuantInputs(g: EditableGraph): string[] {
  return [...new Set(weightMatMuls(g).map((m) => m.input))];
}
