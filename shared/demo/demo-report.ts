import type { MonitorReport } from "../canary/report.js";
import type { CompressReport, Objective } from "../compress/report.js";
import type { ConvertReport } from "../convert/convert-bundle.js";
import type { DataReport } from "../data/quality/validate-log.js";
import type { TrainReport } from "../train/train-model.js";
import type { DeploySection, TrafficSection } from "./canary-stage.js";
import type { PromotedModel } from "./demo-state.js";
import type { ExplanationsSection } from "./explain-stage.js";
import type { GateSection } from "./model-stages.js";

/** The demo's settings, every default filled in. */
export interface DemoSettings {
  /** Synthetic shoppers in the generated shop (its users). */
  users: number;
  epochs: number;
  /** Training time budget. */
  maxMinutes: number;
  /** compress-model variants. */
  methods: string[];
  /** compress-model budget: largest relative loss of validation NDCG@10. */
  maxNdcgDrop: number;
  objective: Objective;
  /** monitor-canary weights in percent (a final 100 is the promotion). */
  steps: number[];
  intervalSeconds: number;
  /** Most analysis intervals (default: steps below 100 + 4). */
  maxIntervals?: number;
  /** Longest wait for both servers' metrics before the first interval. */
  warmupSeconds: number;
  /** monitor-canary checks: built-in overrides as inline YAML or a file (see loadChecks). */
  checks: string;
  /** Simulated shoppers' recommendation requests per second. */
  rate: number;
  /** Recommendations pinned to each fresh server before the analysis. */
  warmupRequests: number;
  seed: number;
}

/**
 * promoted: the canary passed every critical check and now serves; rolled_back: a critical
 * check failed; held: the analysis could not decide (the demo stops the held canary with the
 * rest); blocked: an earlier step refused the model (parity, compression budget, the gate)
 * and nothing was deployed; failed: a step could not run (see `error`).
 */
export type DemoOutcome = "promoted" | "rolled_back" | "held" | "blocked" | "failed";

export interface DemoVerdict {
  outcome: DemoOutcome;
  promoted: boolean;
  /** The step that decided, e.g. monitor-canary or benchmark-gate. */
  decidedBy: string;
  reason: string;
  /** The model now promoted (the next run's stable). */
  promotedModel?: PromotedModel;
}

export const STEP_TITLES = {
  shop: "synthetic shop",
  validate: "validate-data",
  train: "train-model",
  convert: "convert-onnx",
  compress: "compress-model",
  gate: "benchmark-gate",
  deploy: "deploy (local target)",
  warmUp: "server warm-up",
  monitor: "shoppers + monitor-canary",
  stop: "stop the servers",
} as const;
export type StepKey = keyof typeof STEP_TITLES;

/** `<out>/demo-report.json`: every step's own report, plus what the demo adds (timings, traffic, verdict). */
export interface DemoReport {
  schema: 1;
  tool: "recship demo";
  recshipVersion: string;
  /** The how-many-th run in this out folder. */
  run: number;
  startedAt: string;
  endedAt: string;
  out: string;
  settings: DemoSettings;
  data: { path: string; rows: number; users: number };
  validate: DataReport | null;
  train: TrainReport | null;
  convert: ConvertReport | null;
  compress: CompressReport | null;
  gate: GateSection | null;
  /** Why the model recommends what it does, for a few shoppers (after the model stages, when there is a model). */
  explanations: ExplanationsSection | null;
  deploy: DeploySection | null;
  monitor: MonitorReport | null;
  traffic: TrafficSection | null;
  /** Seconds per step (the ones that ran), and `total`. */
  timings: Partial<Record<StepKey | "total", number>>;
  verdict: DemoVerdict;
  reports: { json: string; html: string; markdown: Record<string, string> };
  warnings: string[];
  error?: string;
}

export function outcomeWords(outcome: DemoOutcome): string {
  return outcome === "rolled_back" ? "rolled back" : outcome;
}
