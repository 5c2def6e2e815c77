import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as core from "@actions/core";
import { context } from "@actions/github";
import { baselinePlan } from "../../shared/cache/baseline-policy.js";
import { LocalBaselineStore } from "../../shared/cache/local-baseline-store.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { gateWithBaseline } from "../../shared/gate/pipeline.js";
import { GATE_OPTIONS, gateOptionsFrom } from "../../shared/gate/options.js";
import { runContext, type RunContext } from "../../shared/github/event.js";
import type { BaselineStore } from "../../shared/cache/baseline-store.js";
import type { Logger } from "../../shared/log.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { commentMarker, upsertStickyComment } from "../../shared/github/sticky-comment.js";
import { gateMarkdown } from "../../shared/report/gate-markdown.js";
import { ActionsCacheBaselineStore } from "../common/baseline-cache.js";
import { ensureDuckDbFor } from "../common/duckdb.js";
import { ensureOnnxRuntime } from "../common/onnxruntime.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { commentIfWanted, SUMMARY_LIMIT } from "../common/comment.js";

/** Where baselines live: a folder on a persistent disk when given, else the GitHub Actions cache. */
function baselineStore(dir: string | undefined, ctx: RunContext, log: Logger): BaselineStore {
  if (dir) return new LocalBaselineStore(dir);
  return new ActionsCacheBaselineStore({
    root: ".recship-baseline",
    runId: ctx.runId ?? String(Date.now()),
    runAttempt: ctx.runAttempt ?? "1",
    log,
  });
}

export async function runBenchmarkGate(): Promise<void> {
  const log = actionLogger();
  const ctx = runContext(process.env, context.payload);
  const o = new OptionReader(GATE_OPTIONS, inputSource);
  const options = gateOptionsFrom(o);
  const plan = baselinePlan(ctx, { saveBaseline: o.boolean("save-baseline"), baselineBranch: o.text("baseline-branch") });
  const store = baselineStore(o.text("baseline-dir"), ctx, log);
  log.info(
    `${ctx.eventName}${ctx.pullRequest !== undefined ? ` (pull request #${ctx.pullRequest})` : ""} on ${ctx.branch ?? "?"}: ` +
      `${options.baseline ? `baseline ${options.baseline}` : `baseline from ${store.description}, branch ${plan.compareBranches.join(" or ")}`}; ` +
      (plan.save ? `a passing candidate becomes the new baseline of ${plan.saveBranch}` : `no baseline will be stored (${plan.reason})`),
  );

  await ensureOnnxRuntime(log);
  await ensureDuckDbFor(options.data, options.read, log);
  const work = await mkdtemp(join(process.env.RUNNER_TEMP ?? tmpdir(), "recship-gate-"));
  try {
    const outcome = await gateWithBaseline({
      ...options,
      store,
      compareBranches: plan.compareBranches,
      save: plan.save ? { branch: plan.saveBranch } : undefined,
      commit: ctx.sha,
      runUrl: ctx.runUrl,
      workDir: work,
      log,
    });
    const { report } = outcome;
    const reportPath = o.text("report") ?? "benchmark-gate-report.json";
    await writeJsonReport(reportPath, report);

    const commentUrl = await commentIfWanted(ctx, log, false, async (github, repo) =>
      upsertStickyComment(
        github,
        { ...repo, issueNumber: ctx.pullRequest! },
        commentMarker(options.modelName),
        gateMarkdown(report, { runUrl: ctx.runUrl }),
        log,
      ),
    );
    await core.summary.addRaw(gateMarkdown(report, { runUrl: ctx.runUrl, maxChars: SUMMARY_LIMIT })).write();

    const delta = (name: string) => (report.keyDeltas[name] === undefined ? "" : report.keyDeltas[name].toFixed(6));
    core.setOutput("passed", String(report.passed));
    core.setOutput("verdict", report.verdict);
    core.setOutput("report", reportPath);
    core.setOutput("ndcg10-delta", delta("ndcg@10"));
    core.setOutput("hr10-delta", delta("hr@10"));
    core.setOutput("mrr-delta", delta("mrr"));
    core.setOutput("latency-delta", delta(`latency-p50@${report.latency.tests[0]?.batch ?? 1}`));
    core.setOutput("size-delta", delta("size"));
    core.setOutput("key-deltas", JSON.stringify(report.keyDeltas));
    core.setOutput("comment-url", commentUrl);
    core.setOutput("baseline-saved", String(outcome.saved?.saved ?? false));

    for (const w of report.warnings) core.warning(w, { title: "recship benchmark-gate" });
    if (!report.passed) {
      for (const f of report.failures) core.error(f, { title: "recship benchmark-gate regression" });
      if (o.boolean("fail-on-regression")) core.setFailed(report.headline);
      else log.info("fail-on-regression is off: the regression is reported, the job passes");
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
