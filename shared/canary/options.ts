import { KUBERNETES_CONNECTION_OPTIONS, KUBERNETES_SETTING_OPTIONS, kubernetesSettingsFrom } from "../deploy/k8s/options.js";
import type { KubernetesTargetOptions } from "../deploy/k8s/target.js";
import type { Logger } from "../log.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { RecshipError } from "../errors.js";
import {
  DEFAULT_STEPS,
  MONITOR_MODES,
  defaultSettings,
  parseSteps,
  parseWindow,
  watchSettings,
  type MonitorMode,
  type MonitorSettings,
  type WatchSettings,
} from "./settings.js";
import { parseEndpoints, parseHeaders, type SourceOptions } from "./setup.js";

const MONITOR_TARGETS = ["local", "kubernetes", "none"] as const;
export type MonitorTarget = (typeof MONITOR_TARGETS)[number];

/** The deployment settings a monitor offers: only for Deployments deploy-k8s did not record its settings on. */
const OFFERED_SETTINGS: Record<string, string> = {
  traffic: "kubernetes: replicas, gateway-api or istio, as given to deploy-k8s",
  gateway: "kubernetes, traffic gateway-api: the parent Gateway, as given to deploy-k8s",
  hostnames: "kubernetes, traffic gateway-api: host names, as given to deploy-k8s",
  replicas: "kubernetes: stable replicas, as given to deploy-k8s (the canary's count follows the weight)",
  cpu: "kubernetes: CPU request, as given to deploy-k8s",
  memory: "kubernetes: memory, as given to deploy-k8s",
};

const CONNECTION: Record<string, string> = {
  kubeconfig: KUBERNETES_CONNECTION_OPTIONS[0].description,
  context: "kubernetes: kubeconfig context (default: its current-context)",
  namespace:
    "Namespace of the deployment (kubernetes: default the context's); also the queries' $namespace unless query-namespace is given",
  name: "kubernetes: app name as given to deploy-k8s (default: recship)",
};

/** monitor-canary's options: `recship monitor` flags and the action's inputs (action.yml is generated from this). */
export const MONITOR_OPTIONS: readonly OptionSpec[] = [
  {
    name: "prometheus-url",
    kind: "text",
    placeholder: "url",
    description: "Prometheus server the checks query (empty: scrape the model servers' /metrics directly, local target only)",
  },
  {
    name: "prometheus-auth",
    kind: "text",
    frontEnds: ["action"],
    description:
      "Authorization header value for Prometheus, e.g. `Bearer <token>` from a secret (masked; the CLI's: RECSHIP_PROMETHEUS_AUTHORIZATION)",
  },
  {
    name: "prometheus-headers",
    flag: "prometheus-header",
    kind: "lines",
    placeholder: "header",
    description: "More headers for Prometheus, one `Name: value` a line (e.g. X-Scope-OrgID: tenant)",
  },
  { name: "prometheus-timeout", kind: "positive", default: "10", placeholder: "seconds", description: "Seconds per Prometheus query" },
  { name: "prometheus-retries", kind: "int", default: "2", description: "Further attempts after a failed query" },
  {
    name: "scrape",
    kind: "text",
    placeholder: "endpoints",
    description: "Scrape these servers instead of the target's: stable=<url>,canary=<url> (without prometheus-url)",
  },
  {
    name: "steps",
    kind: "text",
    default: DEFAULT_STEPS.join(","),
    placeholder: "weights",
    description: "Canary weights in percent, one interval each; a final 100 is the promotion",
  },
  {
    name: "interval",
    kind: "positive",
    default: "120",
    placeholder: "seconds",
    description: "Seconds per interval (one look per interval)",
  },
  {
    name: "confidence",
    kind: "positive",
    default: "0.98",
    description: "Confidence of every decision (each check's false alarm and false pass at most 1 − confidence)",
  },
  {
    name: "failure-limit",
    kind: "int",
    default: "0",
    description: "Intervals with a failing critical check tolerated before rolling back",
  },
  {
    name: "max-intervals",
    kind: "int",
    description:
      "Most intervals in all; the last step below 100 % is extended while critical checks are undecided (default: steps below 100 + 4)",
  },
  {
    name: "warmup",
    kind: "nonnegative",
    default: "120",
    placeholder: "seconds",
    description: "Longest wait, in seconds, for the metrics of both variants before the first interval",
  },
  {
    name: "source-failure-limit",
    kind: "int",
    default: "2",
    description: "Intervals in a row the metrics source may be unreachable before the analysis holds",
  },
  {
    name: "checks",
    kind: "text",
    placeholder: "yaml-or-file",
    description:
      "Checks: inline YAML or a YAML file; `builtins:` switches built-ins off or changes their margin/critical flag, `checks:` adds PromQL checks with $variant, $version, $namespace, $interval (see checks.example.yml)",
  },
  {
    name: "mode",
    kind: "choice",
    choices: MONITOR_MODES,
    default: "auto",
    description:
      "auto (move traffic, promote or roll back), observe (measure and report only) or watch (the drift watch, for a schedule: production's last window against the one before it and the model's validation reference; moves no traffic)",
  },
  {
    name: "window",
    kind: "text",
    default: "1h",
    placeholder: "duration",
    description:
      "watch: the window judged, e.g. 1h, 30m or 600 (seconds); windows end at multiples of it (UTC), so a late scheduled run judges the same window",
  },
  {
    name: "target",
    kind: "choice",
    choices: MONITOR_TARGETS,
    default: "local",
    description:
      "Deploy target that moves the traffic: local or kubernetes (as deploy-k8s), or none (observe with explicit versions; watch: the version Prometheus saw serve)",
  },
  {
    name: "state",
    kind: "text",
    default: ".recship/local-deploy.json",
    placeholder: "file",
    description: "local: state file of the local target",
  },
  ...KUBERNETES_CONNECTION_OPTIONS.map((s) => ({ ...s, description: CONNECTION[s.name] })),
  {
    name: "query-namespace",
    kind: "text",
    placeholder: "regex",
    description: "$namespace in the queries, a regular expression (default: namespace, else any)",
  },
  // every setting is declared (the reader shared with deploy-k8s asks for them); six are offered
  ...KUBERNETES_SETTING_OPTIONS.map((s) =>
    OFFERED_SETTINGS[s.name]
      ? { ...s, description: `${OFFERED_SETTINGS[s.name]} (only for Deployments without recorded settings)` }
      : { ...s, frontEnds: [] },
  ),
  {
    name: "stable-version",
    kind: "text",
    description:
      "Stable's model version (default: from the deploy target; watch without one: the stable version that answered most in the window)",
  },
  { name: "canary-version", kind: "text", description: "Canary's model version (default: from the deploy target)" },
  {
    name: "model-name",
    kind: "text",
    default: "default",
    frontEnds: ["action"],
    description: "Name in the comment and issue markers (one sticky comment, one drift issue per model)",
  },
  {
    name: "comment",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "auto and observe: post or update the sticky comment on the pull request or commit the deployment came from",
  },
  {
    name: "github-token",
    kind: "text",
    default: "${{ github.token }}",
    frontEnds: ["action"],
    description:
      "Token for the comment (pull-requests: write, or contents: write for commit comments); watch: for the issue (issues: write) and the retraining (actions: write)",
  },
  {
    name: "issue",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "watch: open or update one issue per model-name on drift, comment and close it when a window is healthy again",
  },
  {
    name: "issue-labels",
    kind: "list",
    frontEnds: ["action"],
    description: "watch: labels of a new drift issue (GitHub applies them only when the token may push)",
  },
  {
    name: "retrain-workflow",
    kind: "text",
    frontEnds: ["action"],
    description:
      "watch: a workflow (file name or id, with an `on: workflow_dispatch` trigger) to dispatch when drift opens an issue; once per issue",
  },
  {
    name: "retrain-ref",
    kind: "text",
    frontEnds: ["action"],
    description: "watch: the branch or tag to run it on (default: this run's branch)",
  },
  {
    name: "retrain-inputs",
    kind: "lines",
    frontEnds: ["action"],
    description: "watch: its workflow_dispatch inputs, one `name=value` a line",
  },
  {
    name: "fail-on-drift",
    kind: "boolean",
    default: "false",
    frontEnds: ["action"],
    description: "watch: fail the job when a window has drifted (the issue is the alert; the CLI always exits 1)",
  },
  {
    name: "fail-on-rollback",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "Fail the job when the canary is rolled back (the CLI always exits 1)",
  },
  {
    name: "fail-on-inconclusive",
    kind: "boolean",
    default: "false",
    description:
      "Fail the job (exit 1) when the canary is held (inconclusive), not only when it is rolled back; watch: when the window is inconclusive",
  },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description: "Also write the JSON report to this path (the action's default: monitor-canary-report.json)",
  },
  {
    name: "markdown",
    kind: "text",
    placeholder: "file",
    frontEnds: ["cli"],
    description: "Write the report as Markdown (default: printed to stdout)",
  },
];

/** The analysis settings (steps, interval, confidence, limits, mode, $namespace), checked. */
export function monitorSettingsFrom(o: OptionReader): MonitorSettings {
  return defaultSettings({
    steps: parseSteps(o.requiredText("steps"), o.where("steps")),
    intervalSeconds: o.positive("interval"),
    confidence: o.positive("confidence"),
    failureLimit: o.int("failure-limit"),
    maxIntervals: o.int("max-intervals"),
    warmupSeconds: o.nonnegative("warmup"),
    sourceFailureLimit: o.int("source-failure-limit"),
    mode: o.choice<MonitorMode>("mode"),
    namespace: o.text("query-namespace") ?? escapeRegex(o.text("namespace")) ?? ".*",
  });
}

/** The drift watch's settings (window, confidence, $namespace), checked. */
export function watchSettingsFrom(o: OptionReader): WatchSettings {
  return watchSettings({
    windowSeconds: parseWindow(o.requiredText("window"), o.where("window")),
    confidence: o.positive("confidence")!,
    namespace: o.text("query-namespace") ?? escapeRegex(o.text("namespace")) ?? ".*",
  });
}

/** `name=value` lines (a workflow_dispatch's inputs), checked. */
export function parseInputs(lines: readonly string[], where: string): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf("=");
    const name = i > 0 ? line.slice(0, i).trim() : "";
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
      throw new RecshipError(`"${line}" is not name=value`, { where, fix: "one input a line, e.g. reason=drift watch" });
    }
    inputs[name] = line.slice(i + 1).trim();
  }
  return inputs;
}

/** A namespace as the regular expression that matches it alone. */
function escapeRegex(text: string | undefined): string | undefined {
  return text?.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Where the metrics come from; `authorization` is the front end's (a masked input, or an environment variable). */
export function sourceOptionsFrom(o: OptionReader, authorization: string | undefined): SourceOptions {
  const headers = parseHeaders(o.lines("prometheus-headers"), o.where("prometheus-headers"));
  if (authorization) headers.authorization = authorization;
  const scrape = o.text("scrape");
  return {
    prometheusUrl: o.text("prometheus-url"),
    headers,
    timeoutMs: o.positive("prometheus-timeout")! * 1000,
    retries: o.int("prometheus-retries"),
    ...(scrape ? { endpoints: parseEndpoints(scrape, o.where("scrape")) } : {}),
  };
}

/** The Kubernetes target's options but the connection's kubeconfig: settings given only matter without recorded ones. */
export function kubernetesTargetOptionsFrom(o: OptionReader, log: Logger): Omit<KubernetesTargetOptions, "kubeconfig" | "tempDir"> {
  return {
    ...kubernetesSettingsFrom(o),
    ...(o.text("context") ? { context: o.text("context") } : {}),
    ...(o.text("namespace") ? { namespace: o.text("namespace") } : {}),
    ...(o.text("name") ? { name: o.text("name") } : {}),
    log,
  };
}
