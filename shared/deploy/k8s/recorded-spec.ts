import { Ajv } from "ajv";
import { RecshipError } from "../../errors.js";
import { silentLogger } from "../../log.js";
import { stableStringify } from "../../util/hash.js";
import type { KubeObject } from "./client.js";
import { resolveSpec } from "./inputs.js";
import { ANNOTATIONS } from "./names.js";
import { METRICS_MODES, TRAFFIC_SPLITS, type KubernetesDeployOptions, type KubernetesSpec } from "./types.js";

/**
 * Recorded settings: every Deployment recship renders carries, in its recship.dev/spec
 * annotation, the settings it was rendered with (the KubernetesSpec without the app's name and
 * namespace, which find it), as JSON with sorted keys. set-weight, promote and rollback render
 * from these instead of from their own inputs, so a step given only the connection (monitor-canary,
 * a workflow_dispatch promote) keeps the service account, GPU, fetch Secret, ports... that
 * deploy-k8s set up, and a weight change leaves the canary's pod template alone.
 *
 * What is recorded is what shapes the objects: Secrets by name only (fetch-secret,
 * image-pull-secrets), never a Secret's value, the kubeconfig or anything from it.
 */
type RecordedSettings = Omit<KubernetesSpec, "name" | "namespace">;

const str = { type: "string", minLength: 1 } as const;
const int = { type: "integer" } as const;
const strings = { type: "array", items: str, minItems: 1 } as const;

/** One entry per setting: a KubernetesSpec field missing here does not compile. */
const properties = {
  imagePullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
  command: strings,
  serverArgs: strings,
  preStopSeconds: int,
  port: int,
  servicePort: int,
  serviceType: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] },
  replicas: int,
  autoscaling: {
    type: "object",
    additionalProperties: false,
    required: ["minReplicas", "maxReplicas"],
    properties: { minReplicas: int, maxReplicas: int, cpuUtilization: int },
  },
  resources: {
    type: "object",
    additionalProperties: false,
    required: ["cpu", "memory"],
    properties: { cpu: str, memory: str, cpuLimit: str, memoryLimit: str, gpu: int },
  },
  traffic: { enum: [...TRAFFIC_SPLITS] },
  gateway: str,
  hostnames: strings,
  metrics: { enum: [...METRICS_MODES] },
  modelVolume: {
    oneOf: [
      {
        type: "object",
        additionalProperties: false,
        required: ["type"],
        properties: { type: { const: "emptyDir" }, sizeLimit: str },
      },
      {
        type: "object",
        additionalProperties: false,
        required: ["type", "claimName"],
        properties: { type: { const: "pvc" }, claimName: str },
      },
    ],
  },
  fetchImage: str,
  fetchSecret: str,
  serviceAccountName: str,
  imagePullSecrets: strings,
  nodeSelector: { type: "object", additionalProperties: { type: "string" } },
  progressDeadlineSeconds: int,
} as const satisfies Record<keyof RecordedSettings, object>;

/** The setting keys, in the order the options list them. */
const SETTING_KEYS = Object.keys(properties) as (keyof RecordedSettings)[];

const validate = new Ajv({ allErrors: false, strict: false }).compile({
  type: "object",
  additionalProperties: false,
  required: ["port", "servicePort", "serviceType", "replicas", "resources", "traffic", "metrics", "modelVolume", "progressDeadlineSeconds"],
  properties,
});

/** How the deploy-k8s action calls each setting (the library's option name where the action has none). */
const INPUT_NAMES: Record<string, string> = {
  port: "container-port",
  serverArgs: "server-args",
  preStopSeconds: "prestop-seconds",
  servicePort: "service-port",
  serviceType: "service-type",
  autoscaling: "min-replicas / max-replicas / cpu-utilization",
  "resources.cpu": "cpu",
  "resources.memory": "memory",
  "resources.cpuLimit": "cpu-limit",
  "resources.memoryLimit": "memoryLimit",
  "resources.gpu": "gpu",
  modelVolume: "model-volume",
  fetchImage: "fetch-image",
  fetchSecret: "fetch-secret",
  serviceAccountName: "service-account",
  imagePullSecrets: "image-pull-secrets",
  nodeSelector: "node-selector",
  progressDeadlineSeconds: "progress-deadline",
};
const inputName = (key: string) => INPUT_NAMES[key] ?? key;

/** The settings of a spec, without the identity. */
function recordedSettings(spec: KubernetesSpec): RecordedSettings {
  const { name: _name, namespace: _namespace, ...settings } = spec;
  return settings;
}

/** The recship.dev/spec annotation's value for a spec. */
export function recordSpec(spec: KubernetesSpec): string {
  return stableStringify(recordedSettings(spec));
}

const CORRUPT_FIX = (deployment: string, namespace: string) =>
  `it holds the settings deploy-k8s rendered the Deployment with: put the value back, or remove it ` +
  `(kubectl annotate deployment/${deployment} -n ${namespace} ${ANNOTATIONS.spec}-) so this step renders the Deployment ` +
  "from its own inputs (pass every setting it was deployed with); the next canary or direct deploy records it again";

/**
 * The settings recorded on a live Deployment of the app `identity`, checked as strictly as the
 * inputs are. Undefined when there is no record (a Deployment made before recship recorded
 * them); a record that does not parse or check is an error naming the object and the fix.
 */
export function readRecordedSpec(object: KubeObject, identity: Pick<KubernetesSpec, "name" | "namespace">): KubernetesSpec | undefined {
  const raw = object.metadata.annotations?.[ANNOTATIONS.spec];
  if (raw === undefined) return undefined;
  const deployment = object.metadata.name;
  const where = `Deployment ${identity.namespace}/${deployment}, annotation ${ANNOTATIONS.spec}`;
  const corrupt = (detail: string, cause?: unknown): never => {
    throw new RecshipError(`the recorded settings are corrupt: ${detail}`, {
      where,
      fix: CORRUPT_FIX(deployment, identity.namespace),
      cause,
    });
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    return corrupt(`not JSON (${(cause as Error).message})`, cause);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return corrupt("not a JSON object");
  if (!validate(parsed)) {
    const e = validate.errors![0];
    const key = e.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(top level)";
    return corrupt(
      e.keyword === "additionalProperties"
        ? `unknown setting "${(e.params as { additionalProperty: string }).additionalProperty}" under ${key}`
        : `${key} ${e.message}`,
    );
  }
  try {
    // the same checks as the inputs get: names, quantities, ranges, combinations
    return resolveSpec({ ...(parsed as RecordedSettings), mode: "rollback", name: identity.name, log: silentLogger }, identity.namespace);
  } catch (error) {
    if (error instanceof RecshipError) return corrupt(error.message, error);
    throw error;
  }
}

const shown = (v: unknown) => (v === undefined ? "unset" : typeof v === "string" ? v : stableStringify(v));

/**
 * The settings `options` gives explicitly that differ from the recorded ones, as
 * "input: given X, recorded Y" (the recorded values are the ones kept). `given` is `options`
 * resolved (defaults filled in).
 */
export function overriddenSettings(options: KubernetesDeployOptions, given: KubernetesSpec, recorded: KubernetesSpec): string[] {
  const out: string[] = [];
  const compare = (key: string, a: unknown, b: unknown) => {
    if (stableStringify(a) !== stableStringify(b)) out.push(`${inputName(key)}: given ${shown(a)}, recorded ${shown(b)}`);
  };
  for (const key of SETTING_KEYS) {
    const value = options[key];
    if (value === undefined) continue;
    if (key === "resources") {
      const r = value as Record<string, unknown>;
      for (const sub of Object.keys(r).filter((k) => r[k] !== undefined)) {
        compare(
          `resources.${sub}`,
          (given.resources as Record<string, unknown>)[sub],
          (recorded.resources as Record<string, unknown>)[sub],
        );
      }
    } else compare(key, given[key], recorded[key]);
  }
  return out;
}
