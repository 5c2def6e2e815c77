import type { Variant } from "./types.js";

/** Server-side apply's field manager for everything recship applies. */
export const FIELD_MANAGER = "recship";

export const LABELS = {
  app: "app",
  variant: "variant",
  modelVersion: "model-version",
  managedBy: "app.kubernetes.io/managed-by",
  /** On the Services a ServiceMonitor scrapes (each pod behind exactly one of them). */
  scrape: "recship.dev/scrape",
} as const;

export const ANNOTATIONS = {
  /** The variant's ModelSource as JSON: what promote copies from canary to stable. */
  model: "recship.dev/model",
  /** The canary's share of the traffic asked for, in percent. */
  canaryWeight: "recship.dev/canary-weight",
  /**
   * The settings the Deployment was rendered with (KubernetesSpec without name and namespace)
   * as JSON with sorted keys: what set-weight, promote and rollback render it again with.
   * Secrets appear by name only; the kubeconfig never.
   */
  spec: "recship.dev/spec",
} as const;

/** Folder all model data goes under, in the pod. */
export const MODEL_MOUNT = "/models";

/** The names of everything recship creates for an app. */
export function objectNames(app: string) {
  return {
    deployment: (variant: Variant) => `${app}-${variant}`,
    /** The Service clients call. */
    service: app,
    /** Per-variant Services: the weighted routes' backends. */
    variantService: (variant: Variant) => `${app}-${variant}`,
    hpa: `${app}-stable`,
    pdb: `${app}-stable`,
    route: app,
    serviceMonitor: app,
    /** The PrometheusRule with the app's alerts, and the ConfigMap holding its Grafana dashboard. */
    alerts: `${app}-alerts`,
    dashboard: `${app}-dashboard`,
  };
}

export function selectorLabels(app: string, variant?: Variant): Record<string, string> {
  return variant ? { [LABELS.app]: app, [LABELS.variant]: variant } : { [LABELS.app]: app };
}

export function commonLabels(app: string): Record<string, string> {
  return { [LABELS.app]: app, [LABELS.managedBy]: "recship" };
}

export function labelSelectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
