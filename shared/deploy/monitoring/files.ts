import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { renderRuleGroups, type AlertSettings } from "./alert-rules.js";
import { renderDashboard } from "./dashboard.js";

/** The alert rules as a Prometheus rule file (rule_files:) and the dashboard as Grafana JSON, for setups without the operator or the sidecar. */
const RULES_FILE = "recship-alerts.rules.yml";
export const DASHBOARD_FILE = "recship-dashboard.json";

export interface MonitoringFiles {
  /** A Prometheus rule file (`groups:`), the PrometheusRule's spec.groups. */
  rules: string;
  /** The Grafana dashboard's JSON model. */
  dashboard: string;
}

export function renderMonitoringFiles(settings: AlertSettings): MonitoringFiles {
  return {
    rules: stringify({ groups: renderRuleGroups(settings) }, { lineWidth: 0 }),
    dashboard: `${JSON.stringify(renderDashboard(settings), null, 2)}\n`,
  };
}

/** What deploy did about the alerts and the dashboard: the files, the objects applied, why something was left out. */
export interface MonitoringOutcome extends MonitoringFiles {
  /** The objects applied (kind/name), or none. */
  applied: string[];
  /** Why something was left out (no PrometheusRule in the cluster, no permission...). */
  note?: string;
}

/** Writes both files into `dir`; their paths. */
export async function writeMonitoringFiles(dir: string, files: MonitoringFiles): Promise<{ rules: string; dashboard: string }> {
  await mkdir(dir, { recursive: true });
  const paths = { rules: join(dir, RULES_FILE), dashboard: join(dir, DASHBOARD_FILE) };
  await writeFile(paths.rules, files.rules);
  await writeFile(paths.dashboard, files.dashboard);
  return paths;
}
