import type { IService } from "kubernetes-models/v1/Service";
import { asKubeObject, type KubeObject } from "./client.js";
import { commonLabels, LABELS, objectNames, selectorLabels } from "./names.js";
import { SERVER } from "./render-workload.js";
import type { KubernetesSpec, Variant } from "./types.js";

export const ROUTE_KINDS = {
  httpRoute: { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute" },
  virtualService: { apiVersion: "networking.istio.io/v1", kind: "VirtualService" },
  serviceMonitor: { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor" },
} as const;

function service(
  spec: KubernetesSpec,
  name: string,
  selector: Record<string, string>,
  scrape: boolean,
  type: KubernetesSpec["serviceType"] = "ClusterIP",
): KubeObject {
  const labels: Record<string, string> = { ...commonLabels(spec.name) };
  if (scrape) labels[LABELS.scrape] = "true";
  const svc: IService = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: spec.namespace, labels },
    spec: {
      type,
      selector,
      ports: [{ name: SERVER.portName, port: spec.servicePort, targetPort: SERVER.portName, protocol: "TCP" }],
    },
  };
  return asKubeObject(svc);
}

/**
 * The Service clients call. With a replica-ratio split it selects both variants (the share
 * follows the pod counts); with a weighted route it selects stable only, for callers outside
 * the mesh, and the route sends the canary its share.
 */
export function renderMainService(spec: KubernetesSpec): KubeObject {
  const weighted = spec.traffic !== "replicas";
  return service(
    spec,
    objectNames(spec.name).service,
    selectorLabels(spec.name, weighted ? "stable" : undefined),
    !weighted && spec.metrics === "service-monitor",
    spec.serviceType,
  );
}

/** A weighted route's backend: the pods of one variant. */
export function renderVariantService(spec: KubernetesSpec, variant: Variant): KubeObject {
  return service(
    spec,
    objectNames(spec.name).variantService(variant),
    selectorLabels(spec.name, variant),
    spec.metrics === "service-monitor",
  );
}

/** stable gets 100 - weight, canary `weight`; without a canary stable gets everything. */
function backends(spec: KubernetesSpec, canaryWeight: number | undefined): { variant: Variant; weight: number }[] {
  return canaryWeight === undefined
    ? [{ variant: "stable", weight: 100 }]
    : [
        { variant: "stable", weight: 100 - canaryWeight },
        { variant: "canary", weight: canaryWeight },
      ];
}

/** Gateway API HTTPRoute: attached to a Gateway, or to the Service itself in a GAMMA mesh. */
export function renderHttpRoute(spec: KubernetesSpec, canaryWeight: number | undefined): KubeObject {
  const names = objectNames(spec.name);
  let parentRef: Record<string, unknown>;
  if (spec.gateway) {
    const [a, b] = spec.gateway.split("/");
    parentRef = { group: "gateway.networking.k8s.io", kind: "Gateway", ...(b ? { namespace: a, name: b } : { name: a }) };
  } else {
    parentRef = { group: "", kind: "Service", name: names.service, port: spec.servicePort };
  }
  return {
    ...ROUTE_KINDS.httpRoute,
    metadata: { name: names.route, namespace: spec.namespace, labels: commonLabels(spec.name) },
    spec: {
      parentRefs: [parentRef],
      ...(spec.hostnames ? { hostnames: spec.hostnames } : {}),
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backendRefs: backends(spec, canaryWeight).map((b) => ({
            group: "",
            kind: "Service",
            name: names.variantService(b.variant),
            port: spec.servicePort,
            weight: b.weight,
          })),
        },
      ],
    },
  };
}

/** Istio VirtualService on the Service's host, splitting between the per-variant Services. */
export function renderVirtualService(spec: KubernetesSpec, canaryWeight: number | undefined): KubeObject {
  const names = objectNames(spec.name);
  return {
    ...ROUTE_KINDS.virtualService,
    metadata: { name: names.route, namespace: spec.namespace, labels: commonLabels(spec.name) },
    spec: {
      hosts: [names.service],
      http: [
        {
          name: "recship",
          route: backends(spec, canaryWeight).map((b) => ({
            destination: { host: names.variantService(b.variant), port: { number: spec.servicePort } },
            weight: b.weight,
          })),
        },
      ],
    },
  };
}

/** Prometheus Operator: scrape /metrics of the Services labelled for it, keeping variant and model-version. */
export function renderServiceMonitor(spec: KubernetesSpec): KubeObject {
  const names = objectNames(spec.name);
  return {
    ...ROUTE_KINDS.serviceMonitor,
    metadata: { name: names.serviceMonitor, namespace: spec.namespace, labels: commonLabels(spec.name) },
    spec: {
      selector: { matchLabels: { [LABELS.app]: spec.name, [LABELS.scrape]: "true" } },
      endpoints: [{ port: SERVER.portName, path: SERVER.metricsPath, interval: "30s" }],
      podTargetLabels: [LABELS.variant, LABELS.modelVersion],
    },
  };
}
