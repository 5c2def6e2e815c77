import * as core from "@actions/core";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { OptionReader } from "../../shared/util/option-spec.js";
import { DEPLOY_OPTIONS, localRequestFrom, localTargetOptionsFrom } from "../../shared/deploy/options.js";
import { kubernetesOptionsFrom } from "../../shared/deploy/k8s/options.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { DeployFailure, deployKubernetes } from "../../shared/deploy/k8s/deploy.js";
import { type KubernetesDeployResult } from "../../shared/deploy/k8s/types.js";
import { LocalTarget } from "../../shared/deploy/local/local-target.js";
import type { DeployMode } from "../../shared/rollout/target.js";
import type { Logger } from "../../shared/log.js";
import { deployResultSummary, kubernetesDeploySummary } from "../../shared/report/deploy-summary.js";
import { actionLogger, inputSource } from "../common/runtime.js";
import { openKubeconfig } from "../common/kubeconfig-session.js";
import { besideModule } from "../../shared/util/beside.js";
import { renderMonitoringFiles, writeMonitoringFiles, type MonitoringFiles } from "../../shared/deploy/monitoring/files.js";
import { alertOptionsFrom, localAlertSettings } from "../../shared/deploy/monitoring/options.js";

/** The alert rule file and dashboard JSON beside the report (outputs alert-rules and dashboard). */
async function writeMonitoring(files: MonitoringFiles | undefined, reportPath: string): Promise<void> {
  if (!files) return;
  const paths = await writeMonitoringFiles(dirname(resolve(reportPath)), files);
  core.setOutput("alert-rules", paths.rules);
  core.setOutput("dashboard", paths.dashboard);
}

async function writeOutputs(result: KubernetesDeployResult, reportPath: string): Promise<void> {
  const manifestsPath = join(dirname(resolve(reportPath)), "deploy-manifests.yaml");
  await mkdir(dirname(manifestsPath), { recursive: true });
  await writeFile(manifestsPath, result.manifests);
  await writeJsonReport(reportPath, result);
  await writeMonitoring(result.monitoring, reportPath);
  core.setOutput("outcome", result.outcome);
  core.setOutput("service-url", result.serviceUrl);
  core.setOutput("external-url", result.externalUrl ?? "");
  core.setOutput("stable-version", result.stableVersion ?? "");
  core.setOutput("canary-version", result.canaryVersion ?? "");
  core.setOutput("canary-weight", String(result.canaryWeight));
  core.setOutput(
    "objects",
    JSON.stringify(result.objects.map((o) => ({ kind: o.kind, namespace: o.namespace, name: o.name, action: o.action }))),
  );
  core.setOutput("manifests", manifestsPath);
  core.setOutput("report", reportPath);
  await core.summary.addRaw(kubernetesDeploySummary(result)).write();
}

async function runKubernetes(o: OptionReader, mode: DeployMode, log: Logger, reportPath: string): Promise<void> {
  const session = openKubeconfig("recship-deploy-");
  try {
    const result = await deployKubernetes({
      ...kubernetesOptionsFrom(o, mode, log),
      kubeconfig: session.kubeconfig,
      tempDir: session.dir,
    });
    await writeOutputs(result, reportPath);
  } catch (error) {
    if (error instanceof DeployFailure) await writeOutputs(error.result, reportPath);
    throw error;
  } finally {
    session.close();
  }
}

/** The local target: `recship serve` processes behind a weighted router, started with the CLI bundled next to this action. */
async function runLocal(o: OptionReader, mode: DeployMode, log: Logger, reportPath: string): Promise<void> {
  const cli = besideModule("../cli/index.js", import.meta.url);
  const target = new LocalTarget({ ...localTargetOptionsFrom(o), command: [process.execPath, cli], log });
  const result = await target.deploy(localRequestFrom(o, mode));
  await writeJsonReport(reportPath, result);
  const alerts = alertOptionsFrom(o);
  if ((mode === "canary" || mode === "direct") && alerts.mode !== "none") {
    await writeMonitoring(renderMonitoringFiles(localAlertSettings(alerts, o.text("name"))), reportPath);
  }
  core.setOutput("outcome", "deployed");
  core.setOutput("service-url", result.after.endpoint ?? "");
  core.setOutput("stable-version", result.after.stable?.version ?? "");
  core.setOutput("canary-version", result.after.canary?.version ?? "");
  core.setOutput("canary-weight", String(result.after.canaryWeight));
  core.setOutput("objects", "[]");
  core.setOutput("report", reportPath);
  await core.summary.addRaw(deployResultSummary(result)).write();
}

export async function runDeployK8s(): Promise<void> {
  const log = actionLogger();
  const o = new OptionReader(DEPLOY_OPTIONS, inputSource);
  const mode = o.choice<DeployMode>("mode")!;
  const reportPath = o.text("report") ?? "deploy-report.json";
  if (o.choice("target") === "local") await runLocal(o, mode, log, reportPath);
  else await runKubernetes(o, mode, log, reportPath);
}
