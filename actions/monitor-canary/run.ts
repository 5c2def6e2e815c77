import * as core from "@actions/core";
import { context } from "@actions/github";
import { monitorCanary } from "../../shared/canary/analysis.js";
import { loadChecks } from "../../shared/canary/checks-file.js";
import { monitorCommentMarker, publishVerdict } from "../../shared/canary/publish.js";
import { MONITOR_OPTIONS, monitorSettingsFrom, sourceOptionsFrom } from "../../shared/canary/options.js";
import { createSource } from "../../shared/canary/setup.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { runContext } from "../../shared/github/event.js";
import { monitorMarkdown } from "../../shared/report/monitor-summary.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { commentIfWanted, SUMMARY_LIMIT } from "../common/comment.js";
import { targetFromInputs } from "./target.js";
import { runWatch } from "./watch.js";

export async function runMonitorCanary(): Promise<void> {
  const log = actionLogger();
  const ctx = runContext(process.env, context.payload);
  const o = new OptionReader(MONITOR_OPTIONS, inputSource);
  if (o.choice("mode") === "watch") return runWatch(o, ctx, log);
  const checks = loadChecks(o.text("checks"));
  const settings = monitorSettingsFrom(o);
  const auth = o.text("prometheus-auth");
  if (auth) core.setSecret(auth);
  const sourceOptions = sourceOptionsFrom(o, auth);
  const { target, cleanup } = targetFromInputs(o, settings.mode, log);
  try {
    const status = target ? await target.status() : undefined;
    const source = createSource(sourceOptions, status, target?.name);
    const report = await monitorCanary({
      source,
      checks,
      settings,
      ...(target ? { target } : {}),
      versions: { stable: o.text("stable-version"), canary: o.text("canary-version") },
      log,
    });
    const reportPath = o.text("report") ?? "monitor-canary-report.json";
    await writeJsonReport(reportPath, report);

    const commentUrl = await commentIfWanted(ctx, log, true, async (github, repo) =>
      publishVerdict(
        github,
        { ...repo, ...(ctx.pullRequest !== undefined ? { pullRequest: ctx.pullRequest } : { sha: ctx.sha }) },
        monitorCommentMarker(o.requiredText("model-name")),
        monitorMarkdown(report, { runUrl: ctx.runUrl }),
        log,
      ),
    );
    await core.summary.addRaw(monitorMarkdown(report, { runUrl: ctx.runUrl, maxChars: SUMMARY_LIMIT })).write();

    core.setOutput("verdict", report.verdict);
    core.setOutput("reason", report.reason);
    core.setOutput("final-weight", String(report.finalWeight));
    core.setOutput("report", reportPath);
    core.setOutput("comment-url", commentUrl);
    for (const w of report.warnings) core.warning(w, { title: "recship monitor-canary" });
    if (report.verdict === "rolled_back") {
      core.error(report.reason, { title: "recship monitor-canary: rolled back" });
      if (o.boolean("fail-on-rollback")) core.setFailed(`the canary was rolled back: ${report.reason}`);
    } else if (report.verdict === "inconclusive") {
      core.warning(report.reason, { title: "recship monitor-canary: held for a human" });
      if (o.boolean("fail-on-inconclusive")) core.setFailed(`the canary is held (inconclusive): ${report.reason}`);
    }
  } finally {
    cleanup();
  }
}
