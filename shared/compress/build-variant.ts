import type { OnnxProto } from "../onnx/proto.js";
import { calibrate, type CalibrationMethod } from "./calibration.js";
import { EditableGraph } from "./graph/editable-graph.js";
import { quantizeEmbeddingsInt4, quantizeEmbeddingsInt8 } from "./methods/embedding.js";
import { storeFloat16 } from "./methods/fp16.js";
import { quantizeMatMulsDynamic, quantizeMatMulsStatic, staticQuantInputs, type ActivationRange } from "./methods/matmul-int8.js";
import { pruneWeights } from "./methods/prune.js";
import type { Method } from "./variants.js";

export interface BuildSettings {
  /** Real validation histories calibration samples from. */
  calibrationHistories: Int32Array[];
  calibrationSize: number;
  /** Central share of activations the percentile calibration keeps, in % (e.g. 99.99). */
  percentile: number;
  maxlen: number;
  seed: number;
  int4BlockSize: number;
  int4AccuracyLevel: number;
  sparsity: number;
}

export interface CalibrationRecord {
  method: CalibrationMethod;
  sequences: number;
  seed: number;
  percentile?: number;
  /** Activation → [min, max] used. */
  ranges: Record<string, [number, number]>;
}

export interface BuiltVariant {
  model: OnnxProto.IModelProto;
  /** Per method: what it changed (tensor counts, bytes before/after). */
  details: Record<string, unknown>;
  calibration?: CalibrationRecord;
}

/**
 * Applies the graph methods of a variant (everything but distill, which makes the source
 * model) to a copy of `source`, in order: prune, embedding quantization, dense-layer
 * quantization (static ones calibrated on the graph as it is at that point), fp16.
 */
export async function buildVariant(source: OnnxProto.IModelProto, methods: Method[], settings: BuildSettings): Promise<BuiltVariant> {
  const g = new EditableGraph(source);
  const details: Record<string, unknown> = {};
  let calibration: CalibrationRecord | undefined;
  for (const method of methods) {
    switch (method) {
      case "distill":
        break;
      case "prune":
        details.prune = pruneWeights(g, settings.sparsity);
        break;
      case "emb-int8":
        details["emb-int8"] = quantizeEmbeddingsInt8(g);
        break;
      case "emb-int4":
        details["emb-int4"] = quantizeEmbeddingsInt4(g, { blockSize: settings.int4BlockSize, accuracyLevel: settings.int4AccuracyLevel });
        break;
      case "int8-dynamic":
        details["int8-dynamic"] = quantizeMatMulsDynamic(g);
        break;
      case "int8-qdq":
      case "int8-qdq-pct": {
        const kind: CalibrationMethod = method === "int8-qdq" ? "minmax" : "percentile";
        const inputs = staticQuantInputs(g);
        const result = await calibrate(g, inputs, settings.calibrationHistories, {
          size: settings.calibrationSize,
          seed: settings.seed,
          maxlen: settings.maxlen,
          percentile: settings.percentile,
        });
        const ranges = new Map<string, ActivationRange>();
        for (const [name, r] of result.ranges) ranges.set(name, kind === "minmax" ? r.minmax : r.percentile);
        details[method] = quantizeMatMulsStatic(g, ranges);
        calibration = {
          method: kind,
          sequences: result.sequences,
          seed: settings.seed,
          ...(kind === "percentile" ? { percentile: settings.percentile } : {}),
          ranges: Object.fromEntries([...ranges].map(([k, r]) => [k, [r.min, r.max]])),
        };
        break;
      }
      case "fp16":
        details.fp16 = storeFloat16(g);
        break;
    }
  }
  return { model: g.toModel(), details, ...(calibration ? { calibration } : {}) };
}
