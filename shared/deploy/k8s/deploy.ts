import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { Applier } from "./apply.js";
import type { KubeClient } from "./client.js";
import { clientNodeKube, loadKubeConfig } from "./client-node.js";
import { resolveSpec } from "./inputs.js";
import { decodeKubeconfig, kubeconfigSecrets, redact, writeKubeconfig, type KubeconfigFile } from "./kubeconfig.js";
import { finishRun, openRun, serviceUrl, type DeployRun, type ModeOutcome } from "./deploy-run.js";
import { replaceStable, rollBack, setWeight, startCanary } from "./modes.js";
import { managedRefs } from "./render.js";
import { applyMonitoring, monitoringRefs, requireMonitoringKinds } from "./monitoring.js";
import { readRecordedSpec } from "./recorded-spec.js";
import { deployStatus, readState } from "./state.js";
import type { DeployMode, DeployStatus } from "../../rollout/target.js";
import type { KubernetesDeployOptions, KubernetesDeployResult, ObjectChange } from "./types.js";

export { DeployFailure } from "./deploy-run.js";

function redactingLogger(log: Logger, secrets: readonly string[]): Logger {
  return {
    info: (m) => log.info(redact(m, secrets)),
    warn: (m, where) => log.warn(redact(m, secrets), where),
    group: (title, fn) => log.group(redact(title, secrets), fn),
  };
}

function redactError(error: unknown, secrets: readonly string[]): unknown {
  if (secrets.length && error instanceof Error) {
    error.message = redact(error.message, secrets);
    if (error.stack) error.stack = redact(error.stack, secrets);
  }
  return error;
}

/** The options that say how to reach the cluster. */
export type ConnectionOptions = Pick<KubernetesDeployOptions, "kubeconfig" | "kubeconfigPath" | "context" | "tempDir" | "client" | "log">;

/** The credentials to redact: the text given and what it holds, or what a kubeconfig file holds (the CLI's). */
function credentialsIn(options: ConnectionOptions, text: string | undefined): string[] {
  if (options.kubeconfig) return [...kubeconfigSecrets(options.kubeconfig), ...kubeconfigSecrets(text!)];
  if (!options.kubeconfigPath || options.client) return [];
  try {
    return kubeconfigSecrets(readFileSync(options.kubeconfigPath, "utf8"));
  } catch {
    return []; // an unreadable file fails in loadKubeConfig with its own message
  }
}

/**
 * Runs `fn` with a client for the cluster. A kubeconfig given as text lives in a 0600 file
 * for the call only; its credentials (or a kubeconfig file's) are redacted from every log line and error.
 */
export async function withKubeClient<T>(options: ConnectionOptions, fn: (client: KubeClient, log: Logger) => Promise<T>): Promise<T> {
  const text = options.kubeconfig ? decodeKubeconfig(options.kubeconfig, "the kubeconfig input") : undefined;
  const secrets = [...new Set(credentialsIn(options, text))];
  const log = secrets.length ? redactingLogger(options.log, secrets) : options.log;
  let file: KubeconfigFile | undefined;
  try {
    let client = options.client;
    if (!client) {
      let path = options.kubeconfigPath;
      if (text) {
        file = await writeKubeconfig(text, options.tempDir ?? tmpdir());
        path = file.path;
      }
      if (!path) throw new RecshipError("no kubeconfig was given", { fix: "pass the kubeconfig (a secret) or a kubeconfig file" });
      client = clientNodeKube(loadKubeConfig(path, text ? "the kubeconfig input" : path, options.context));
    }
    return await fn(client, log);
  } catch (error) {
    throw redactError(error, secrets);
  } finally {
    await file?.remove();
  }
}

/**
 * Deploys to Kubernetes: renders the manifests, checks them against the API schemas,
 * server-side applies them as field manager `recship`, waits for the rollouts and, when one
 * fails, undoes it and says why (DeployFailure carries the result).
 */
export async function deployKubernetes(options: KubernetesDeployOptions): Promise<KubernetesDeployResult> {
  return withKubeClient(options, (client, log) => runDeploy(client, options, log));
}

/** Deletes every object recship manages for the app (labelled app.kubernetes.io/managed-by=recship). */
export async function teardownKubernetes(options: ConnectionOptions & { name?: string; namespace?: string }): Promise<ObjectChange[]> {
  return withKubeClient(options, async (client, log) => {
    const spec = resolveSpec({ mode: "rollback", log, name: options.name }, options.namespace ?? client.defaultNamespace);
    const applier = new Applier(client, { force: false, dryRun: false, log });
    const warnings: string[] = [];
    await applier.prune([...managedRefs(spec), ...monitoringRefs(spec)], [], warnings);
    for (const w of warnings) log.warn(w);
    return applier.changes;
  });
}

/** What runs now, as the target-neutral status (the Service's URL from the port stable, else the canary, recorded). */
export async function kubernetesStatus(
  options: ConnectionOptions & { name?: string; namespace?: string; servicePort?: number },
): Promise<DeployStatus> {
  return withKubeClient(options, async (client, log) => {
    const given = resolveSpec(
      { mode: "rollback", log, name: options.name, ...(options.servicePort !== undefined ? { servicePort: options.servicePort } : {}) },
      options.namespace ?? client.defaultNamespace,
    );
    const { state, live } = await readState(client, given.namespace, given.name);
    const recorded = (["stable", "canary"] as const).map((v) => (live[v] ? readRecordedSpec(live[v], given) : undefined)).find(Boolean);
    return deployStatus(state, serviceUrl(recorded ?? given));
  });
}

/** Reads the cluster, runs the mode, reports (a failed rollout, undone, is a DeployFailure). */
async function runDeploy(client: KubeClient, options: KubernetesDeployOptions, log: Logger): Promise<KubernetesDeployResult> {
  const run = await openRun(client, options, log);
  const modes: Record<DeployMode, (run: DeployRun) => Promise<ModeOutcome>> = {
    direct: replaceStable,
    promote: replaceStable,
    canary: startCanary,
    "set-weight": setWeight,
    rollback: rollBack,
  };
  const alerts = options.alerts;
  const shipsModel = run.mode === "canary" || run.mode === "direct";
  if (shipsModel && alerts) await requireMonitoringKinds(run, alerts);
  const outcome = await modes[run.mode](run);
  const monitoring = !outcome.failure && shipsModel && alerts && alerts.mode !== "none" ? await applyMonitoring(run, alerts) : undefined;
  return finishRun(run, outcome, monitoring);
}
