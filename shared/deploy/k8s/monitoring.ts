import { RecshipError } from "../../errors.js";
import { renderRuleGroups, type AlertSettings } from "../monitoring/alert-rules.js";
import { renderDashboard } from "../monitoring/dashboard.js";
import { DASHBOARD_FILE, renderMonitoringFiles, type MonitoringOutcome } from "../monitoring/files.js";
import type { AlertOptions } from "../monitoring/options.js";
import type { KubeObject, KubeRef } from "./client.js";
import type { Applier } from "./apply.js";
import { commonLabels, objectNames } from "./names.js";
import type { KubernetesSpec } from "./types.js";
import { validateManifests } from "./validate.js";

const PROMETHEUS_RULE = { apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule" } as const;
/** The label the Grafana sidecar (kube-prometheus-stack's, grafana's Helm chart) loads dashboards from. */
const DASHBOARD_LABEL = "grafana_dashboard";

/** What of a deploy run the monitoring objects need (a DeployRun is one). */
interface MonitoringRun {
  spec: KubernetesSpec;
  applier: Applier;
  client: { server: string };
  warnings: string[];
}

/** The alert settings for an app: the selector given, else its namespace. */
function kubernetesAlertSettings(spec: KubernetesSpec, alerts: AlertOptions): AlertSettings {
  return { app: spec.name, selector: alerts.selector ?? `namespace="${spec.namespace}"`, thresholds: alerts.thresholds };
}

function renderPrometheusRule(spec: KubernetesSpec, settings: AlertSettings, extraLabels: Record<string, string>): KubeObject {
  return {
    ...PROMETHEUS_RULE,
    metadata: { name: objectNames(spec.name).alerts, namespace: spec.namespace, labels: { ...extraLabels, ...commonLabels(spec.name) } },
    spec: { groups: renderRuleGroups(settings) },
  };
}

function renderDashboardConfigMap(spec: KubernetesSpec, settings: AlertSettings): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: objectNames(spec.name).dashboard,
      namespace: spec.namespace,
      labels: { ...commonLabels(spec.name), [DASHBOARD_LABEL]: "1" },
    },
    data: { [DASHBOARD_FILE]: JSON.stringify(renderDashboard(settings)) },
  };
}

/** The objects teardown removes with the app. */
export function monitoringRefs(spec: KubernetesSpec): KubeRef[] {
  const n = objectNames(spec.name);
  return [
    { ...PROMETHEUS_RULE, namespace: spec.namespace, name: n.alerts },
    { apiVersion: "v1", kind: "ConfigMap", namespace: spec.namespace, name: n.dashboard },
  ];
}

/** alerts required: refuses a cluster without PrometheusRule before anything changes. */
export async function requireMonitoringKinds(run: MonitoringRun, alerts: AlertOptions): Promise<void> {
  if (alerts.mode !== "required") return;
  if (await run.applier.serves(PROMETHEUS_RULE.apiVersion, PROMETHEUS_RULE.kind)) return;
  throw new RecshipError(`the cluster at ${run.client.server} does not serve PrometheusRule (monitoring.coreos.com/v1)`, {
    where: "alerts",
    fix: "install the Prometheus Operator (e.g. kube-prometheus-stack), or set alerts to auto to deploy without the rules (they are still written as a file)",
  });
}

/**
 * Applies the dashboard ConfigMap and, when the cluster serves PrometheusRule, the alert rules.
 * auto: a cluster without the Prometheus Operator, or an API refusal, leaves them out with a note
 * (the model is deployed by then); required: either fails the step.
 */
export async function applyMonitoring(run: MonitoringRun, alerts: AlertOptions): Promise<MonitoringOutcome> {
  const settings = kubernetesAlertSettings(run.spec, alerts);
  const files = renderMonitoringFiles(settings);
  const rule = renderPrometheusRule(run.spec, settings, alerts.ruleLabels);
  const dashboard = renderDashboardConfigMap(run.spec, settings);
  validateManifests([rule, dashboard]);
  const applied: string[] = [];
  const notes: string[] = [];
  await requireMonitoringKinds(run, alerts);
  const servesRules = await run.applier.serves(PROMETHEUS_RULE.apiVersion, PROMETHEUS_RULE.kind);
  if (!servesRules) {
    notes.push(
      "the cluster does not serve PrometheusRule (no Prometheus Operator): the alert rules were not applied; load the rule file written beside the report into your Prometheus (rule_files)",
    );
  }
  for (const object of servesRules ? [rule, dashboard] : [dashboard]) {
    try {
      await run.applier.apply([object]);
      applied.push(`${object.kind}/${object.metadata.name}`);
    } catch (error) {
      if (alerts.mode === "required") throw error;
      notes.push(`${object.kind} ${object.metadata.name} was not applied: ${(error as Error).message}`);
    }
  }
  for (const note of notes) run.warnings.push(note);
  return { ...files, applied, ...(notes.length ? { note: notes.join("; ") } : {}) };
}
