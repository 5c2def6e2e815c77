import { RecshipError } from "../../errors.js";
import type { OptionReader, OptionSpec } from "../../util/option-spec.js";
import { DEFAULT_THRESHOLDS, type AlertSettings, type AlertThresholds } from "./alert-rules.js";

/** kubernetes: whether the PrometheusRule is applied (auto: when the cluster serves it), required, or left out. */
const ALERT_MODES = ["auto", "required", "none"] as const;
type AlertMode = (typeof ALERT_MODES)[number];

const d = DEFAULT_THRESHOLDS;

/** The alerts and dashboard deploy renders beside the model: where they apply and their thresholds. */
export const ALERT_OPTIONS: readonly OptionSpec[] = [
  {
    name: "alerts",
    kind: "choice",
    choices: ALERT_MODES,
    default: "auto",
    description:
      "kubernetes, canary and direct: apply the alert rules (a PrometheusRule) and the Grafana dashboard (a ConfigMap labelled grafana_dashboard) beside the model: auto (the rules when the cluster serves PrometheusRule, else left out with a note), required (fail without it) or none. Both are also written as files beside the report (local: beside the state file)",
  },
  {
    name: "alert-selector",
    kind: "text",
    placeholder: "matchers",
    description:
      'PromQL label matchers that pick this app\'s series in Prometheus, e.g. `namespace="shop",service="recship"` (default: kubernetes namespace="<namespace>"; local model="<name>")',
  },
  {
    name: "alert-rule-labels",
    kind: "list",
    placeholder: "key=value,...",
    description:
      "kubernetes: labels for the PrometheusRule, e.g. release=kube-prometheus-stack (the label your Prometheus' ruleSelector picks)",
  },
  {
    name: "alert-error-rate",
    kind: "positive",
    default: String(d.errorRate),
    description: "Alert when this share of model requests fails (5xx) over 5 minutes",
  },
  {
    name: "alert-latency-p99",
    kind: "positive",
    default: String(d.latencyP99Seconds),
    placeholder: "seconds",
    description: "Alert when the p99 model request latency exceeds this, in seconds",
  },
  {
    name: "alert-no-traffic-minutes",
    kind: "int",
    default: String(d.noTrafficMinutes),
    description: "Alert when a ready stable model answers no request for this many minutes",
  },
  {
    name: "alert-cpu",
    kind: "positive",
    default: String(d.cpu),
    description: "Alert when a server uses this share of its CPU limit (15 minutes)",
  },
  {
    name: "alert-memory",
    kind: "positive",
    default: String(d.memory),
    description: "Alert when a server's resident memory reaches this share of its memory limit",
  },
  {
    name: "alert-event-loop-lag",
    kind: "positive",
    default: String(d.eventLoopLagSeconds),
    placeholder: "seconds",
    description: "Alert when a server's event loop lag (p99) exceeds this, in seconds",
  },
  {
    name: "alert-psi",
    kind: "positive",
    default: String(d.psi),
    description:
      "Alert when the population stability index between the live and the validation distribution of the first recommendation's score, or of the recommended items' popularity, exceeds this (0.1 small, 0.25 large)",
  },
  {
    name: "alert-drift-window",
    kind: "text",
    default: d.driftWindow,
    placeholder: "duration",
    description: "The window the drift statistics are computed over (a Prometheus duration)",
  },
  {
    name: "alert-coverage-ratio",
    kind: "positive",
    default: String(d.coverageRatio),
    description:
      "Alert when the recommended items cover less than this fraction of the catalogue share they covered for as many validation users",
  },
  {
    name: "alert-ctr-drop",
    kind: "positive",
    default: String(d.ctrDrop),
    description: "Alert when clicks per recommended item (from /v1/feedback) fall by this fraction against the day before",
  },
  {
    name: "alert-ctr-window",
    kind: "text",
    default: d.ctrWindow,
    placeholder: "duration",
    description: "The window the click-through rate is compared over (a Prometheus duration)",
  },
];

export interface AlertOptions {
  mode: AlertMode;
  /** Unset: the target's default (kubernetes namespace="<namespace>", local model="<name>"). */
  selector?: string;
  ruleLabels: Record<string, string>;
  thresholds: AlertThresholds;
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

function duration(o: OptionReader, name: string): string {
  const v = o.requiredText(name);
  if (!DURATION.test(v)) throw new RecshipError(`${o.where(name)} must be a Prometheus duration such as 30m or 1h, got "${v}"`);
  return v;
}

function share(o: OptionReader, name: string, max = 1): number {
  const v = o.positive(name)!;
  if (!(v > 0 && v <= max)) throw new RecshipError(`${o.where(name)} must be a number above 0 and at most ${max}, got ${v}`);
  return v;
}

/** Label matchers as written in PromQL braces: name op "value", comma-separated (checked loosely; Prometheus parses them). */
function checkSelector(o: OptionReader): string | undefined {
  const v = o.text("alert-selector")?.trim();
  if (v === undefined) return undefined;
  const matcher = /^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$/;
  const parts = v.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
  if (!parts.every((p) => matcher.test(p))) {
    throw new RecshipError(
      `${o.where("alert-selector")} must be PromQL label matchers such as namespace="shop",service="recship", got ${v}`,
    );
  }
  return v;
}

function minutes(o: OptionReader, name: string): number {
  const v = o.int(name)!;
  if (!(v >= 1)) throw new RecshipError(`${o.where(name)} must be a whole number of minutes, at least 1, got ${v}`);
  return v;
}

function ruleLabels(o: OptionReader): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of o.list("alert-rule-labels") ?? []) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_./-]*)=([A-Za-z0-9_.-]*)$/.exec(item.trim());
    if (!m) throw new RecshipError(`${o.where("alert-rule-labels")}: "${item}" is not key=value (a Kubernetes label)`);
    out[m[1]] = m[2];
  }
  return out;
}

/** The alert settings from the deploy inputs, checked. */
export function alertOptionsFrom(o: OptionReader): AlertOptions {
  return {
    mode: o.choice<AlertMode>("alerts") ?? "auto",
    selector: checkSelector(o),
    ruleLabels: ruleLabels(o),
    thresholds: {
      ...DEFAULT_THRESHOLDS,
      errorRate: share(o, "alert-error-rate"),
      latencyP99Seconds: o.positive("alert-latency-p99")!,
      noTrafficMinutes: minutes(o, "alert-no-traffic-minutes"),
      cpu: share(o, "alert-cpu", 10),
      memory: share(o, "alert-memory"),
      eventLoopLagSeconds: o.positive("alert-event-loop-lag")!,
      psi: o.positive("alert-psi")!,
      driftWindow: duration(o, "alert-drift-window"),
      coverageRatio: share(o, "alert-coverage-ratio"),
      ctrDrop: share(o, "alert-ctr-drop"),
      ctrWindow: duration(o, "alert-ctr-window"),
    },
  };
}

/** The local target's alert settings: its model name (the server's default "recommender") picks its series unless a selector is given. */
export function localAlertSettings(alerts: AlertOptions, modelName: string | undefined): AlertSettings {
  const app = modelName ?? "recommender";
  return { app, selector: alerts.selector ?? `model="${app}"`, thresholds: alerts.thresholds };
}
