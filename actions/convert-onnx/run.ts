import * as core from "@actions/core";
import { join, resolve } from "node:path";
import { convertBundle, ParityFailure, type ConvertReport } from "../../shared/convert/convert-bundle.js";
import { CONVERT_OPTIONS, convertOptionsFrom } from "../../shared/convert/options.js";
import { convertSummaryMarkdown } from "../../shared/report/convert-summary.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { ensureDuckDbFor } from "../common/duckdb.js";
import { ensureOnnxRuntime } from "../common/onnxruntime.js";

export async function runConvertOnnx(): Promise<void> {
  const log = actionLogger();
  const o = new OptionReader(CONVERT_OPTIONS, inputSource);
  const options = { ...convertOptionsFrom(o), log };
  const reportPath = o.text("report") ?? join(resolve(options.bundle), "convert-report.json");
  await ensureOnnxRuntime(log);
  await ensureDuckDbFor(options.data?.path, options.data ?? {}, log);
  let report: ConvertReport;
  try {
    report = await convertBundle(options);
  } catch (error) {
    // a failed parity check still gets its table in the job summary and its report
    if (error instanceof ParityFailure) {
      await writeJsonReport(reportPath, error.report);
      core.setOutput("report", reportPath);
      await core.summary.addRaw(convertSummaryMarkdown(error.report)).write();
    }
    throw error;
  }
  await writeJsonReport(reportPath, report);
  core.setOutput("model", report.model);
  core.setOutput("max-abs-diff", report.parity.maxAbsDiff.toExponential(3));
  core.setOutput("top10-agreement", report.parity.top10Agreement.toFixed(6));
  core.setOutput("report", reportPath);
  await core.summary.addRaw(convertSummaryMarkdown(report)).write();
}
