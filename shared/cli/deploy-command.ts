import type { Command } from "commander";
import { LocalTarget } from "../deploy/local/local-target.js";
import { TrafficRouter } from "../deploy/local/traffic-router.js";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { DeployFailure, deployKubernetes, kubernetesStatus, teardownKubernetes } from "../deploy/k8s/deploy.js";
import { kubernetesOptionsFrom } from "../deploy/k8s/options.js";
import { DEPLOY_OPTIONS, localRequestFrom, localTargetOptionsFrom, type LocalMode } from "../deploy/options.js";
import { RecshipError } from "../errors.js";
import { OptionReader } from "../util/option-spec.js";
import { int } from "../util/parse.js";
import { type CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";
import { renderMonitoringFiles, writeMonitoringFiles, type MonitoringFiles } from "../deploy/monitoring/files.js";
import { alertOptionsFrom, localAlertSettings } from "../deploy/monitoring/options.js";
import { dirname, resolve } from "node:path";

/** Writes the alert rule file and dashboard JSON into `dir` and says where. */
async function writeMonitoring(files: MonitoringFiles, dir: string, ctx: CommandContext): Promise<void> {
  const paths = await writeMonitoringFiles(dir, files);
  ctx.log.info(`alert rules: ${paths.rules}; Grafana dashboard: ${paths.dashboard}`);
}

/**
 * How this CLI starts itself in a child process: RECSHIP_COMMAND (a JSON array of argv) if
 * set, else the same node, node flags (e.g. a TypeScript loader) and entry script as now.
 */
export function currentRecshipCommand(): string[] {
  const override = process.env.RECSHIP_COMMAND;
  if (override) {
    const parsed: unknown = JSON.parse(override);
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === "string")) {
      throw new RecshipError('RECSHIP_COMMAND must be a JSON array of strings, e.g. ["node", "dist/cli/index.js"]');
    }
    return parsed as string[];
  }
  const entry = process.argv[1];
  if (!entry)
    throw new RecshipError("cannot tell how recship was started", { fix: 'set RECSHIP_COMMAND, e.g. ["node", "dist/cli/index.js"]' });
  return [process.execPath, ...process.execArgv, entry];
}

/** The CLI's kubeconfig: --kubeconfig, else $KUBECONFIG (its first file), else ~/.kube/config. */
export function kubeconfigPath(given: string | undefined, where: string): string {
  const path = given ?? process.env.KUBECONFIG?.split(delimiter).find(Boolean) ?? join(homedir(), ".kube", "config");
  if (!existsSync(path)) {
    throw new RecshipError(`no kubeconfig at ${path}`, {
      where: given ? where : "$KUBECONFIG / ~/.kube/config",
      fix: `pass ${where} <file> (e.g. the output of \`kubectl config view --raw --minify\`)`,
    });
  }
  return path;
}

/** `--target kubernetes`: the same library call as the deploy-k8s action, with a kubeconfig file. */
async function deployToKubernetes(o: OptionReader, mode: LocalMode, ctx: CommandContext): Promise<void> {
  const connection = {
    kubeconfigPath: kubeconfigPath(o.text("kubeconfig"), o.where("kubeconfig")),
    context: o.text("context"),
    namespace: o.text("namespace"),
    name: o.text("name"),
    log: ctx.log,
  };
  const report = o.text("report");
  if (mode === "status") {
    const status = await kubernetesStatus(connection);
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return ctx.writeReport(report, status);
  }
  if (mode === "stop") return ctx.writeReport(report, { deleted: await teardownKubernetes(connection) });
  try {
    const result = await deployKubernetes({ ...kubernetesOptionsFrom(o, mode, ctx.log), ...connection });
    ctx.log.info(
      `${result.outcome}: stable ${result.stableVersion ?? "-"}, canary ${result.canaryVersion ?? "-"} at ${result.canaryWeight}%`,
    );
    await ctx.writeReport(report, result);
    if (result.monitoring && report) await writeMonitoring(result.monitoring, dirname(resolve(report)), ctx);
  } catch (error) {
    if (error instanceof DeployFailure) await ctx.writeReport(report, error.result);
    throw error;
  }
}

/** `--target local`: `recship serve` child processes behind a weighted router on this machine. */
async function deployLocally(o: OptionReader, mode: LocalMode, ctx: CommandContext): Promise<void> {
  const target = new LocalTarget({ ...localTargetOptionsFrom(o), command: currentRecshipCommand(), log: ctx.log });
  const report = o.text("report");
  if (mode === "status") {
    const status = await target.status();
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return ctx.writeReport(report, status);
  }
  if (mode === "stop") return target.teardown();
  await ctx.writeReport(report, await target.deploy(localRequestFrom(o, mode)));
  const alerts = alertOptionsFrom(o);
  if ((mode === "canary" || mode === "direct") && alerts.mode !== "none") {
    const files = renderMonitoringFiles(localAlertSettings(alerts, o.text("name")));
    await writeMonitoring(files, dirname(resolve(o.requiredText("state"))), ctx);
  }
}

export function registerDeploy(program: Command, ctx: CommandContext): void {
  const command = program
    .command("deploy")
    .description(
      "ship a bundle: canary beside stable at a weight, promote, rollback, direct, set-weight; target local (child processes behind a weighted router) or kubernetes (as the deploy-k8s action)",
    );
  registerOptions(command, DEPLOY_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(DEPLOY_OPTIONS, cliSource(DEPLOY_OPTIONS, values));
    const mode = o.choice<LocalMode>("mode")!;
    if (o.choice("target") === "kubernetes") await deployToKubernetes(o, mode, ctx);
    else await deployLocally(o, mode, ctx);
  });

  program
    .command("deploy-router", { hidden: true })
    .description("the local target's weighted router (started by `recship deploy --target local`)")
    .requiredOption("--port <port>", "public port")
    .requiredOption("--admin-port <port>", "admin port (127.0.0.1 only)")
    .option("--host <host>", "public address", "127.0.0.1")
    .action(async (o: Record<string, string | undefined>) => {
      const token = process.env.RECSHIP_ROUTER_TOKEN;
      if (!token) throw new RecshipError("RECSHIP_ROUTER_TOKEN is not set: the router's admin token comes from the environment");
      const router = new TrafficRouter({ token, log: ctx.log });
      const { url } = await router.listen(int(o.port, "--port")!, int(o.adminPort, "--admin-port")!, o.host);
      ctx.log.info(`router listening on ${url}`);
      await new Promise<void>((resolve) => {
        const stop = () => void router.close().then(resolve, resolve);
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      ctx.log.info("router stopped");
    });
}
