import type { BackendPreference } from "../backend.js";
import type { SasrecConfig, TrainConfig } from "../config.js";
import type { AdamSettings, FlatLayout } from "../flat-params.js";
import type { DistillSetup } from "../distill-objective.js";
import type { StepInput } from "./gradients.js";
import type { UpdatePlan } from "./update-plan.js";

/** What a training worker thread starts with (structured-cloned; the buffers are shared, not copied). */
export interface TrainWorkerData {
  recshipEntry: "train-worker";
  index: number;
  workers: number;
  backend: BackendPreference;
  model: SasrecConfig;
  train: TrainConfig;
  numItems: number;
  layout: FlatLayout;
  adam: AdamSettings;
  /** Values of the parameters the optimizer does not move (a quantized table's codes). */
  fixed: [string, Float32Array][];
  /** A distillation's teacher data (steps of kind "distill"). */
  distill?: DistillSetup;
  shared: SharedBuffers;
}

/** Float32 [total] each, but `grads`: [workers × total]; `control`: the barrier's Int32 [3]. */
export interface SharedBuffers {
  weights: SharedArrayBuffer;
  m: SharedArrayBuffer;
  v: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export type ToTrainWorker =
  /** `learningRate`: Adam's for this step (a schedule may lower it during training); `plan`: what it updates (every worker its share). */
  | { type: "step"; t: number; learningRate: number; input: StepInput; plan: UpdatePlan }
  /** The shared weights were replaced (a resumed checkpoint): load them. */
  | { type: "sync" }
  | { type: "score"; id: number; histories: Int32Array[] };

export type FromTrainWorker =
  | { type: "ready"; backend: string }
  | { type: "stepped"; loss: number }
  | { type: "synced" }
  | { type: "scored"; id: number; scores: Float32Array }
  | { type: "log"; level: "info" | "warn"; message: string }
  /** `user`: a RecshipError (bad input), whose message already says where and how to fix. */
  | { type: "failed"; message: string; stack?: string; user: boolean };
