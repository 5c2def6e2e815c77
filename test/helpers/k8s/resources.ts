import { isObject, type JsonObject } from "./ssa.js";

/** One served kind. */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** metadata.generation counts spec changes (not for Services, Pods, Events). */
  generation: boolean;
}

export const apiVersionOf = (t: ResourceType) => (t.group ? `${t.group}/${t.version}` : t.version);

const core = (kind: string, plural: string, namespaced = true): ResourceType => ({
  group: "",
  version: "v1",
  kind,
  plural,
  namespaced,
  generation: false,
});

export const BUILT_IN_TYPES: ResourceType[] = [
  core("Namespace", "namespaces", false),
  core("Pod", "pods"),
  core("Service", "services"),
  core("Event", "events"),
  core("ConfigMap", "configmaps"),
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, generation: true },
  { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true, generation: true },
  {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    namespaced: true,
    generation: true,
  },
  { group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", namespaced: true, generation: true },
];

const custom = (group: string, kind: string, plural: string): ResourceType => ({
  group,
  version: "v1",
  kind,
  plural,
  namespaced: true,
  generation: true,
});

/** Custom resources a test can install, as their projects ship them (the Prometheus Operator's CRDs come together). */
export const CRD_TYPES = {
  "gateway-api": [custom("gateway.networking.k8s.io", "HTTPRoute", "httproutes")],
  istio: [custom("networking.istio.io", "VirtualService", "virtualservices")],
  "prometheus-operator": [
    custom("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    custom("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
  ],
} satisfies Record<string, ResourceType[]>;
export type CrdName = keyof typeof CRD_TYPES;

function setDefault(o: JsonObject, key: string, value: JsonObject[string]): void {
  if (o[key] === undefined) o[key] = value;
}

function defaultProbe(p: unknown): void {
  if (!isObject(p)) return;
  setDefault(p, "timeoutSeconds", 1);
  setDefault(p, "periodSeconds", 10);
  setDefault(p, "successThreshold", 1);
  setDefault(p, "failureThreshold", 3);
  if (isObject(p.httpGet)) setDefault(p.httpGet, "scheme", "HTTP");
}

function defaultContainer(c: unknown): void {
  if (!isObject(c)) return;
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  const image = typeof c.image === "string" ? c.image : "";
  setDefault(c, "imagePullPolicy", /:latest$/.test(image) || !/:[^/]+$/.test(image) ? "Always" : "IfNotPresent");
  for (const port of Array.isArray(c.ports) ? c.ports : []) if (isObject(port)) setDefault(port, "protocol", "TCP");
  defaultProbe(c.readinessProbe);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.startupProbe);
}

/** A subset of the API server's defaulting, applied on every write like the real one. */
export function applyDefaults(kind: string, o: JsonObject, allocateIp: () => string): void {
  const spec = isObject(o.spec) ? o.spec : undefined;
  if (!spec) return;
  if (kind === "Deployment") {
    setDefault(spec, "replicas", 1);
    setDefault(spec, "revisionHistoryLimit", 10);
    setDefault(spec, "progressDeadlineSeconds", 600);
    setDefault(spec, "strategy", { type: "RollingUpdate" });
    if (isObject(spec.strategy) && spec.strategy.type === "RollingUpdate")
      setDefault(spec.strategy, "rollingUpdate", { maxSurge: "25%", maxUnavailable: "25%" });
    const podSpec = isObject(spec.template) && isObject(spec.template.spec) ? spec.template.spec : undefined;
    if (podSpec) {
      setDefault(podSpec, "restartPolicy", "Always");
      setDefault(podSpec, "dnsPolicy", "ClusterFirst");
      setDefault(podSpec, "schedulerName", "default-scheduler");
      setDefault(podSpec, "securityContext", {});
      setDefault(podSpec, "terminationGracePeriodSeconds", 30);
      for (const c of [
        ...(Array.isArray(podSpec.initContainers) ? podSpec.initContainers : []),
        ...(Array.isArray(podSpec.containers) ? podSpec.containers : []),
      ])
        defaultContainer(c);
    }
  }
  if (kind === "Service") {
    setDefault(spec, "type", "ClusterIP");
    setDefault(spec, "sessionAffinity", "None");
    setDefault(spec, "internalTrafficPolicy", "Cluster");
    setDefault(spec, "ipFamilyPolicy", "SingleStack");
    setDefault(spec, "ipFamilies", ["IPv4"]);
    if (spec.clusterIP === undefined) {
      const ip = allocateIp();
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    }
    for (const port of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isObject(port)) continue;
      setDefault(port, "protocol", "TCP");
      setDefault(port, "targetPort", port.port ?? null);
    }
  }
}
