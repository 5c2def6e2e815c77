import { runTrainModel } from "../train-model/run.js";
import { runConvertOnnx } from "../convert-onnx/run.js";

/** The umbrella action's steps: the same run functions as the per-action entries. */
export const STEPS: Record<string, () => Promise<void>> = {
  train: runTrainModel,
  convert: runConvertOnnx,
};
