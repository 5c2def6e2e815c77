import * as core from "@actions/core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseServerArgs } from "../../shared/deploy/server-args.js";
import { decodeKubeconfig, kubeconfigSecrets } from "../../shared/deploy/k8s/kubeconfig.js";
import {
  METRICS_MODES,
  TRAFFIC_SPLITS,
  type KubernetesDeployOptions,
  type ModelFile,
  type ModelSource,
} from "../../shared/deploy/k8s/types.js";
import type { DeployMode } from "../../shared/rollout/target.js";
import { RecshipError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { int, list, oneOf } from "../../shared/util/parse.js";
import { booleanInput, input } from "./runtime.js";

// The Kubernetes inputs deploy-k8s and monitor-canary share: the connection (kubeconfig, masked
// and written to a private folder that goes away with the step, also on a signal) and the
// deployment settings.

export interface KubeconfigSession {
  kubeconfig: string;
  /** Where the library writes the kubeconfig (0600) for the client. */
  dir: string;
  /** Removes the folder and the signal handlers. */
  close(): void;
}

/**
 * Reads input kubeconfig, masks it before anything could print it (the text, its base64-decoded
 * form, every credential in it), and makes the folder it will be written to, removed on close()
 * and on SIGINT / SIGTERM (a cancelled job).
 */
export function openKubeconfig(prefix: string): KubeconfigSession {
  const kubeconfig = core.getInput("kubeconfig");
  if (!kubeconfig.trim()) {
    throw new RecshipError("target kubernetes needs the kubeconfig", {
      where: "input kubeconfig",
      fix: "kubeconfig: ${{ secrets.KUBECONFIG }}",
    });
  }
  core.setSecret(kubeconfig);
  for (const s of kubeconfigSecrets(kubeconfig)) core.setSecret(s);
  for (const s of kubeconfigSecrets(decodeKubeconfig(kubeconfig, "input kubeconfig"))) core.setSecret(s);
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), prefix));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return {
    kubeconfig,
    dir,
    close: () => {
      cleanup();
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
}

/** `model-files`: one `sha256 name url` a line. */
export function parseModelFiles(text: string | undefined): ModelFile[] | undefined {
  if (!text) return undefined;
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line, i) => {
      const [sha256, name, url, ...rest] = line.split(/\s+/);
      if (!url || rest.length) throw new RecshipError(`line ${i + 1} is not "sha256 name url": "${line}"`, { where: "input model-files" });
      return { sha256, name, url };
    });
}

function parseNodeSelector(text: string | undefined): Record<string, string> | undefined {
  const pairs = list(text);
  if (!pairs) return undefined;
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf("=");
      if (i <= 0) throw new RecshipError(`"${p}" is not key=value`, { where: "input node-selector" });
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
}

function model(): ModelSource | undefined {
  const url = input("model-url");
  if (!url) return undefined;
  const sha256 = input("model-sha256");
  if (!sha256)
    throw new RecshipError("model-url needs model-sha256", {
      where: "input model-sha256",
      fix: "the output of `sha256sum` on the uploaded file",
    });
  const kind = input("model-kind");
  const files = parseModelFiles(input("model-files"));
  return {
    url,
    sha256,
    version: input("model-version") ?? sha256.trim().toLowerCase().slice(0, 12),
    ...(kind ? { kind: oneOf(kind, ["bundle", "onnx"] as const, "input model-kind") } : {}),
    ...(files ? { files } : {}),
  };
}

/**
 * deploy-k8s's action.yml defaults of the settings. The runner fills a default in when an input
 * is not given, so a value equal to one cannot be told from no value: such a value counts as not
 * given (the library fills in the same defaults). That way set-weight, promote and rollback given
 * only the connection (promote.yml, monitor-canary) keep the settings recorded on the live
 * Deployments, and only a setting really given differently is reported as not applied.
 */
export const SETTING_DEFAULTS: Readonly<Record<string, string>> = {
  traffic: "replicas",
  replicas: "2",
  "cpu-utilization": "70",
  cpu: "500m",
  memory: "1Gi",
  gpu: "0",
  "container-port": "8080",
  "service-port": "80",
  "service-type": "ClusterIP",
  metrics: "annotations",
  "model-volume": "emptyDir",
  "model-volume-size": "4Gi",
  "progress-deadline": "600",
};

/** server-args, checked; undefined when not given (so set-weight / promote / rollback keep the recorded ones). */
function serverArgsInput(): string[] | undefined {
  const args = parseServerArgs(input("server-args"));
  return args.length ? args : undefined;
}

/** A setting's input; undefined when not given or equal to its default (see SETTING_DEFAULTS). */
export function settingInput(name: string): string | undefined {
  const v = input(name);
  return v === undefined || v === SETTING_DEFAULTS[name] ? undefined : v;
}

/**
 * The library's options from the action's inputs (everything but the connection). Settings not
 * given stay unset: canary and direct get the defaults, set-weight, promote and rollback the
 * settings recorded on the live Deployments (see shared/deploy/k8s/recorded-spec.ts).
 */
export function kubernetesOptionsFromInputs(mode: DeployMode, log: Logger): Omit<KubernetesDeployOptions, "kubeconfig" | "tempDir"> {
  const maxReplicas = int(settingInput("max-replicas"), "input max-replicas");
  const replicas = int(settingInput("replicas"), "input replicas");
  const volume = settingInput("model-volume");
  if (volume !== undefined && volume !== "emptyDir" && !volume.startsWith("pvc:"))
    throw new RecshipError(`"${volume}" is not emptyDir or pvc:<claim>`, { where: "input model-volume" });
  const volumeSize = settingInput("model-volume-size");
  const resources = given({
    cpu: settingInput("cpu"),
    memory: settingInput("memory"),
    cpuLimit: settingInput("cpu-limit"),
    gpu: int(settingInput("gpu"), "input gpu"),
  });
  const traffic = settingInput("traffic");
  const serviceType = settingInput("service-type");
  const metrics = settingInput("metrics");
  return {
    mode,
    ...given({
      context: input("context"),
      namespace: input("namespace"),
      name: input("name"),
      image: input("image"),
      model: model(),
      canaryWeight: int(input("canary-weight"), "input canary-weight"),
      traffic: traffic === undefined ? undefined : oneOf(traffic, TRAFFIC_SPLITS, "input traffic"),
      gateway: settingInput("gateway"),
      serverArgs: serverArgsInput(),
      hostnames: list(settingInput("hostnames")),
      replicas,
      autoscaling:
        maxReplicas === undefined
          ? undefined
          : {
              minReplicas: int(settingInput("min-replicas"), "input min-replicas") ?? replicas ?? 2,
              maxReplicas,
              cpuUtilization: int(input("cpu-utilization"), "input cpu-utilization") ?? 70,
            },
      resources: Object.keys(resources).length ? resources : undefined,
      port: int(settingInput("container-port"), "input container-port"),
      servicePort: int(settingInput("service-port"), "input service-port"),
      serviceType:
        serviceType === undefined
          ? undefined
          : oneOf(serviceType, ["ClusterIP", "NodePort", "LoadBalancer"] as const, "input service-type"),
      metrics: metrics === undefined ? undefined : oneOf(metrics, METRICS_MODES, "input metrics"),
      modelVolume: volume?.startsWith("pvc:")
        ? { type: "pvc" as const, claimName: volume.slice(4) }
        : volume !== undefined || volumeSize !== undefined
          ? { type: "emptyDir" as const, sizeLimit: volumeSize ?? SETTING_DEFAULTS["model-volume-size"] }
          : undefined,
      fetchImage: settingInput("fetch-image"),
      fetchSecret: settingInput("fetch-secret"),
      serviceAccountName: settingInput("service-account"),
      imagePullSecrets: list(settingInput("image-pull-secrets")),
      nodeSelector: parseNodeSelector(settingInput("node-selector")),
      progressDeadlineSeconds: int(settingInput("progress-deadline"), "input progress-deadline"),
    }),
    forceConflicts: booleanInput("force-conflicts"),
    dryRun: booleanInput("dry-run"),
    log,
  };
}

/** `o` without its undefined entries: an option not given stays absent (the library fills in its default or the record). */
function given<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
