import * as core from "@actions/core";
import { join } from "node:path";
import { TRAIN_OPTIONS, trainOptionsFrom } from "../../shared/train/options.js";
import { trainModel } from "../../shared/train/train-model.js";
import { trainSummaryMarkdown } from "../../shared/report/train-summary.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { installTfjsNodeGpu } from "../common/tfjs-node-gpu.js";
import { ensureDuckDbFor } from "../common/duckdb.js";

export async function runTrainModel(): Promise<void> {
  const log = actionLogger();
  const o = new OptionReader(TRAIN_OPTIONS, inputSource);
  if (o.boolean("install-gpu-backend")) process.env.RECSHIP_TFJS_NODE_DIR = await installTfjsNodeGpu(log);
  const options = trainOptionsFrom(o);
  await ensureDuckDbFor(options.data, options, log);
  const report = await trainModel({
    ...options,
    git: { sha: process.env.GITHUB_SHA, ref: process.env.GITHUB_REF, repository: process.env.GITHUB_REPOSITORY },
    log,
  });
  const reportPath = o.text("report") ?? join(report.bundle, "train-report.json");
  await writeJsonReport(reportPath, report);
  core.setOutput("bundle", report.bundle);
  core.setOutput("valid-ndcg10", report.validation.full.ndcg10.toFixed(6));
  core.setOutput(
    "test-metrics",
    JSON.stringify({ full: report.test.full, fullMasked: report.test.fullMasked, sampled: report.test.sampled }),
  );
  core.setOutput("report", reportPath);
  await core.summary.addRaw(trainSummaryMarkdown(report)).write();
}
