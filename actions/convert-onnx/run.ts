import * as core from "@actions/core";
import { join, resolve } from "node:path";
import { convertBundle, ParityFailure, type ConvertReport } from "../../shared/convert/convert-bundle.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../../shared/model/backend.js";
import { convertSummaryMarkdown } from "../../shared/report/convert-summary.js";
import { int, number, oneOf, paritySequences } from "../../shared/util/parse.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { actionLogger, input } from "../common/runtime.js";
import { ensureOnnxRuntime } from "../common/onnxruntime.js";
import { readOptionsFromInputs } from "../common/read-inputs.js";

export async function runConvertOnnx(): Promise<void> {
  const log = actionLogger();
  const bundle = input("bundle") ?? "recship-bundle";
  const reportPath = input("report") ?? join(resolve(bundle), "convert-report.json");
  const data = input("data");
  const options = {
    bundle,
    opset: int(input("opset"), "input opset"),
    maxRealSequences: paritySequences(input("parity-sequences"), "input parity-sequences"),
    topK: int(input("top-k"), "input top-k"),
    maxAbsDiff: number(input("max-abs-diff"), "input max-abs-diff"),
    minTop10Agreement: number(input("min-top10-agreement"), "input min-top10-agreement"),
    externalDataThresholdBytes: int(input("external-data-threshold"), "input external-data-threshold"),
    ...(data
      ? {
          data: { path: data, ...readOptionsFromInputs() },
        }
      : {}),
    backend: oneOf(input("backend") ?? "auto", BACKEND_PREFERENCES, "input backend") as BackendPreference,
    log,
  };
  await ensureOnnxRuntime(log);
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
