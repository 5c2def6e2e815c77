import * as core from "@actions/core";
import { parseInputs } from "../../shared/canary/options.js";
import { watchOptionsFrom, watchProduction } from "../../shared/canary/watch.js";
import type { WatchReport } from "../../shared/canary/watch-decision.js";
import { publishWatch, type WatchPublishResult } from "../../shared/canary/watch-issue.js";
import { RecshipError } from "../../shared/errors.js";
import { githubClient } from "../../shared/github/client.js";
import type { RunContext } from "../../shared/github/event.js";
import type { WorkflowDispatch } from "../../shared/github/workflow-dispatch.js";
import type { Logger } from "../../shared/log.js";
import { watchMarkdown } from "../../shared/report/watch-summary.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import type { OptionReader } from "../../shared/util/option-spec.js";
import { SUMMARY_LIMIT } from "../common/comment.js";
import { targetFromInputs } from "./target.js";

/** The retraining to dispatch on drift: the workflow, its ref (default this run's branch) and inputs, checked before anything is measured. */
function retrainFrom(o: OptionReader, ctx: RunContext): WorkflowDispatch | undefined {
  const workflow = o.text("retrain-workflow");
  if (!workflow) return undefined;
  const ref = o.text("retrain-ref") ?? ctx.branch ?? ctx.defaultBranch;
  if (!ref)
    throw new RecshipError("no ref to run the retraining on", { where: o.where("retrain-ref"), fix: "pass retrain-ref, e.g. main" });
  return { workflow, ref, inputs: parseInputs(o.lines("retrain-inputs"), o.where("retrain-inputs")) };
}

/** Opens, updates or closes the drift issue when it should; says why not otherwise. A token is needed only for drift or to close. */
async function issueIfWanted(
  o: OptionReader,
  ctx: RunContext,
  log: Logger,
  report: WatchReport,
  retrain: WorkflowDispatch | undefined,
): Promise<WatchPublishResult | undefined> {
  if (!o.boolean("issue")) {
    log.info("not touching issues: the issue input is false");
    return undefined;
  }
  if (report.status === "inconclusive") {
    log.info("inconclusive: the drift issue, if there is one, is left as it is");
    return undefined;
  }
  if (!ctx.owner || !ctx.repo) {
    log.info("no repository to open an issue in (GITHUB_REPOSITORY is not set)");
    return undefined;
  }
  const token = o.text("github-token");
  if (!token) {
    if (report.status === "drift") {
      throw new RecshipError("drift was found, but there is no github-token to open the issue with", {
        fix: "pass github-token (the default, github.token, with `permissions: issues: write`), or set issue: false",
      });
    }
    log.info("no github-token: not looking for a drift issue to close");
    return undefined;
  }
  return publishWatch(githubClient(token, process.env.GITHUB_API_URL), report, {
    repo: { owner: ctx.owner, repo: ctx.repo },
    model: o.requiredText("model-name"),
    body: (history) => watchMarkdown(report, { runUrl: ctx.runUrl, maxChars: 60_000, ...(history ? { history } : {}) }),
    ...(o.list("issue-labels")?.length ? { labels: o.list("issue-labels") } : {}),
    ...(retrain ? { retrain } : {}),
    ...(ctx.runUrl ? { runUrl: ctx.runUrl } : {}),
    log,
  });
}

/** monitor-canary mode watch: one window judged, the report written, the issue kept, the outputs set. */
export async function runWatch(o: OptionReader, ctx: RunContext, log: Logger): Promise<void> {
  const auth = o.text("prometheus-auth");
  if (auth) core.setSecret(auth);
  const retrain = retrainFrom(o, ctx);
  const { target, cleanup } = targetFromInputs(o, "watch", log);
  try {
    const report = await watchProduction(watchOptionsFrom(o, auth, { target, log }));
    const reportPath = o.text("report") ?? "monitor-canary-report.json";
    await writeJsonReport(reportPath, report);
    let issue: WatchPublishResult | undefined;
    let failure: unknown;
    try {
      issue = await issueIfWanted(o, ctx, log, report, retrain);
    } catch (error) {
      failure = error;
    }
    const note = issue?.url ? `\n> Issue: [#${issue.number}](${issue.url}) (${issue.message})\n` : "";
    await core.summary.addRaw(watchMarkdown(report, { runUrl: ctx.runUrl, maxChars: SUMMARY_LIMIT }) + note).write();
    core.setOutput("status", report.status);
    core.setOutput("reason", report.reason);
    core.setOutput("report", reportPath);
    core.setOutput("issue-url", issue?.url ?? "");
    core.setOutput("retraining", issue?.retrain === "dispatched" ? "dispatched" : "");
    for (const w of report.warnings) core.warning(w, { title: "recship drift watch" });
    if (failure) throw failure;
    if (report.status === "drift") {
      core.warning(report.reason, { title: "recship drift watch: drift in production" });
      if (o.boolean("fail-on-drift")) core.setFailed(`production has drifted: ${report.reason}`);
    } else if (report.status === "inconclusive" && o.boolean("fail-on-inconclusive")) {
      core.setFailed(`the drift watch is inconclusive: ${report.reason}`);
    }
  } finally {
    cleanup();
  }
}
