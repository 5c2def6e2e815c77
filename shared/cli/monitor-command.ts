import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { monitorCanary } from "../canary/analysis.js";
import { loadChecks } from "../canary/checks-file.js";
import { MONITOR_MODES, defaultSettings, parseSteps, type MonitorMode } from "../canary/settings.js";
import { createSource, parseEndpoints, parseHeaders } from "../canary/setup.js";
import { LocalTarget } from "../deploy/local/local-target.js";
import type { DeployTarget } from "../rollout/target.js";
import { RecshipError } from "../errors.js";
import { monitorMarkdown } from "../report/monitor-summary.js";
import { type CommandContext } from "./common.js";
import { int, number, oneOf } from "../util/parse.js";
import { currentRecshipCommand } from "./deploy-command.js";

/** The canary was rolled back: the command's verdict, and exit status 1. */
export class CanaryRolledBack extends RecshipError {}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerMonitor(program: Command, ctx: CommandContext): void {
  program
    .command("monitor")
    .description(
      "monitor-canary: move traffic to the canary step by step, compare it with stable each interval (sequential tests), then promote, roll back or hold",
    )
    .option("--target <target>", "deploy target that moves traffic: local, or none (observe mode with explicit versions)", "local")
    .option("--state <file>", "local target: state file", ".recship/local-deploy.json")
    .option("--prometheus-url <url>", "Prometheus server (none: scrape the servers' /metrics directly)")
    .option(
      "--prometheus-header <header>",
      'extra header for Prometheus, "Name: value" (repeatable); RECSHIP_PROMETHEUS_AUTHORIZATION sets Authorization',
      collect,
    )
    .option("--prometheus-timeout <seconds>", "per query", "10")
    .option("--prometheus-retries <n>", "further attempts after a failed query", "2")
    .option("--scrape <endpoints>", "scrape these servers instead of the target's: stable=<url>,canary=<url>")
    .option("--steps <weights>", "canary weights in percent, one interval each (a final 100 is the promotion)", "10,25,50,100")
    .option("--interval <seconds>", "length of each interval", "120")
    .option("--confidence <c>", "confidence of every decision", "0.98")
    .option("--failure-limit <n>", "intervals with a failing critical check tolerated before rolling back", "0")
    .option("--max-intervals <n>", "most intervals in all (the last step is extended while undecided); default: steps below 100 + 4")
    .option("--warmup <seconds>", "longest wait for the metrics of both variants before the first interval", "120")
    .option("--source-failure-limit <n>", "intervals in a row the metrics source may be unreachable before holding", "2")
    .option("--checks <yaml-or-file>", "checks: built-in overrides and PromQL checks, inline YAML or a file")
    .option("--mode <mode>", `${MONITOR_MODES.join(" or ")}: auto moves traffic and promotes/rolls back; observe only reports`, "auto")
    .option("--namespace <regex>", "$namespace in the queries", ".*")
    .option("--stable-version <v>", "stable's model version (default: from the target)")
    .option("--canary-version <v>", "canary's model version (default: from the target)")
    .option("--report <file>", "write the report as JSON")
    .option("--markdown <file>", "write the report as Markdown (default: printed to stdout)")
    .option("--fail-on-inconclusive", "exit 1 when the canary is held (inconclusive), not only when it is rolled back")
    .action(async (o: Record<string, string | string[] | boolean | undefined>) => {
      const str = (k: string) => (o[k] === undefined ? undefined : String(o[k]));
      const mode = oneOf(str("mode"), MONITOR_MODES, "--mode") as MonitorMode;
      const targetName = oneOf(str("target"), ["local", "none"] as const, "--target");
      const target: DeployTarget | undefined =
        targetName === "local"
          ? new LocalTarget({ state: String(o.state), command: currentRecshipCommand(), port: 0, log: ctx.log })
          : undefined;
      if (!target && mode === "auto")
        throw new RecshipError("--target none can only observe", { fix: "pass --mode observe, or --target local" });
      const settings = defaultSettings({
        steps: parseSteps(String(o.steps), "--steps"),
        intervalSeconds: number(o.interval, "--interval"),
        confidence: number(o.confidence, "--confidence"),
        failureLimit: int(o.failureLimit, "--failure-limit"),
        maxIntervals: int(o.maxIntervals, "--max-intervals"),
        warmupSeconds: Number(o.warmup),
        sourceFailureLimit: int(o.sourceFailureLimit, "--source-failure-limit"),
        mode,
        namespace: str("namespace") ?? ".*",
      });
      const headers = parseHeaders((o.prometheusHeader as string[] | undefined) ?? [], "--prometheus-header");
      const auth = process.env.RECSHIP_PROMETHEUS_AUTHORIZATION;
      if (auth) headers.authorization = auth;
      const status = target ? await target.status() : undefined;
      const source = createSource(
        {
          prometheusUrl: str("prometheusUrl"),
          headers,
          timeoutMs: number(o.prometheusTimeout, "--prometheus-timeout")! * 1000,
          retries: int(o.prometheusRetries, "--prometheus-retries"),
          ...(o.scrape ? { endpoints: parseEndpoints(String(o.scrape), "--scrape") } : {}),
        },
        status,
        target?.name,
      );
      const report = await monitorCanary({
        source,
        checks: loadChecks(str("checks")),
        settings,
        ...(target ? { target } : {}),
        versions: { stable: str("stableVersion"), canary: str("canaryVersion") },
        log: ctx.log,
      });
      const markdown = monitorMarkdown(report, { maxChars: 1_000_000 });
      if (o.markdown) await writeFile(String(o.markdown), markdown);
      else process.stdout.write(markdown);
      await ctx.writeReport(str("report"), report);
      if (report.verdict === "rolled_back") {
        throw new CanaryRolledBack(`the canary ${report.applied ? "was rolled back" : "would be rolled back"}: ${report.reason}`, {
          fix: "see the report; fix the canary and deploy it again",
        });
      }
      if (report.verdict === "inconclusive" && o.failOnInconclusive) {
        throw new RecshipError(`the canary is held (inconclusive): ${report.reason}`, {
          fix: "promote or roll it back by hand, or monitor it again",
        });
      }
    });
}
