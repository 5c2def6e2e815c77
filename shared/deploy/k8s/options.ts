import { parseServerArgs, SERVER_TUNING_FLAGS } from "../server-args.js";
import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { DeployMode } from "../../rollout/target.js";
import type { OptionReader, OptionSpec } from "../../util/option-spec.js";
import { alertOptionsFrom } from "../monitoring/options.js";
import { METRICS_MODES, TRAFFIC_SPLITS, type KubernetesDeployOptions, type ModelFile, type ModelSource } from "./types.js";

// The Kubernetes options deploy-k8s and monitor-canary share, declared once: the connection and
// the deployment settings. Settings are `recorded`: not given (or given at their default) they
// stay unset, so canary and direct get the library's defaults and set-weight, promote and rollback
// the settings recorded on the live Deployments (shared/deploy/k8s/recorded-spec.ts).

const k8s = (description: string) => `kubernetes: ${description}`;

/** Where the cluster is: the kubeconfig, its context, the namespace and the app name. */
export const KUBERNETES_CONNECTION_OPTIONS: readonly OptionSpec[] = [
  {
    name: "kubeconfig",
    kind: "text",
    placeholder: "file-or-text",
    description: k8s(
      "the kubeconfig (YAML, or base64 of it): the action's from a secret, written 0600 for this step only, masked in logs, removed afterwards; the CLI's a file (default: $KUBECONFIG, else ~/.kube/config)",
    ),
  },
  { name: "context", kind: "text", description: k8s("kubeconfig context (default: its current-context)") },
  { name: "namespace", kind: "text", description: k8s("namespace (default: the context's, else default)") },
  { name: "name", kind: "text", description: "kubernetes: app name, the Service's name and every object's prefix (default: recship)" },
];

/** The model the pods download: URL, checksum, version, kind and extra files. */
export const KUBERNETES_MODEL_OPTIONS: readonly OptionSpec[] = [
  {
    name: "image",
    kind: "text",
    description: k8s("model server image that runs `node dist/cli/index.js serve` (canary, direct)"),
  },
  {
    name: "model-url",
    kind: "text",
    description: k8s(
      "http(s)://, s3:// or gs:// URL of the bundle tarball (.tar.gz) or ONNX file the init container downloads (canary, direct); it is stored in the Deployment, so one with credentials (user:password@, a presigned signature, ?token=) is refused: give them through fetch-secret or service-account",
    ),
  },
  {
    name: "model-sha256",
    kind: "text",
    description: k8s("sha256 of the file at model-url; the server does not start unless the download matches"),
  },
  { name: "model-version", kind: "text", description: k8s("the model-version label (default: the first 12 digits of model-sha256)") },
  {
    name: "model-kind",
    kind: "choice",
    choices: ["bundle", "onnx"],
    description: k8s("bundle (a tarball of the bundle folder) or onnx (default: from model-url's ending)"),
  },
  {
    name: "model-files",
    kind: "lines",
    flag: "model-file",
    description: k8s("more files for the bundle folder, one `sha256 name url` a line (an ONNX file alone needs bundle.json and items.txt)"),
  },
];

const setting = (spec: Omit<OptionSpec, "recorded">): OptionSpec => ({ ...spec, recorded: true });

/** How the model is run: traffic split, replicas, resources, ports, volume, scheduling. */
export const KUBERNETES_SETTING_OPTIONS: readonly OptionSpec[] = [
  setting({
    name: "traffic",
    kind: "choice",
    choices: TRAFFIC_SPLITS,
    default: "replicas",
    description: k8s(
      "how traffic is split: replicas (replica ratio behind one Service, any cluster), gateway-api (HTTPRoute weights) or istio (VirtualService weights)",
    ),
  }),
  setting({
    name: "gateway",
    kind: "text",
    description: "kubernetes, traffic gateway-api: the parent Gateway (name or namespace/name); empty: the Service itself (GAMMA mesh)",
  }),
  setting({
    name: "hostnames",
    kind: "list",
    description: "kubernetes, traffic gateway-api with a gateway: the HTTPRoute's host names, comma-separated",
  }),
  setting({
    name: "replicas",
    kind: "int",
    default: "2",
    description: k8s("stable replicas without autoscaling (and the basis of the canary's count)"),
  }),
  setting({
    name: "min-replicas",
    kind: "int",
    description: k8s("autoscaling minimum (default: replicas); autoscaling is on when max-replicas is set"),
  }),
  setting({ name: "max-replicas", kind: "int", description: k8s("autoscaling maximum: adds a HorizontalPodAutoscaler on CPU for stable") }),
  setting({
    name: "cpu-utilization",
    kind: "int",
    default: "70",
    description: k8s("autoscaling target CPU utilisation, percent of the request"),
  }),
  setting({
    name: "cpu",
    kind: "text",
    default: "500m",
    description: k8s(
      "CPU request of the server; cpu-limit (else this) is passed as --cores, which the server sizes its onnxruntime threads from: the cores but one, kept for HTTP, or all of them for a model with a wide output layer (`--threads` or `--cores` in server-args overrides)",
    ),
  }),
  setting({ name: "memory", kind: "text", default: "1Gi", description: k8s("memory request and limit of the server") }),
  setting({ name: "cpu-limit", kind: "text", description: k8s("CPU limit of the server (default: none)") }),
  setting({ name: "gpu", kind: "int", default: "0", description: k8s("nvidia.com/gpu to request per server pod (0: none)") }),
  setting({
    name: "server-args",
    flag: "serve-args",
    kind: "text",
    placeholder: "args",
    description: `Extra \`recship serve\` tuning flags for every server (pods, or local processes), e.g. \`--workers 2 --threads 1 --max-batch 64\`; allowed: ${Object.keys(SERVER_TUNING_FLAGS).join(", ")} (default: the server's defaults; set-weight, promote and rollback keep the recorded ones)`,
  }),
  setting({
    name: "prestop-seconds",
    kind: "int",
    default: "5",
    description: k8s(
      "seconds a stopping pod keeps serving before its server drains, while its removal from the Service reaches every proxy (a preStop sleep, Kubernetes 1.30+; 0: none, for older clusters). The grace period is this plus the server's --drain-timeout plus 5 s",
    ),
  }),
  setting({ name: "container-port", kind: "int", default: "8080", description: k8s("the server's port in the pod") }),
  setting({ name: "service-port", kind: "int", default: "80", description: k8s("the Service's port") }),
  setting({
    name: "service-type",
    kind: "choice",
    choices: ["ClusterIP", "NodePort", "LoadBalancer"],
    default: "ClusterIP",
    description: k8s("ClusterIP, NodePort or LoadBalancer"),
  }),
  setting({
    name: "metrics",
    kind: "choice",
    choices: METRICS_MODES,
    default: "annotations",
    description: k8s("annotations (prometheus.io scrape annotations), service-monitor (a Prometheus Operator ServiceMonitor) or none"),
  }),
  setting({
    name: "model-volume",
    kind: "text",
    default: "emptyDir",
    description: k8s("where the model is downloaded: emptyDir, or pvc:<claim> (a claim shared by the pods caches models)"),
  }),
  setting({ name: "model-volume-size", kind: "text", default: "4Gi", description: k8s("size limit of the emptyDir") }),
  setting({
    name: "fetch-image",
    kind: "text",
    description: k8s("image of the download step (default by URL scheme: curl, aws-cli or cloud-sdk)"),
  }),
  setting({
    name: "fetch-secret",
    kind: "text",
    description: k8s("Secret whose keys become the download step's environment (object-store credentials)"),
  }),
  setting({
    name: "service-account",
    kind: "text",
    description: k8s("the pods' service account (e.g. with workload identity for the object store)"),
  }),
  setting({ name: "image-pull-secrets", kind: "list", description: k8s("comma-separated image pull Secrets") }),
  setting({ name: "node-selector", kind: "list", description: k8s("comma-separated key=value node labels the pods must run on") }),
  setting({
    name: "progress-deadline",
    kind: "int",
    default: "600",
    description: k8s("seconds a rollout may go without progress before it counts as failed"),
  }),
];

/** `model-files`: one `sha256 name url` a line. */
function parseModelFiles(lines: readonly string[], where: string): ModelFile[] | undefined {
  if (!lines.length) return undefined;
  return lines.map((line, i) => {
    const [sha256, name, url, ...rest] = line.split(/\s+/);
    if (!url || rest.length) throw new RecshipError(`line ${i + 1} is not "sha256 name url": "${line}"`, { where });
    return { sha256, name, url };
  });
}

function parseNodeSelector(pairs: string[] | undefined, where: string): Record<string, string> | undefined {
  if (!pairs) return undefined;
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf("=");
      if (i <= 0) throw new RecshipError(`"${p}" is not key=value`, { where });
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
}

/** The model the pods download; undefined without model-url (set-weight, promote, rollback). */
function modelSourceFrom(o: OptionReader): ModelSource | undefined {
  const url = o.text("model-url");
  if (!url) return undefined;
  const sha256 = o.text("model-sha256");
  if (!sha256)
    throw new RecshipError("model-url needs model-sha256", {
      where: o.where("model-sha256"),
      fix: "the output of `sha256sum` on the uploaded file",
    });
  const kind = o.choice<"bundle" | "onnx">("model-kind");
  const files = parseModelFiles(o.lines("model-files"), o.where("model-files"));
  return {
    url,
    sha256,
    version: o.text("model-version") ?? sha256.trim().toLowerCase().slice(0, 12),
    ...(kind ? { kind } : {}),
    ...(files ? { files } : {}),
  };
}

function modelVolumeFrom(o: OptionReader): KubernetesDeployOptions["modelVolume"] {
  const volume = o.text("model-volume");
  if (volume !== undefined && volume !== "emptyDir" && !volume.startsWith("pvc:"))
    throw new RecshipError(`"${volume}" is not emptyDir or pvc:<claim>`, { where: o.where("model-volume") });
  if (volume?.startsWith("pvc:")) return { type: "pvc", claimName: volume.slice(4) };
  const size = o.text("model-volume-size");
  if (volume === undefined && size === undefined) return undefined;
  return { type: "emptyDir", sizeLimit: size ?? "4Gi" };
}

function autoscalingFrom(o: OptionReader): KubernetesDeployOptions["autoscaling"] {
  const maxReplicas = o.int("max-replicas");
  if (maxReplicas === undefined) return undefined;
  return {
    minReplicas: o.int("min-replicas") ?? o.int("replicas") ?? 2,
    maxReplicas,
    cpuUtilization: o.int("cpu-utilization") ?? 70,
  };
}

/** How the model is run (not what, nor where the cluster is). */
export type KubernetesSettings = Partial<
  Omit<KubernetesDeployOptions, "mode" | "model" | "canaryWeight" | "image" | "log" | "kubeconfig" | "tempDir" | "alerts">
>;

/** The settings given (see KUBERNETES_SETTING_OPTIONS: what is not given stays unset). */
export function kubernetesSettingsFrom(o: OptionReader): KubernetesSettings {
  const resources = given({ cpu: o.text("cpu"), memory: o.text("memory"), cpuLimit: o.text("cpu-limit"), gpu: o.int("gpu") });
  const serverArgs = parseServerArgs(o.text("server-args"), o.where("server-args"));
  return given({
    traffic: o.choice<(typeof TRAFFIC_SPLITS)[number]>("traffic"),
    gateway: o.text("gateway"),
    hostnames: o.list("hostnames"),
    serverArgs: serverArgs.length ? serverArgs : undefined,
    preStopSeconds: o.int("prestop-seconds"),
    replicas: o.int("replicas"),
    autoscaling: autoscalingFrom(o),
    resources: Object.keys(resources).length ? resources : undefined,
    port: o.int("container-port"),
    servicePort: o.int("service-port"),
    serviceType: o.choice<"ClusterIP" | "NodePort" | "LoadBalancer">("service-type"),
    metrics: o.choice<(typeof METRICS_MODES)[number]>("metrics"),
    modelVolume: modelVolumeFrom(o),
    fetchImage: o.text("fetch-image"),
    fetchSecret: o.text("fetch-secret"),
    serviceAccountName: o.text("service-account"),
    imagePullSecrets: o.list("image-pull-secrets"),
    nodeSelector: parseNodeSelector(o.list("node-selector"), o.where("node-selector")),
    progressDeadlineSeconds: o.int("progress-deadline"),
  });
}

/** The library's options from either front end (everything but the connection's kubeconfig and folder). */
export function kubernetesOptionsFrom(
  o: OptionReader,
  mode: DeployMode,
  log: Logger,
): Omit<KubernetesDeployOptions, "kubeconfig" | "tempDir"> {
  return {
    mode,
    ...given({
      context: o.text("context"),
      namespace: o.text("namespace"),
      name: o.text("name"),
      image: o.text("image"),
      model: modelSourceFrom(o),
      canaryWeight: o.int("canary-weight"),
    }),
    ...kubernetesSettingsFrom(o),
    forceConflicts: o.boolean("force-conflicts"),
    dryRun: o.boolean("dry-run"),
    alerts: alertOptionsFrom(o),
    log,
  };
}

/** `o` without its undefined entries: an option not given stays absent (the library fills in its default or the record). */
function given<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
