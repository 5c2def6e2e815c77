import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IToleration } from "kubernetes-models/v1/Toleration";
import { drainTimeoutSeconds } from "../server-args.js";
import { asKubeObject, type KubeObject } from "./client.js";
import { ANNOTATIONS, commonLabels, LABELS, MODEL_MOUNT, objectNames, selectorLabels } from "./names.js";
import { recordSpec } from "./recorded-spec.js";
import { bundlePath, MODEL_VOLUME_NAME, renderModelDelivery } from "./render-model.js";
import type { KubernetesSpec, ModelSource, Variant } from "./types.js";

/** The model server's HTTP contract (shared/serve): V2 health paths and Prometheus metrics. */
export const SERVER = {
  container: "model-server",
  command: ["node", "dist/cli/index.js", "serve"],
  livePath: "/v2/health/live",
  readyPath: "/v2/health/ready",
  metricsPath: "/metrics",
  portName: "http",
} as const;

const GPU_RESOURCE = "nvidia.com/gpu";

/** Seconds a server has, after its drain timed out, to close the cut connections, release the model and exit. */
const EXIT_MARGIN_SECONDS = 5;

/** One variant's Deployment as rendered: its model, image and replica count. */
export interface VariantRender {
  variant: Variant;
  image: string;
  model: ModelSource;
  /** Unset when an autoscaler owns the count. */
  replicas?: number;
  /** canary: the share of the traffic asked for, recorded on the Deployment. */
  weight?: number;
}

function serverContainer(spec: KubernetesSpec, v: VariantRender): IContainer {
  const r = spec.resources;
  const requests: Record<string, string> = { cpu: r.cpu!, memory: r.memory! };
  const limits: Record<string, string> = { memory: r.memoryLimit ?? r.memory! };
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.gpu) {
    // extended resources: the limit is what is scheduled on; a request, if given, must equal it
    requests[GPU_RESOURCE] = String(r.gpu);
    limits[GPU_RESOURCE] = String(r.gpu);
  }
  const probe = (path: string) => ({ httpGet: { path, port: SERVER.portName, scheme: "HTTP" as const }, timeoutSeconds: 2 });
  return {
    name: SERVER.container,
    image: v.image,
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    command: spec.command ?? [...SERVER.command],
    args: [
      ...["--bundle", bundlePath(v.model), "--port", String(spec.port), "--host", "0.0.0.0", "--variant", v.variant],
      // the server's onnxruntime execution provider: CUDA where a GPU is requested
      ...(r.gpu ? ["--device", "cuda"] : []),
      ...(spec.serverArgs ?? []),
      ...coresArgs(r.cpuLimit ?? r.cpu!, spec.serverArgs ?? []),
    ],
    ports: [{ name: SERVER.portName, containerPort: spec.port, protocol: "TCP" }],
    // the model may take a while to load: liveness only starts once the startup probe passed
    startupProbe: { ...probe(SERVER.livePath), periodSeconds: 5, failureThreshold: 60 },
    readinessProbe: { ...probe(SERVER.readyPath), periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: { ...probe(SERVER.livePath), periodSeconds: 10, failureThreshold: 3 },
    resources: { requests, limits },
    volumeMounts: [{ name: MODEL_VOLUME_NAME, mountPath: MODEL_MOUNT, readOnly: true }],
    ...(spec.preStopSeconds > 0 ? { lifecycle: { preStop: { sleep: { seconds: spec.preStopSeconds } } } } : {}),
    securityContext: { allowPrivilegeEscalation: false },
  };
}

/**
 * A deleted pod leaves the Service's endpoints while the kubelet already stops it, and proxies,
 * ingress controllers and meshes learn of it seconds later: the preStop sleep keeps the server
 * serving that long before SIGTERM starts its drain (the kubelet's own sleep action, not an exec,
 * so a distroless image or a custom command needs no `sleep` binary). The grace period counts
 * from the preStop hook on, so it covers the sleep, the server's whole --drain-timeout (a fixed
 * 30 s cut longer drains short) and the time to exit.
 */
function terminationGracePeriodSeconds(spec: KubernetesSpec): number {
  return spec.preStopSeconds + Math.ceil(drainTimeoutSeconds(spec.serverArgs ?? [])) + EXIT_MARGIN_SECONDS;
}

/**
 * `--cores n` for the server from the pod's CPU (the limit, else the request), unless server-args
 * sets --cores or --threads: the server derives its default threads from those cores and the
 * model it loads (defaultSessionThreads). A container without a CPU limit sees all the node's
 * cores, and onnxruntime's default of one thread per core would then oversubscribe the pod's share.
 */
export function coresArgs(cpu: string, serverArgs: readonly string[]): string[] {
  if (serverArgs.includes("--threads") || serverArgs.includes("--cores")) return [];
  const cores = cpuCores(cpu);
  return cores === undefined ? [] : ["--cores", String(Math.max(1, Math.ceil(cores)))];
}

/** A CPU quantity in cores: "500m" → 0.5, "2" → 2, "1.5" → 1.5; undefined for other forms. */
export function cpuCores(quantity: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(quantity.trim());
  if (!m) return undefined;
  return Number(m[1]) / (m[2] ? 1000 : 1);
}

/** The stable or canary Deployment: two init containers deliver and verify the model, then the server starts. */
export function renderDeployment(spec: KubernetesSpec, v: VariantRender): KubeObject {
  const names = objectNames(spec.name);
  const labels = { ...commonLabels(spec.name), [LABELS.variant]: v.variant, [LABELS.modelVersion]: v.model.version };
  const delivery = renderModelDelivery(v.model, spec);
  const tolerations: IToleration[] = spec.resources.gpu ? [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }] : [];
  const podAnnotations =
    spec.metrics === "annotations"
      ? { "prometheus.io/scrape": "true", "prometheus.io/port": String(spec.port), "prometheus.io/path": SERVER.metricsPath }
      : undefined;
  // the model and the settings it is rendered with: what set-weight, promote and rollback render it again from
  const annotations: Record<string, string> = { [ANNOTATIONS.model]: JSON.stringify(v.model), [ANNOTATIONS.spec]: recordSpec(spec) };
  if (v.weight !== undefined) annotations[ANNOTATIONS.canaryWeight] = String(v.weight);
  const deployment: IDeployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: names.deployment(v.variant), namespace: spec.namespace, labels, annotations },
    spec: {
      ...(v.replicas !== undefined ? { replicas: v.replicas } : {}),
      selector: { matchLabels: selectorLabels(spec.name, v.variant) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      progressDeadlineSeconds: spec.progressDeadlineSeconds,
      revisionHistoryLimit: 5,
      template: {
        metadata: { labels, ...(podAnnotations ? { annotations: podAnnotations } : {}) },
        spec: {
          ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
          ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets.map((name) => ({ name })) } : {}),
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(tolerations.length ? { tolerations } : {}),
          terminationGracePeriodSeconds: terminationGracePeriodSeconds(spec),
          initContainers: delivery.initContainers,
          containers: [serverContainer(spec, v)],
          volumes: [delivery.volume],
        },
      },
    },
  };
  return asKubeObject(deployment);
}

/** Scales stable on CPU (autoscaling/v2); the canary keeps a fixed count. */
export function renderAutoscaler(spec: KubernetesSpec): KubeObject {
  const names = objectNames(spec.name);
  const a = spec.autoscaling!;
  const hpa: IHorizontalPodAutoscaler = {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: names.hpa, namespace: spec.namespace, labels: { ...commonLabels(spec.name), [LABELS.variant]: "stable" } },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: names.deployment("stable") },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [
        { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: a.cpuUtilization ?? 70 } } },
      ],
    },
  };
  return asKubeObject(hpa);
}

/** At most one stable pod down at a time for voluntary disruptions (drains), which never blocks a drain. */
export function renderDisruptionBudget(spec: KubernetesSpec): KubeObject {
  const names = objectNames(spec.name);
  const pdb: IPodDisruptionBudget = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: names.pdb, namespace: spec.namespace, labels: { ...commonLabels(spec.name), [LABELS.variant]: "stable" } },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(spec.name, "stable") } },
  };
  return asKubeObject(pdb);
}
