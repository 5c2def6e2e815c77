import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { monitorCanary } from "../canary/analysis.js";
import { loadChecks } from "../canary/checks-file.js";
import {
  MONITOR_OPTIONS,
  kubernetesTargetOptionsFrom,
  monitorSettingsFrom,
  sourceOptionsFrom,
  type MonitorTarget,
} from "../canary/options.js";
import type { MonitorMode } from "../canary/settings.js";
import { createSource } from "../canary/setup.js";
import { watchOptionsFrom, watchProduction } from "../canary/watch.js";
import { watchMarkdown } from "../report/watch-summary.js";
import type { MonitorReport } from "../canary/report.js";
import { KubernetesTarget } from "../deploy/k8s/target.js";
import { LocalTarget } from "../deploy/local/local-target.js";
import type { DeployTarget } from "../rollout/target.js";
import { RecshipError } from "../errors.js";
import { monitorMarkdown } from "../report/monitor-summary.js";
import { type CommandContext } from "./common.js";
import { OptionReader } from "../util/option-spec.js";
import { currentRecshipCommand, kubeconfigPath } from "./deploy-command.js";
import { cliSource, registerOptions } from "./options.js";

/** The canary was rolled back: the command's verdict, and exit status 1. */
class CanaryRolledBack extends RecshipError {}

/** The deploy target that moves the traffic (none: observe with explicit versions). */
function targetFrom(o: OptionReader, mode: MonitorMode, ctx: CommandContext): { target?: DeployTarget; close: () => Promise<void> } {
  const name = o.choice<MonitorTarget>("target")!;
  if (name === "none") {
    if (mode === "auto")
      throw new RecshipError(`${o.where("target")} none can only observe`, { fix: "pass --mode observe, or --target local" });
    return { close: async () => {} };
  }
  if (name === "local") {
    return {
      target: new LocalTarget({ state: o.requiredText("state"), command: currentRecshipCommand(), port: 0, log: ctx.log }),
      close: async () => {},
    };
  }
  const kubeconfig = kubeconfigPath(o.text("kubeconfig"), o.where("kubeconfig"));
  return {
    target: new KubernetesTarget({ ...kubernetesTargetOptionsFrom(o, ctx.log), kubeconfigPath: kubeconfig }),
    close: async () => {},
  };
}

/** The verdict as an exit status: a rollback always, a hold when asked. */
function exitOn(report: MonitorReport, failOnInconclusive: boolean): void {
  if (report.verdict === "rolled_back") {
    throw new CanaryRolledBack(`the canary ${report.applied ? "was rolled back" : "would be rolled back"}: ${report.reason}`, {
      fix: "see the report; fix the canary and deploy it again",
    });
  }
  if (report.verdict === "inconclusive" && failOnInconclusive) {
    throw new RecshipError(`the canary is held (inconclusive): ${report.reason}`, {
      fix: "promote or roll it back by hand, or monitor it again",
    });
  }
}

/** Production has drifted: exit status 1, so a cron job or a scheduler can alert on it. */
class ProductionDrifted extends RecshipError {}

/** --mode watch: one window judged, the report printed and written; drift exits 1. */
async function watchCommand(o: OptionReader, ctx: CommandContext): Promise<void> {
  const { target, close } = targetFrom(o, "watch", ctx);
  try {
    const report = await watchProduction(watchOptionsFrom(o, process.env.RECSHIP_PROMETHEUS_AUTHORIZATION, { target, log: ctx.log }));
    const markdown = watchMarkdown(report, { maxChars: 1_000_000 });
    const markdownPath = o.text("markdown");
    if (markdownPath) await writeFile(markdownPath, markdown);
    else process.stdout.write(markdown);
    await ctx.writeReport(o.text("report"), report);
    if (report.status === "drift")
      throw new ProductionDrifted(`production has drifted: ${report.reason}`, {
        fix: "see the report; retrain the model, or look for what changed in the traffic",
      });
    if (report.status === "inconclusive" && o.boolean("fail-on-inconclusive")) {
      throw new RecshipError(`the drift watch is inconclusive: ${report.reason}`, { fix: "see the report" });
    }
  } finally {
    await close();
  }
}

export function registerMonitor(program: Command, ctx: CommandContext): void {
  const command = program
    .command("monitor")
    .description(
      "monitor-canary: move traffic to the canary step by step, compare it with stable each interval (sequential tests), then promote, roll back or hold; --mode watch: judge production's last window for drift",
    );
  registerOptions(command, MONITOR_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(MONITOR_OPTIONS, cliSource(MONITOR_OPTIONS, values));
    if (o.choice("mode") === "watch") return watchCommand(o, ctx);
    const settings = monitorSettingsFrom(o);
    const checks = loadChecks(o.text("checks"));
    const { target, close } = targetFrom(o, settings.mode, ctx);
    try {
      const status = target ? await target.status() : undefined;
      const source = createSource(sourceOptionsFrom(o, process.env.RECSHIP_PROMETHEUS_AUTHORIZATION), status, target?.name);
      const report = await monitorCanary({
        source,
        checks,
        settings,
        ...(target ? { target } : {}),
        versions: { stable: o.text("stable-version"), canary: o.text("canary-version") },
        log: ctx.log,
      });
      const markdown = monitorMarkdown(report, { maxChars: 1_000_000 });
      const markdownPath = o.text("markdown");
      if (markdownPath) await writeFile(markdownPath, markdown);
      else process.stdout.write(markdown);
      await ctx.writeReport(o.text("report"), report);
      exitOn(report, o.boolean("fail-on-inconclusive"));
    } finally {
      await close();
    }
  });
}
