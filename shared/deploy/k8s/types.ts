import type { Logger } from "../../log.js";
import type { DeployMode } from "../../rollout/target.js";
import type { KubeClient } from "./client.js";
import type { AlertOptions } from "../monitoring/options.js";
import type { MonitoringOutcome } from "../monitoring/files.js";

/** The five modes (canary, promote, rollback, direct, set-weight) are the target-neutral ones of shared/deploy/types.ts. */
export type Variant = "stable" | "canary";

/**
 * How traffic is split between stable and canary:
 * - replicas: one Service over both Deployments, the share follows the replica counts (any cluster);
 * - gateway-api: weights on a Gateway API HTTPRoute (a Gateway's, or the Service's in a GAMMA mesh);
 * - istio: weights on an Istio VirtualService.
 */
export type TrafficSplit = "replicas" | "gateway-api" | "istio";
export const TRAFFIC_SPLITS: readonly TrafficSplit[] = ["replicas", "gateway-api", "istio"];

/** How Prometheus finds the pods: scrape annotations, a Prometheus Operator ServiceMonitor, or neither. */
export type MetricsMode = "annotations" | "service-monitor" | "none";
export const METRICS_MODES: readonly MetricsMode[] = ["annotations", "service-monitor", "none"];

/** One more file the init container downloads into the bundle folder (e.g. items.txt beside a lone ONNX file). */
export interface ModelFile {
  url: string;
  sha256: string;
  /** File name inside the bundle folder. */
  name: string;
}

/** The model a variant serves, as the init container fetches it. */
export interface ModelSource {
  /** The `model-version` label: letters, digits, `.`, `_`, `-`, at most 63. */
  version: string;
  /** http(s)://, s3:// or gs:// URL of the bundle tarball (.tar.gz / .tgz) or of a single ONNX file. */
  url: string;
  /** sha256 (hex) of the file at `url`: the server does not start unless the download matches. */
  sha256: string;
  /** "bundle" (a tarball of the bundle folder) or "onnx" (one file, saved as model.onnx); default from the URL's ending. */
  kind?: "bundle" | "onnx";
  /** Further files for the bundle folder; an ONNX file alone needs bundle.json and items.txt beside it. */
  files?: ModelFile[];
}

type ModelVolume = { type: "emptyDir"; sizeLimit?: string } | { type: "pvc"; claimName: string };

export interface Resources {
  /** CPU request, e.g. "500m" (also the limit when `cpuLimit` is unset: none). */
  cpu?: string;
  /** Memory request and limit, e.g. "1Gi". */
  memory?: string;
  cpuLimit?: string;
  memoryLimit?: string;
  /** Number of `nvidia.com/gpu` to request (0: none). */
  gpu?: number;
}

interface Autoscaling {
  minReplicas: number;
  maxReplicas: number;
  /** Target average CPU utilisation in percent of the request. */
  cpuUtilization?: number;
}

/** Everything the manifests are rendered from. */
export interface KubernetesSpec {
  /** App name: the Service's name and the prefix of every object (DNS-1035 label, at most 40 characters). */
  name: string;
  namespace: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** The server's command, default `node dist/cli/index.js serve`. */
  command?: string[];
  /** Extra `recship serve` tuning flags (checked by parseServerArgs), e.g. ["--workers", "2", "--threads", "1"]. */
  serverArgs?: string[];
  /**
   * Seconds a stopping pod keeps serving (a preStop sleep) before its server is told to drain,
   * while its removal from the endpoints reaches every proxy; 0: no preStop hook.
   */
  preStopSeconds: number;
  /** Container port of the server. */
  port: number;
  /** Port of the Service. */
  servicePort: number;
  serviceType: "ClusterIP" | "NodePort" | "LoadBalancer";
  /** Stable replicas without autoscaling (and the basis of the canary's count). */
  replicas: number;
  autoscaling?: Autoscaling;
  resources: Resources;
  traffic: TrafficSplit;
  /** gateway-api: the parent Gateway as `name` or `namespace/name`; unset: the Service itself (GAMMA mesh). */
  gateway?: string;
  /** gateway-api with a Gateway: host names of the HTTPRoute. */
  hostnames?: string[];
  metrics: MetricsMode;
  modelVolume: ModelVolume;
  /** Image of the init container that downloads the model; default by URL scheme. */
  fetchImage?: string;
  /** Secret whose keys become the init container's environment (object-store credentials). */
  fetchSecret?: string;
  serviceAccountName?: string;
  imagePullSecrets?: string[];
  nodeSelector?: Record<string, string>;
  /** Deployment progressDeadlineSeconds; the rollout wait gives up a little after it. */
  progressDeadlineSeconds: number;
}

/** The inputs of a deploy, before defaults. */
export interface KubernetesDeployOptions {
  mode: DeployMode;
  name?: string;
  /** Default: the kubeconfig context's namespace, else "default". */
  namespace?: string;
  /** Required for canary and direct; promote takes the canary's. */
  image?: string;
  /** Required for canary and direct; promote takes the canary's. */
  model?: ModelSource;
  /** canary and set-weight: percent of the traffic for the canary, 0 to 100 (default 10). */
  canaryWeight?: number;
  imagePullPolicy?: KubernetesSpec["imagePullPolicy"];
  command?: string[];
  serverArgs?: string[];
  preStopSeconds?: number;
  port?: number;
  servicePort?: number;
  serviceType?: KubernetesSpec["serviceType"];
  replicas?: number;
  autoscaling?: Autoscaling;
  resources?: Resources;
  traffic?: TrafficSplit;
  gateway?: string;
  hostnames?: string[];
  metrics?: MetricsMode;
  modelVolume?: ModelVolume;
  fetchImage?: string;
  fetchSecret?: string;
  serviceAccountName?: string;
  imagePullSecrets?: string[];
  nodeSelector?: Record<string, string>;
  progressDeadlineSeconds?: number;

  /** Kubeconfig file (the CLI's --kubeconfig / $KUBECONFIG / ~/.kube/config, resolved by the caller). */
  kubeconfigPath?: string;
  /** Kubeconfig contents (the action's secret input): written 0600 to `tempDir`, removed afterwards, never logged. */
  kubeconfig?: string;
  /** Kube context; default the kubeconfig's current-context. */
  context?: string;
  /** Where a kubeconfig given as text is written (default the OS temp folder). */
  tempDir?: string;
  /** A ready client instead of a kubeconfig (tests). */
  client?: KubeClient;

  /** Server-side apply takes over fields other managers own (default false: a conflict fails the deploy). */
  forceConflicts?: boolean;
  /** Render, server-side dry-run and diff against the live objects; change nothing. */
  dryRun?: boolean;
  /** canary and direct: the alert rules and dashboard applied beside the model (unset: none). */
  alerts?: AlertOptions;
  /** How often the rollout is polled (default 2000 ms). */
  pollIntervalMs?: number;
  /** Give up waiting for a rollout after this long (default progressDeadlineSeconds + 60 s). */
  rolloutTimeoutMs?: number;
  log: Logger;
}

export type ObjectAction = "created" | "configured" | "unchanged" | "deleted" | "would create" | "would configure" | "would delete";

export interface ObjectChange {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  action: ObjectAction;
}

export interface VariantState {
  version: string;
  image: string;
  model: ModelSource;
  /** Replicas asked for (spec) and ready (status). */
  replicas: number;
  readyReplicas: number;
}

/** What runs now: read from the live Deployments (labels and the recship.dev/model annotation). */
export interface KubernetesState {
  stable?: VariantState;
  canary?: VariantState & { weight: number };
}

interface RolloutFailure {
  /** Which Deployment failed and how (one line). */
  reason: string;
  /** Why, from the pods' container statuses and the Warning events. */
  details: string[];
}

export interface KubernetesDeployResult {
  target: "kubernetes";
  mode: DeployMode;
  dryRun: boolean;
  /**
   * deployed; rolled-back: the new rollout failed and was undone (see failure); failed: it
   * failed with nothing to go back to (a first deploy); dry-run: nothing changed.
   */
  outcome: "deployed" | "rolled-back" | "failed" | "dry-run";
  namespace: string;
  name: string;
  traffic: TrafficSplit;
  /** In-cluster URL of the Service (plus the load balancer's address when it has one). */
  serviceUrl: string;
  externalUrl?: string;
  stableVersion?: string;
  canaryVersion?: string;
  /** The canary's share of the traffic in percent as configured (replica ratio: as the replica counts give it). */
  canaryWeight: number;
  objects: ObjectChange[];
  /** The rendered objects as multi-document YAML. */
  manifests: string;
  /** Dry run: unified diff of the live objects against the server's dry-run result. */
  diff?: string;
  failure?: RolloutFailure;
  /** canary and direct: the alert rules and dashboard rendered (and what was applied of them). */
  monitoring?: MonitoringOutcome;
  warnings: string[];
}
