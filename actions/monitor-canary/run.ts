import * as core from "@actions/core";
import { context } from "@actions/github";
import { monitorCanary } from "../../shared/canary/analysis.js";
import { loadChecks } from "../../shared/canary/checks-file.js";
import { monitorCommentMarker, publishVerdict } from "../../shared/canary/publish.js";
import { MONITOR_MODES, defaultSettings, parseSteps, type MonitorMode } from "../../shared/canary/settings.js";
import { createSource, parseHeaders } from "../../shared/canary/setup.js";
import { int, oneOf } from "../../shared/util/parse.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { KubernetesTarget } from "../../shared/deploy/k8s/target.js";
import { LocalTarget } from "../../shared/deploy/local/local-target.js";
import type { DeployTarget } from "../../shared/rollout/target.js";
import { RecshipError } from "../../shared/errors.js";
import { runContext } from "../../shared/github/event.js";
import type { Logger } from "../../shared/log.js";
import { monitorMarkdown } from "../../shared/report/monitor-summary.js";
import { kubernetesOptionsFromInputs, openKubeconfig } from "../common/kubernetes-inputs.js";
import { actionLogger, booleanInput, input } from "../common/runtime.js";
import { commentIfWanted, SUMMARY_LIMIT } from "../common/comment.js";
import { besideModule } from "../../shared/util/beside.js";

function numberInput(name: string): number | undefined {
  const v = input(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new RecshipError(`"${v}" is not a number`, { where: `input ${name}` });
  return n;
}

/** The deploy target from the inputs, and what to clean up afterwards (a kubeconfig written for this step). */
function targetFromInputs(log: Logger): { target: DeployTarget; cleanup: () => void } {
  const name = oneOf(input("target") ?? "local", ["local", "kubernetes"] as const, "input target");
  if (name === "local") {
    const cli = besideModule("../cli/index.js", import.meta.url);
    return {
      target: new LocalTarget({ state: input("state") ?? ".recship/local-deploy.json", command: [process.execPath, cli], port: 0, log }),
      cleanup: () => {},
    };
  }
  const session = openKubeconfig("recship-monitor-");
  const { mode: _mode, model: _model, canaryWeight: _weight, ...options } = kubernetesOptionsFromInputs("set-weight", log);
  return {
    target: new KubernetesTarget({ ...options, kubeconfig: session.kubeconfig, tempDir: session.dir }),
    cleanup: session.close,
  };
}

export async function runMonitorCanary(): Promise<void> {
  const log = actionLogger();
  const ctx = runContext(process.env, context.payload);
  const checks = loadChecks(input("checks"));
  const settings = defaultSettings({
    steps: parseSteps(input("steps") ?? "10,25,50,100", "input steps"),
    intervalSeconds: numberInput("interval"),
    confidence: numberInput("confidence"),
    failureLimit: int(input("failure-limit"), "input failure-limit"),
    maxIntervals: int(input("max-intervals"), "input max-intervals"),
    warmupSeconds: numberInput("warmup"),
    mode: oneOf(input("mode") ?? "auto", MONITOR_MODES, "input mode") as MonitorMode,
    namespace: input("namespace") ?? ".*",
  });
  const auth = input("prometheus-auth");
  if (auth) core.setSecret(auth);
  const headers = parseHeaders(
    (input("prometheus-headers") ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean),
    "input prometheus-headers",
  );
  if (auth) headers.authorization = auth;
  const { target, cleanup } = targetFromInputs(log);
  try {
    const status = await target.status();
    const source = createSource({ prometheusUrl: input("prometheus-url"), headers }, status, target.name);
    const report = await monitorCanary({
      source,
      checks,
      settings,
      target,
      versions: { stable: input("stable-version"), canary: input("canary-version") },
      log,
    });
    const reportPath = input("report") ?? "monitor-canary-report.json";
    await writeJsonReport(reportPath, report);

    const commentUrl = await commentIfWanted(ctx, log, true, async (github, repo) =>
      publishVerdict(
        github,
        { ...repo, ...(ctx.pullRequest !== undefined ? { pullRequest: ctx.pullRequest } : { sha: ctx.sha }) },
        monitorCommentMarker(input("model-name") ?? "default"),
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
      if (input("fail-on-rollback") === undefined || booleanInput("fail-on-rollback"))
        core.setFailed(`the canary was rolled back: ${report.reason}`);
    } else if (report.verdict === "inconclusive") {
      core.warning(report.reason, { title: "recship monitor-canary: held for a human" });
      if (booleanInput("fail-on-inconclusive")) core.setFailed(`the canary is held (inconclusive): ${report.reason}`);
    }
  } finally {
    cleanup();
  }
}
