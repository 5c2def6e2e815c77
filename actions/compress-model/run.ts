import { join, resolve } from "node:path";
import * as core from "@actions/core";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { COMPRESS_OPTIONS, compressOptionsFrom } from "../../shared/compress/options.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { compressBundle, CompressFailure } from "../../shared/compress/compress-bundle.js";
import type { CompressReport } from "../../shared/compress/report.js";
import { compressSummaryMarkdown } from "../../shared/report/compress-summary.js";
import { ensureDuckDbFor } from "../common/duckdb.js";
import { ensureOnnxRuntime } from "../common/onnxruntime.js";
import { actionLogger, inputSource } from "../common/runtime.js";

async function publish(report: CompressReport, reportPath: string): Promise<void> {
  await writeJsonReport(reportPath, report);
  core.setOutput("report", reportPath);
  await core.summary.addRaw(compressSummaryMarkdown(report)).write();
}

export async function runCompressModel(): Promise<void> {
  const log = actionLogger();
  const o = new OptionReader(COMPRESS_OPTIONS, inputSource);
  const options = { ...compressOptionsFrom(o), log };
  const reportPath = o.text("report") ?? join(resolve(options.bundle), "compress-report.json");
  await ensureOnnxRuntime(log);
  await ensureDuckDbFor(options.data?.path, options.data ?? {}, log);
  let report: CompressReport;
  try {
    report = await compressBundle(options);
  } catch (error) {
    // no variant within the budget: the step fails, with the table in the job summary
    if (error instanceof CompressFailure) await publish(error.report, reportPath);
    throw error;
  }
  await publish(report, reportPath);
  const chosen = report.chosen!;
  core.setOutput("model", chosen.path);
  core.setOutput("method", chosen.method);
  core.setOutput("size-ratio", chosen.sizeRatio.toFixed(4));
  core.setOutput("latency-ratio", chosen.latencyRatioBatch64.toFixed(4));
  core.setOutput("ndcg-delta", (-chosen.ndcg10RelDrop).toFixed(5));
}
