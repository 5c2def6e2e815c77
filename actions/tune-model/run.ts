import { ensureDuckDbFor } from "../common/duckdb.js";
import * as core from "@actions/core";
import { context } from "@actions/github";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runContext } from "../../shared/github/event.js";
import { commentMarker, upsertStickyComment } from "../../shared/github/sticky-comment.js";
import type { Logger } from "../../shared/log.js";
import { tuneHtml, tuneMarkdown } from "../../shared/report/tune-summary.js";
import { planSearch } from "../../shared/tune/local.js";
import { TUNE_OPTIONS, trialInputs, tuneOptionsFrom, type TuneOptions } from "../../shared/tune/options.js";
import { selectRung, type TuneReport } from "../../shared/tune/select.js";
import { LocalTuneStore, type TuneStore } from "../../shared/tune/store.js";
import { runTrial } from "../../shared/tune/trial.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { commentIfWanted, SUMMARY_LIMIT } from "../common/comment.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { ArtifactTuneStore } from "./artifact-store.js";

/** A folder every job sees when given (self-hosted runners, tests), else the workflow run's artifacts. */
function tuneStore(dir: string | undefined, log: Logger): TuneStore {
  return dir ? new LocalTuneStore(dir) : new ArtifactTuneStore({ log });
}

async function select(options: TuneOptions, o: OptionReader, c: { name: string; store: TuneStore; work: string; log: Logger }) {
  const report: TuneReport = await selectRung({ ...c, rung: options.rung });
  const reportPath = o.text("report") ?? join(c.work, `${options.name}-report.json`);
  await writeJsonReport(reportPath, report);
  const html = o.text("html");
  if (html) await writeFile(html, tuneHtml(report));
  const markdown = tuneMarkdown(report);
  const ctx = runContext(process.env, context.payload);
  const commentUrl = await commentIfWanted(ctx, c.log, false, (github, repo) =>
    upsertStickyComment(github, { ...repo, issueNumber: ctx.pullRequest! }, commentMarker(options.name, "tune-model"), markdown, c.log),
  );
  await core.summary.addRaw(markdown.slice(0, SUMMARY_LIMIT)).write();
  core.setOutput("done", String(report.done));
  core.setOutput("rung", String(report.done ? report.selectedRung : report.selectedRung + 1));
  core.setOutput("matrix", JSON.stringify(report.matrix ?? { include: [] }));
  core.setOutput("config", report.best?.config ?? "");
  core.setOutput("best-trial", report.best?.trial ?? "");
  core.setOutput("best-metric", report.best ? report.best.metric.toFixed(6) : "");
  core.setOutput("default-metric", report.default ? report.default.metric.toFixed(6) : "");
  core.setOutput("report", reportPath);
  core.setOutput("comment-url", commentUrl);
  for (const w of report.warnings) core.warning(w, { title: "recship tune-model" });
}

export async function runTuneModel(): Promise<void> {
  const log = actionLogger();
  const o = new OptionReader(TUNE_OPTIONS, inputSource);
  const options = tuneOptionsFrom(o);
  await ensureDuckDbFor(options.data, options, log);
  const work = resolve(process.env.RUNNER_TEMP ?? ".", options.work);
  const c = { name: options.name, store: tuneStore(options.store, log), work, log };
  log.info(`tune-model ${options.mode}: search "${options.name}", entries in ${c.store.description}`);
  if (options.mode === "plan") {
    const { matrix, plan } = await planSearch({ ...c, ...options.planSettings() });
    core.setOutput("matrix", JSON.stringify(matrix));
    core.setOutput("rung", "0");
    core.setOutput("rungs", String(plan.rungs.length));
    core.setOutput("done", "false");
  } else if (options.mode === "trial") {
    const { data, trial } = trialInputs(options, o.where.bind(o));
    const result = await runTrial({ ...options, ...c, data, trial });
    core.setOutput("status", result.status);
    core.setOutput("trial-metric", result.metric === undefined ? "" : result.metric.toFixed(6));
    // a failed training is a result (select goes on without it): the job passes with a warning
    if (result.status === "failed") core.warning(`trial ${trial} failed: ${result.error}`, { title: "recship tune-model" });
  } else {
    await select(options, o, c);
  }
}
