import * as core from "@actions/core";
import { validateMarkdown } from "../../shared/report/validate-markdown.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { VALIDATE_OPTIONS, validateOptionsFrom } from "../../shared/validate/options.js";
import { ensureDuckDbFor } from "../common/duckdb.js";
import { invalidDataError } from "../../shared/data/quality/outcome.js";
import { validateData } from "../../shared/validate/validate-data.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { SUMMARY_LIMIT } from "../common/comment.js";

export async function runValidateData(): Promise<void> {
  const log = actionLogger();
  const o = new OptionReader(VALIDATE_OPTIONS, inputSource);
  const options = validateOptionsFrom(o);
  await ensureDuckDbFor(options.data, options, log);
  // annotations on the offending lines come from the logger (warnings with file and line)
  const report = await validateData({ ...options, log });
  const reportPath = o.text("report") ?? "validate-data-report.json";
  await writeJsonReport(reportPath, report);
  core.setOutput("passed", String(report.passed));
  core.setOutput("errors", String(report.errors));
  core.setOutput("warnings", String(report.warnings));
  core.setOutput("report", reportPath);
  core.setOutput("profile", options.profileOut ?? "");
  await core.summary.addRaw(validateMarkdown(report).slice(0, SUMMARY_LIMIT)).write();
  if (!report.passed) {
    if (o.boolean("fail-on-error")) throw invalidDataError(report);
    log.info("fail-on-error is off: the errors are reported, the job passes");
  }
}
