import type { RankingShift } from "./ranking-shifts.js";
import type { ProfileDrift } from "../data/quality/profile-drift.js";
import type { LatencyResult, MetricResult } from "./compare.js";
import type { LatencyStats } from "./latency.js";
import type { RankingDiff } from "./ranking-diff.js";
import type { GateRules, SliceName } from "./rules.js";

export interface ModelInfo {
  bundle: string;
  model: string;
  /** "onnx", a compressed variant's name, "explicit" or "stored baseline". */
  artifact: string;
  sha256: string;
  bytesOnDisk: number;
  items: number;
  maxlen: number;
  createdAt: string;
  commit?: string;
  /** sha256 of the data it was trained on. */
  trainedOn: string;
  evaluation: {
    seconds: number;
    scoringSeconds: number;
    peakRssBytes: number;
    unknownTargets: number;
    sameVocabulary: boolean;
    /** Reused from the stored baseline (same data fingerprint and model), not recomputed. */
    reused: boolean;
  };
}

export interface SliceSummary {
  slice: SliceName;
  label: string;
  users: number;
  candidate: Record<string, number>;
  baseline?: Record<string, number>;
}

/** The benchmark-gate report (also written as JSON). */
export interface GateReport {
  schemaVersion: 1;
  step: "benchmark-gate";
  recshipVersion: string;
  createdAt: string;
  modelName: string;
  passed: boolean;
  verdict: "pass" | "fail" | "no-baseline";
  /** One line: the verdict and why. */
  headline: string;
  failures: string[];
  warnings: string[];
  notes: string[];
  candidate: ModelInfo;
  baseline?: ModelInfo & { origin: string; savedAt?: string; branch?: string; runUrl?: string };
  data: {
    source: string;
    sha256: string;
    fingerprint: string;
    format: string;
    users: number;
    items: number;
    interactions: number;
    /** Test users evaluated: every eligible user, or a seeded sample of them (the `eval-users` option). */
    testUsers: number;
    /** Users the test split holds (≥ 3 interactions), the population a sample is drawn from. */
    eligibleUsers: number;
    kCore: number;
    excludeSeen: boolean;
    sampledNegatives: number;
  };
  rules: GateRules;
  metrics: MetricResult[];
  slices: SliceSummary[];
  rankingDiff?: RankingDiff;
  /** A few users whose top-k changed most, with the history items behind the change (leave-one-out occlusion). */
  rankingShifts?: RankingShift[];
  /**
   * The candidate's training data against the baseline's (their data-profile.json, drift checks
   * at the validation policy's defaults): absent when either model has no profile. A drift is a
   * note in the comment, never a failure: new data is often the point of a new model.
   */
  dataDrift?: ProfileDrift;
  latency: {
    batchSizes: number[];
    warmup: number;
    repetitions: number;
    candidate: LatencyStats[];
    baseline?: LatencyStats[];
    tests: LatencyResult[];
  };
  size: { candidateBytes: number; baselineBytes?: number; relDelta?: number };
  memory: { candidatePeakRssBytes: number; baselinePeakRssBytes?: number; processPeakRssBytes: number };
  /** Full-ranking evaluation time of the candidate (scoring and ranking every test user). */
  evalSeconds: number;
  wallSeconds: number;
  /** Key relative deltas, for action outputs. */
  keyDeltas: Record<string, number>;
}
