import type { CalibrationRecord } from "./build-variant.js";
import type { LatencyStats } from "./measure.js";

export const OBJECTIVES = ["size", "latency"] as const;
export type Objective = (typeof OBJECTIVES)[number];

/** Full ranking over all items (ndcg10, hr10, mrr), and with the user's history masked (the published protocol). */
export interface QualityMetrics {
  ndcg10: number;
  hr10: number;
  mrr: number;
  maskedNdcg10: number;
  maskedHr10: number;
}

/** One measured model: the fp32 baseline or a compressed variant. */
export interface MeasuredModel {
  /** "fp32" for the baseline, else the variant id ("emb-int8+int8-dynamic", ...). */
  method: string;
  /** Absolute path of the model file (inside the bundle once installed). */
  path: string;
  bytes: number;
  gzipBytes: number;
  /** Parameters of the model the variant comes from (differs from the baseline for distill). */
  parameters: number;
  latency: { batch1: LatencyStats; batch64: LatencyStats };
  validation: QualityMetrics;
  test: QualityMetrics;
}

export interface VariantResult extends MeasuredModel {
  methods: string[];
  /** bytes / baseline bytes. */
  sizeRatio: number;
  gzipRatio: number;
  latencyRatioBatch1: number;
  /** batch-64 p50 / baseline batch-64 p50. */
  latencyRatioBatch64: number;
  throughputRatioBatch64: number;
  /** (baseline − variant) / baseline validation NDCG@10: positive = a loss. */
  ndcg10RelDrop: number;
  /** The same on the test split (reported, not judged). */
  testNdcg10RelDrop: number;
  /** Share of validation users whose target rank changed. */
  rankChangedShare: number;
  withinBudget: boolean;
  /** Within the budget and better than the baseline on the objective. */
  eligible: boolean;
  chosen: boolean;
  /** Installed in the bundle (at `path`) and recorded in bundle.json. */
  kept: boolean;
  /** Why it is not eligible, in words. */
  verdict: string;
  notes: string[];
  details: Record<string, unknown>;
  calibration?: CalibrationRecord;
  sha256: string;
}

export interface FailedVariant {
  method: string;
  methods: string[];
  error: string;
}

export interface CompressReport {
  step: "compress";
  bundle: string;
  passed: boolean;
  /** Whether variants were installed in the bundle (not when the step failed). */
  installed: boolean;
  /** One line: what was chosen, or why nothing was. */
  headline: string;
  budget: { maxNdcgDrop: number; objective: Objective; judgedOn: "validation NDCG@10, full ranking" };
  settings: {
    threads: number;
    calibrationSize: number;
    percentile: number;
    seed: number;
    latency: { warmup: number; repetitions: number; batchSizes: number[] };
    int4BlockSize: number;
    int4AccuracyLevel: number;
    sparsity: number;
  };
  /** The users measured: every eligible user (≥ 3 interactions), or a seeded sample of them (`eval-users`). */
  data: { source: string; sameData: boolean; validationUsers: number; testUsers: number; eligibleUsers: number };
  baseline: MeasuredModel;
  variants: VariantResult[];
  failed: FailedVariant[];
  chosen: VariantResult | null;
  distillation?: Record<string, unknown>;
  warnings: string[];
  wallSeconds: number;
}
