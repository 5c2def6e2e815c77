import { parseServerArgs } from "../../shared/deploy/server-args.js";
import * as core from "@actions/core";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { int, oneOf } from "../../shared/util/parse.js";
import { writeJsonReport } from "../../shared/util/json-report.js";
import { DeployFailure, deployKubernetes } from "../../shared/deploy/k8s/deploy.js";
import { type KubernetesDeployResult } from "../../shared/deploy/k8s/types.js";
import { LocalTarget } from "../../shared/deploy/local/local-target.js";
import { DEPLOY_MODES, type DeployMode } from "../../shared/rollout/target.js";
import type { Logger } from "../../shared/log.js";
import { deployResultSummary, kubernetesDeploySummary } from "../../shared/report/deploy-summary.js";
import { actionLogger, input } from "../common/runtime.js";
import { kubernetesOptionsFromInputs, openKubeconfig } from "../common/kubernetes-inputs.js";
import { besideModule } from "../../shared/util/beside.js";

async function writeOutputs(result: KubernetesDeployResult, reportPath: string): Promise<void> {
  const manifestsPath = join(dirname(resolve(reportPath)), "deploy-manifests.yaml");
  await mkdir(dirname(manifestsPath), { recursive: true });
  await writeFile(manifestsPath, result.manifests);
  await writeJsonReport(reportPath, result);
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

async function runKubernetes(mode: DeployMode, log: Logger, reportPath: string): Promise<void> {
  const session = openKubeconfig("recship-deploy-");
  try {
    const result = await deployKubernetes({
      ...kubernetesOptionsFromInputs(mode, log),
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
async function runLocal(mode: DeployMode, log: Logger, reportPath: string): Promise<void> {
  const cli = besideModule("../cli/index.js", import.meta.url);
  const target = new LocalTarget({
    state: input("state") ?? ".recship/local-deploy.json",
    command: [process.execPath, cli],
    port: int(input("port"), "input port") ?? 8080,
    serveArgs: parseServerArgs(input("server-args")),
    log,
  });
  const result = await target.deploy({
    mode,
    ...(mode === "canary" || mode === "direct" ? { bundle: input("bundle") ?? "recship-bundle" } : {}),
    ...(input("canary-weight") !== undefined ? { weight: int(input("canary-weight"), "input canary-weight") } : {}),
  });
  await writeJsonReport(reportPath, result);
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
  const target = oneOf(input("target") ?? "kubernetes", ["kubernetes", "local"] as const, "input target");
  const mode = oneOf(input("mode") ?? "canary", DEPLOY_MODES, "input mode");
  const reportPath = input("report") ?? "deploy-report.json";
  if (target === "local") await runLocal(mode, log, reportPath);
  else await runKubernetes(mode, log, reportPath);
}
