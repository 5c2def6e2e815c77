import { stringify } from "yaml";
import type { KubeObject, KubeRef } from "./client.js";
import { objectNames } from "./names.js";
import {
  renderHttpRoute,
  renderMainService,
  renderServiceMonitor,
  renderVariantService,
  renderVirtualService,
  ROUTE_KINDS,
} from "./render-traffic.js";
import { renderAutoscaler, renderDeployment, renderDisruptionBudget } from "./render-workload.js";
import type { KubernetesSpec, ModelSource } from "./types.js";

/** What should run: stable always, a canary with its share of the traffic when there is one. */
export interface DesiredState {
  stable: { image: string; model: ModelSource };
  canary?: { image: string; model: ModelSource; weight: number };
}

/** The rendered objects, in the groups the modes apply separately. */
export interface Rendered {
  /** stable Deployment, its autoscaler and disruption budget. */
  stable: KubeObject[];
  /** canary Deployment, and its Service with a weighted route. */
  canary: KubeObject[];
  /** The Services clients and routes use, and the ServiceMonitor. */
  services: KubeObject[];
  /** The weighted route (none with a replica-ratio split), with the canary's share. */
  route: KubeObject[];
  /** The same route sending everything to stable (before a canary is ready, after it failed). */
  routeStableOnly: KubeObject[];
  canaryReplicas: number;
  /** The canary's share as the cluster will split it (replica ratio: as the counts give it). */
  effectiveWeight: number;
}

/** Stable replicas the canary's count is computed from: the fixed count, or the autoscaler's minimum. */
export function stableBaseReplicas(spec: KubernetesSpec): number {
  return spec.autoscaling ? spec.autoscaling.minReplicas : spec.replicas;
}

/**
 * Canary replicas for a weight. Replica ratio: c / (stable + c) ≈ weight, at least one pod
 * unless the weight is 0. Weighted route: enough pods for the share, at least one.
 */
export function canaryReplicas(spec: KubernetesSpec, weight: number): { replicas: number; effectiveWeight: number } {
  const stable = stableBaseReplicas(spec);
  if (spec.traffic === "replicas") {
    if (weight === 0) return { replicas: 0, effectiveWeight: 0 };
    const replicas = Math.max(1, Math.round((stable * weight) / (100 - weight)));
    return { replicas, effectiveWeight: Math.round((1000 * replicas) / (stable + replicas)) / 10 };
  }
  return { replicas: Math.max(1, Math.ceil((stable * weight) / 100)), effectiveWeight: weight };
}

function route(spec: KubernetesSpec, canaryWeight: number | undefined): KubeObject[] {
  if (spec.traffic === "gateway-api") return [renderHttpRoute(spec, canaryWeight)];
  if (spec.traffic === "istio") return [renderVirtualService(spec, canaryWeight)];
  return [];
}

export function renderAll(spec: KubernetesSpec, desired: DesiredState): Rendered {
  const weighted = spec.traffic !== "replicas";
  const stable: KubeObject[] = [
    renderDeployment(spec, { variant: "stable", ...desired.stable, ...(spec.autoscaling ? {} : { replicas: spec.replicas }) }),
  ];
  if (spec.autoscaling) stable.push(renderAutoscaler(spec));
  stable.push(renderDisruptionBudget(spec));

  const canary: KubeObject[] = [];
  let split = { replicas: 0, effectiveWeight: 0 };
  if (desired.canary) {
    split = canaryReplicas(spec, desired.canary.weight);
    canary.push(
      renderDeployment(spec, {
        variant: "canary",
        image: desired.canary.image,
        model: desired.canary.model,
        replicas: split.replicas,
        weight: desired.canary.weight,
      }),
    );
    if (weighted) canary.push(renderVariantService(spec, "canary"));
  }

  const services: KubeObject[] = [renderMainService(spec)];
  if (weighted) services.push(renderVariantService(spec, "stable"));
  const monitor = spec.metrics === "service-monitor" ? [renderServiceMonitor(spec)] : [];
  return {
    stable,
    canary,
    services: [...services, ...monitor],
    route: route(spec, desired.canary?.weight),
    routeStableOnly: route(spec, undefined),
    canaryReplicas: split.replicas,
    effectiveWeight: split.effectiveWeight,
  };
}

/** Every object recship may have created for the app: what a prune looks at. */
export function managedRefs(spec: KubernetesSpec): KubeRef[] {
  const n = objectNames(spec.name);
  const ns = spec.namespace;
  return [
    { apiVersion: "apps/v1", kind: "Deployment", namespace: ns, name: n.deployment("canary") },
    { apiVersion: "v1", kind: "Service", namespace: ns, name: n.variantService("canary") },
    { apiVersion: "apps/v1", kind: "Deployment", namespace: ns, name: n.deployment("stable") },
    { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", namespace: ns, name: n.hpa },
    { apiVersion: "policy/v1", kind: "PodDisruptionBudget", namespace: ns, name: n.pdb },
    { apiVersion: "v1", kind: "Service", namespace: ns, name: n.service },
    { apiVersion: "v1", kind: "Service", namespace: ns, name: n.variantService("stable") },
    { ...ROUTE_KINDS.httpRoute, namespace: ns, name: n.route },
    { ...ROUTE_KINDS.virtualService, namespace: ns, name: n.route },
    { ...ROUTE_KINDS.serviceMonitor, namespace: ns, name: n.serviceMonitor },
  ];
}

/** Multi-document YAML, as kubectl would take it. */
export function toYaml(objects: KubeObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
}
