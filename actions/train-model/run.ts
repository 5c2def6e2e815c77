import * as core from "@actions/core";
import { join } from "node:path";
import { BACKEND_PREFERENCES, type BackendPreference } from "../../shared/model/backend.js";
import { LOSSES, type Loss } from "../../shared/model/config.js";
import { trainModel } from "../../shared/train/train-model.js";
import { trainSummaryMarkdown } from "../../shared/report/train-summary.js";
import { int, number, oneOf } from "../../shared/util/parse.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { actionLogger, booleanInput, input } from "../common/runtime.js";
import { installTfjsNodeGpu } from "../common/tfjs-node-gpu.js";
import { readOptionsFromInputs } from "../common/read-inputs.js";

export async function runTrainModel(): Promise<void> {
  const log = actionLogger();
  if (booleanInput("install-gpu-backend")) process.env.RECSHIP_TFJS_NODE_DIR = await installTfjsNodeGpu(log);
  const out = input("out") ?? "recship-bundle";
  const report = await trainModel({
    data: core.getInput("data", { required: true }),
    ...readOptionsFromInputs(),
    kCore: int(input("k-core"), "input k-core"),
    config: input("config"),
    overrides: {
      train: {
        ...(input("epochs") ? { epochs: int(input("epochs"), "input epochs") } : {}),
        ...(input("seed") ? { seed: int(input("seed"), "input seed") } : {}),
        ...(input("loss") ? { loss: oneOf(input("loss"), LOSSES, "input loss") as Loss } : {}),
      },
    },
    maxMinutes: number(input("max-minutes"), "input max-minutes"),
    backend: oneOf(input("backend") ?? "auto", BACKEND_PREFERENCES, "input backend") as BackendPreference,
    workers: int(input("workers"), "input workers"),
    out,
    overwrite: booleanInput("overwrite"),
    git: { sha: process.env.GITHUB_SHA, ref: process.env.GITHUB_REF, repository: process.env.GITHUB_REPOSITORY },
    log,
  });
  const reportPath = input("report") ?? join(report.bundle, "train-report.json");
  await writeJsonReport(reportPath, report);
  core.setOutput("bundle", report.bundle);
  core.setOutput("valid-ndcg10", report.validation.full.ndcg10.toFixed(6));
  core.setOutput("test-metrics", JSON.stringify({ full: report.test.full, sampled: report.test.sampled }));
  core.setOutput("report", reportPath);
  await core.summary.addRaw(trainSummaryMarkdown(report)).write();
}
