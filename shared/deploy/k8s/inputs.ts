import { parseServerArgs } from "../server-args.js";
import { RecshipError } from "../../errors.js";
import { urlCredentials, withoutCredentials } from "../../util/url-credentials.js";
import type { KubernetesDeployOptions, KubernetesSpec, ModelSource, Resources } from "./types.js";
import { METRICS_MODES, TRAFFIC_SPLITS } from "./types.js";

const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** A Kubernetes resource quantity: 500m, 1.5, 2Gi, 1e3, 512Mi... */
const QUANTITY = /^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkKMGTPE]i?|[KMGTPE]i|m|k)?$/;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;

const DEFAULTS = {
  name: "recship",
  port: 8080,
  servicePort: 80,
  serviceType: "ClusterIP",
  replicas: 2,
  cpu: "500m",
  memory: "1Gi",
  progressDeadlineSeconds: 600,
  modelVolumeSize: "4Gi",
  preStopSeconds: 5,
} as const;

function fail(what: string, where: string, fix?: string): never {
  throw new RecshipError(what, { where, fix });
}

function checkName(value: string, where: string, maxLength = 63): string {
  if (!DNS_1035.test(value) || value.length > maxLength) {
    fail(
      `"${value}" is not a valid name`,
      where,
      `lower-case letters, digits and "-", starting with a letter, ending with a letter or digit, at most ${maxLength} characters`,
    );
  }
  return value;
}

function checkNamespace(value: string, where: string): string {
  if (!DNS_1123_LABEL.test(value) || value.length > 63) fail(`"${value}" is not a valid namespace`, where, "a DNS label, e.g. shop-recs");
  return value;
}

function checkLabelValue(value: string, where: string): string {
  if (!LABEL_VALUE.test(value) || value.length > 63) {
    fail(
      `"${value}" cannot be a label value`,
      where,
      'letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 63',
    );
  }
  return value;
}

function checkQuantity(value: string, where: string): string {
  if (!QUANTITY.test(value) || !Number.isFinite(Number.parseFloat(value))) {
    fail(`"${value}" is not a Kubernetes quantity`, where, 'e.g. "500m" or "2" for CPU, "1Gi" or "512Mi" for memory');
  }
  return value;
}

function checkInt(value: number, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) fail(`must be a whole number from ${min} to ${max}, got ${value}`, where);
  return value;
}

export function checkWeight(value: number, where: string): number {
  return checkInt(value, where, 0, 100);
}

/**
 * A model URL is stored in clear: in the Deployment's recship.dev/model annotation (and the
 * dry run's manifests), in the download step's environment and in its log. One that carries a
 * credential (user:password@, a presigned URL's signature, ?token=) would leak it there.
 */
function refuseCredentials(url: string, where: string): void {
  const carried = [...new Set(urlCredentials(url).map((c) => c.what))];
  if (!carried.length) return;
  fail(
    `${withoutCredentials(url)} carries credentials (${carried.join(", ")}), which would be stored in clear in the Deployment's annotations, ` +
      "the download step's environment and its log",
    where,
    "give the URL without them and let the download step authenticate: a Secret named in fetch-secret, whose keys become its " +
      "environment (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for an s3:// URL), or service-account with workload identity; " +
      "for a presigned https:// URL use the object's s3:// or gs:// URL instead",
  );
}

function checkUrl(url: string, where: string): string {
  refuseCredentials(url, where);
  if (!/^(https?|s3|gs):\/\/[^\s"'`\\$]+$/.test(url)) {
    fail(`"${url}" is not a model URL recship can fetch`, where, "an http://, https://, s3:// or gs:// URL without spaces or quotes");
  }
  return url;
}

/** Checks a model source and fills `kind` from the URL's ending. */
export function checkModel(model: ModelSource, where: string): ModelSource {
  checkLabelValue(model.version, `${where} version`);
  checkUrl(model.url, `${where} url`);
  const sha256 = model.sha256.trim().toLowerCase();
  if (!SHA256.test(sha256)) fail("is not a sha256 (64 hex digits)", `${where} sha256`, "e.g. the output of `sha256sum model.tar.gz`");
  const path = model.url.split(/[?#]/)[0].toLowerCase();
  const kind = model.kind ?? (/\.(tar\.gz|tgz)$/.test(path) ? "bundle" : path.endsWith(".onnx") ? "onnx" : undefined);
  if (!kind)
    fail(
      `cannot tell whether ${model.url} is a bundle tarball or an ONNX file`,
      `${where} url`,
      'end the URL in .tar.gz, .tgz or .onnx, or set the kind ("bundle" or "onnx")',
    );
  const files = (model.files ?? []).map((f, i) => {
    checkUrl(f.url, `${where} files[${i}] url`);
    const fileSha = f.sha256.trim().toLowerCase();
    if (!SHA256.test(fileSha)) fail("is not a sha256 (64 hex digits)", `${where} files[${i}] sha256`);
    if (!FILE_NAME.test(f.name) || f.name === "model.onnx") {
      fail(
        `"${f.name}" cannot be a bundle file name`,
        `${where} files[${i}] name`,
        "a plain file name such as items.txt, not model.onnx (that is the url's)",
      );
    }
    return { url: f.url, sha256: fileSha, name: f.name };
  });
  if (kind === "onnx") {
    const names = new Set(files.map((f) => f.name));
    const missing = ["bundle.json", "items.txt"].filter((n) => !names.has(n));
    if (missing.length) {
      fail(
        `an ONNX file alone cannot be served: the server reads ${missing.join(" and ")} beside it`,
        where,
        "deliver the bundle tarball (a .tar.gz of the bundle folder), or list bundle.json and items.txt as model files",
      );
    }
  }
  return { version: model.version, url: model.url, sha256, kind, ...(files.length ? { files } : {}) };
}

export function checkImage(image: string, where: string): string {
  if (!image || /\s/.test(image)) fail(`"${image}" is not a container image reference`, where, "e.g. ghcr.io/shop/recship:0.1.0");
  return image;
}

function checkResources(r: Resources, where: string): Resources {
  const out: Resources = {
    cpu: checkQuantity(r.cpu ?? DEFAULTS.cpu, `${where} cpu`),
    memory: checkQuantity(r.memory ?? DEFAULTS.memory, `${where} memory`),
  };
  if (r.cpuLimit) out.cpuLimit = checkQuantity(r.cpuLimit, `${where} cpu limit`);
  if (r.memoryLimit) out.memoryLimit = checkQuantity(r.memoryLimit, `${where} memory limit`);
  if (r.gpu) out.gpu = checkInt(r.gpu, `${where} gpu`, 0, 64);
  return out;
}

/** The manifests' settings from the options, defaults filled in, every value checked. */
export function resolveSpec(options: KubernetesDeployOptions, namespace: string): KubernetesSpec {
  const name = checkName(options.name ?? DEFAULTS.name, "name", 40);
  const traffic = options.traffic ?? "replicas";
  if (!TRAFFIC_SPLITS.includes(traffic)) fail(`"${traffic}" is not a traffic split`, "traffic", `one of ${TRAFFIC_SPLITS.join(", ")}`);
  const metrics = options.metrics ?? "annotations";
  if (!METRICS_MODES.includes(metrics)) fail(`"${metrics}" is not a metrics mode`, "metrics", `one of ${METRICS_MODES.join(", ")}`);
  const replicas = checkInt(options.replicas ?? DEFAULTS.replicas, "replicas", 1, 1000);
  const autoscaling = options.autoscaling;
  if (autoscaling) {
    checkInt(autoscaling.minReplicas, "min-replicas", 1, 1000);
    checkInt(autoscaling.maxReplicas, "max-replicas", autoscaling.minReplicas, 1000);
    if (autoscaling.cpuUtilization !== undefined) checkInt(autoscaling.cpuUtilization, "cpu-utilization", 1, 1000);
  }
  if (options.gateway !== undefined) {
    const parts = options.gateway.split("/");
    if (parts.length > 2 || !parts.every((p) => DNS_1123_SUBDOMAIN.test(p)))
      fail(`"${options.gateway}" is not a Gateway name`, "gateway", "name or namespace/name");
    if (traffic !== "gateway-api") fail("a gateway is only used with traffic gateway-api", "gateway");
  }
  for (const h of options.hostnames ?? []) {
    if (!/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(h)) fail(`"${h}" is not a host name`, "hostnames");
  }
  if (options.hostnames?.length && !options.gateway)
    fail("host names need a gateway (a mesh route has none)", "hostnames", "set gateway, or drop hostnames");
  const volume = options.modelVolume ?? { type: "emptyDir" as const };
  if (volume.type === "pvc") checkName(volume.claimName, "model-volume claim", 253);
  else if (volume.sizeLimit) checkQuantity(volume.sizeLimit, "model-volume size");
  if (options.fetchSecret) checkName(options.fetchSecret, "fetch-secret", 253);
  if (options.serviceAccountName) checkName(options.serviceAccountName, "service-account", 253);
  for (const s of options.imagePullSecrets ?? []) checkName(s, "image-pull-secrets", 253);
  if (options.fetchImage) checkImage(options.fetchImage, "fetch-image");
  const serviceType = options.serviceType ?? DEFAULTS.serviceType;
  if (!["ClusterIP", "NodePort", "LoadBalancer"].includes(serviceType))
    fail(`"${serviceType}" is not a Service type`, "service-type", "ClusterIP, NodePort or LoadBalancer");
  return {
    name,
    namespace: checkNamespace(namespace, "namespace"),
    ...(options.imagePullPolicy ? { imagePullPolicy: options.imagePullPolicy } : {}),
    ...(options.command?.length ? { command: options.command } : {}),
    ...(options.serverArgs?.length ? { serverArgs: parseServerArgs(options.serverArgs.join(" "), "server-args") } : {}),
    preStopSeconds: checkInt(options.preStopSeconds ?? DEFAULTS.preStopSeconds, "prestop-seconds", 0, 300),
    port: checkInt(options.port ?? DEFAULTS.port, "port", 1, 65535),
    servicePort: checkInt(options.servicePort ?? DEFAULTS.servicePort, "service-port", 1, 65535),
    serviceType,
    replicas,
    ...(autoscaling ? { autoscaling } : {}),
    resources: checkResources(options.resources ?? {}, "resources"),
    traffic,
    ...(options.gateway ? { gateway: options.gateway } : {}),
    ...(options.hostnames?.length ? { hostnames: options.hostnames } : {}),
    metrics,
    modelVolume: volume.type === "pvc" ? volume : { type: "emptyDir", sizeLimit: volume.sizeLimit ?? DEFAULTS.modelVolumeSize },
    ...(options.fetchImage ? { fetchImage: options.fetchImage } : {}),
    ...(options.fetchSecret ? { fetchSecret: options.fetchSecret } : {}),
    ...(options.serviceAccountName ? { serviceAccountName: options.serviceAccountName } : {}),
    ...(options.imagePullSecrets?.length ? { imagePullSecrets: options.imagePullSecrets } : {}),
    ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
    progressDeadlineSeconds: checkInt(options.progressDeadlineSeconds ?? DEFAULTS.progressDeadlineSeconds, "progress-deadline", 10, 86_400),
  };
}
