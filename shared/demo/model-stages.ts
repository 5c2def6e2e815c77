import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { SaveResult } from "../cache/baseline-store.js";
import { LocalBaselineStore } from "../cache/local-baseline-store.js";
import { compressBundle } from "../compress/compress-bundle.js";
import type { CompressReport, Objective } from "../compress/report.js";
import { convertBundle, type ConvertReport } from "../convert/convert-bundle.js";
import { PROFILE_FILE } from "../data/quality/profile.js";
import type { DataReport } from "../data/quality/validate-log.js";
import { gateWithBaseline } from "../gate/pipeline.js";
import type { GateReport } from "../gate/report.js";
import { loadRules } from "../gate/rules.js";
import type { Logger } from "../log.js";
import { trainModel, type TrainReport } from "../train/train-model.js";
import { validateData } from "../validate/validate-data.js";
import { DEMO_READ } from "./shop-data.js";

/** The demo's model: small enough to train in well under a minute on two cores. */
const DEMO_MODEL_CONFIG = "model:\n  hidden: 48\n  maxlen: 30\ntrain:\n  batchTokens: 512\n  negatives: 512\n  learningRate: 0.004";

/** Where the gate keeps the demo's baselines, per model name and branch. */
const DEMO_BASELINE = { model: "demo", branch: "demo" };

/**
 * validate-data on the shop's log, read as train-model reads it, before anything trains: where
 * a workflow runs it. Drift is checked against the previous run's bundle (its data-profile.json).
 */
export async function validateStage(o: { data: string; bundle: string; log: Logger }): Promise<DataReport> {
  const previous = existsSync(join(o.bundle, PROFILE_FILE)) ? o.bundle : undefined;
  return validateData({ data: o.data, ...DEMO_READ, baselineProfile: previous, log: o.log });
}

/** train-model on the validated log: the validation's report goes along (the log is not checked twice) and its profile into the bundle. */
export async function trainStage(o: {
  data: string;
  validated: DataReport;
  bundle: string;
  epochs: number;
  maxMinutes: number;
  log: Logger;
}): Promise<TrainReport> {
  return trainModel({
    data: o.data,
    ...DEMO_READ,
    validated: o.validated,
    out: o.bundle,
    overwrite: true,
    config: DEMO_MODEL_CONFIG,
    overrides: { train: { epochs: o.epochs } },
    maxMinutes: o.maxMinutes,
    log: o.log,
  });
}

export async function convertStage(bundle: string, log: Logger): Promise<ConvertReport> {
  return convertBundle({ bundle, log });
}

/** compress-model on the fp32 export; throws CompressFailure (with the table) when no variant fits the budget. */
export async function compressStage(o: {
  bundle: string;
  methods: string[];
  maxNdcgDrop: number;
  objective: Objective;
  log: Logger;
}): Promise<CompressReport> {
  return compressBundle({
    bundle: o.bundle,
    methods: o.methods,
    maxNdcgDrop: o.maxNdcgDrop,
    objective: o.objective,
    latencyRepetitions: 50,
    log: o.log,
  });
}

export type GateSection = GateReport & { saved?: SaveResult; store: string };

/**
 * benchmark-gate: the candidate's chosen variant against the newest baseline in the demo's own
 * local store (none on a first run: it passes as a first run), storing it as the next
 * baseline when it passes. Latency is compared warn-only: the demo shares a small machine.
 */
export async function gateStage(o: { bundle: string; data: string; storeDir: string; workDir: string; log: Logger }): Promise<GateSection> {
  const rules = loadRules(undefined);
  rules.latency.critical = false;
  const store = new LocalBaselineStore(o.storeDir);
  try {
    const outcome = await gateWithBaseline({
      candidate: o.bundle,
      data: o.data,
      read: {},
      rules,
      modelName: DEMO_BASELINE.model,
      store,
      compareBranches: [DEMO_BASELINE.branch],
      save: { branch: DEMO_BASELINE.branch },
      workDir: o.workDir,
      log: o.log,
    });
    outcome.report.notes.push("The demo compares latency warn-only: its timings share a small machine with everything else running.");
    return { ...outcome.report, ...(outcome.saved ? { saved: outcome.saved } : {}), store: store.description };
  } finally {
    await rm(join(o.workDir, "recship-baseline-package"), { recursive: true, force: true });
  }
}
