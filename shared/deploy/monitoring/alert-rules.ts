import { POPULARITY_BUCKETS, SCORE_BUCKETS } from "../../bundle/monitoring-reference.js";
import {
  boundLabel,
  bucketShare,
  by,
  clickThrough,
  errorRate,
  latencyQuantile,
  MODEL_GROUP,
  MODEL_ROUTES,
  observations,
  psi,
  RECORDED,
  series,
  VARIANT_GROUP,
} from "../../rollout/monitoring-promql.js";

/** The alert thresholds (deploy inputs alert-*; see ALERT_OPTIONS for what each means and its default). */
export interface AlertThresholds {
  errorRate: number;
  latencyP99Seconds: number;
  noTrafficMinutes: number;
  cpu: number;
  memory: number;
  eventLoopLagSeconds: number;
  psi: number;
  driftWindow: string;
  /** Drift alerts need this many answers in the drift window. */
  driftMinAnswers: number;
  coverageRatio: number;
  ctrDrop: number;
  ctrWindow: string;
  /** The click-through alert needs this many clicks expected in its window at the baseline rate. */
  ctrMinExpectedClicks: number;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = {
  errorRate: 0.02,
  latencyP99Seconds: 0.5,
  noTrafficMinutes: 15,
  cpu: 0.9,
  memory: 0.9,
  eventLoopLagSeconds: 0.2,
  psi: 0.2,
  driftWindow: "1h",
  driftMinAnswers: 200,
  coverageRatio: 0.5,
  ctrDrop: 0.3,
  ctrWindow: "1h",
  ctrMinExpectedClicks: 50,
};

/** One Prometheus rule (recording or alerting), as in a rule file and a PrometheusRule's spec.groups. */
export interface PromRule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: PromRule[];
}

export interface AlertSettings {
  /** The app's name: a label on the recorded series (recship_app), so two apps' rules never write the same series. */
  app: string;
  /** Label matchers that pick this app's series, e.g. `namespace="shop"` (may be empty). */
  selector: string;
  thresholds: AlertThresholds;
}

const G = MODEL_GROUP;
const who = "{{ $labels.model }} {{ $labels.version }} ({{ $labels.variant }}, namespace {{ $labels.namespace }})";

function alert(
  name: string,
  severity: "critical" | "warning",
  expr: string,
  forDuration: string,
  summary: string,
  description: string,
): PromRule {
  return { alert: name, expr, for: forDuration, labels: { severity, app: "recship" }, annotations: { summary, description } };
}

/** One recording rule per bucket: the live share of a histogram's observations in it, labelled bucket_le like the reference. */
function shareRecords(record: string, metric: string, bounds: readonly number[], s: AlertSettings): PromRule[] {
  const o = { selector: s.selector, window: s.thresholds.driftWindow, group: G };
  return Array.from({ length: bounds.length + 1 }, (_, i) => ({
    record,
    expr: bucketShare(metric, bounds, i, o),
    labels: { bucket_le: boundLabel(i < bounds.length ? bounds[i] : Infinity), recship_app: s.app },
  }));
}

/** A PSI above the threshold with enough answers in the window for it to mean something. */
function psiAlert(name: string, what: string, recorded: string, reference: string, metric: string, s: AlertSettings): PromRule {
  const t = s.thresholds;
  const expr = `(${psi(recorded, reference, { recordedSelector: `recship_app="${s.app}"`, selector: s.selector, group: G })} > ${t.psi}) and on(${G.join(", ")}) (${observations(metric, s.selector, t.driftWindow, G)} >= ${t.driftMinAnswers})`;
  return alert(
    name,
    "warning",
    expr,
    "15m",
    `${what} drifted from validation (PSI {{ $value | printf "%.2f" }})`,
    `${who}: over the last ${t.driftWindow} the ${what} differs from what the model produced for validation users (population stability index {{ $value | printf "%.2f" }} > ${t.psi}; 0.1 is a small, 0.25 a large shift). Traffic or the catalogue moved away from the training data, or a feature pipeline broke: compare recent requests with the training log, consider retraining.`,
  );
}

function trafficAlerts(s: AlertSettings): PromRule[] {
  const t = s.thresholds;
  const answered = `sum ${by(G)} (increase(${series("recship_http_requests_total", s.selector, MODEL_ROUTES, 'status!="aborted"')}[5m]))`;
  const busy = `sum ${by(G)} (rate(${series("recship_http_requests_total", s.selector, MODEL_ROUTES)}[10m])) > 0`;
  return [
    alert(
      "RecshipHighErrorRate",
      "critical",
      `(${errorRate(s.selector, "5m", G)} > ${t.errorRate}) and on(${G.join(", ")}) (${answered} >= 20)`,
      "5m",
      "{{ $value | humanizePercentage }} of model requests fail",
      `${who} answers {{ $value | humanizePercentage }} of /v1/recommend and V2 infer requests with a 5xx (threshold ${t.errorRate * 100} %). See the server's log; roll back a canary that causes it.`,
    ),
    alert(
      "RecshipHighLatencyP99",
      "warning",
      `${latencyQuantile(0.99, s.selector, "5m", G)} > ${t.latencyP99Seconds}`,
      "10m",
      "p99 latency {{ $value | humanizeDuration }}",
      `${who}: 99 % of model requests finish within {{ $value | humanizeDuration }}, above ${t.latencyP99Seconds} s. Check CPU saturation and the queue depth (recship_model_queue_requests); add replicas or lower max-batch.`,
    ),
    alert(
      "RecshipNoTraffic",
      "warning",
      `sum ${by(G)} (${series("recship_model_ready", s.selector, 'variant="stable"')}) > 0 unless on(${G.join(", ")}) (${busy})`,
      `${t.noTrafficMinutes}m`,
      "a ready model receives no requests",
      `${who} is ready but has answered no model request for ${t.noTrafficMinutes} minutes: the shop, the Service or the route does not reach it.`,
    ),
  ];
}

function resourceAlerts(s: AlertSettings): PromRule[] {
  const t = s.thresholds;
  return [
    alert(
      "RecshipCpuSaturation",
      "warning",
      `rate(${series("process_cpu_seconds_total", s.selector)}[5m]) / ${series("recship_cpu_limit_cores", s.selector)} > ${t.cpu}`,
      "15m",
      "CPU at {{ $value | humanizePercentage }} of its limit",
      `A server of ${who} uses {{ $value | humanizePercentage }} of the CPU it may use (threshold ${t.cpu * 100} %): latency will follow. Add replicas (max-replicas) or CPU.`,
    ),
    alert(
      "RecshipMemorySaturation",
      "warning",
      `${series("process_resident_memory_bytes", s.selector)} / ${series("recship_memory_limit_bytes", s.selector)} > ${t.memory}`,
      "10m",
      "memory at {{ $value | humanizePercentage }} of its limit",
      `A server of ${who} holds {{ $value | humanizePercentage }} of its memory limit (threshold ${t.memory * 100} %): it is close to being OOM-killed. Raise memory, or lower --workers or the batch size.`,
    ),
    alert(
      "RecshipEventLoopLag",
      "warning",
      `${series("nodejs_eventloop_lag_p99_seconds", s.selector)} > ${t.eventLoopLagSeconds}`,
      "10m",
      "event loop lag p99 {{ $value | humanizeDuration }}",
      `A server of ${who} has its main thread blocked for {{ $value | humanizeDuration }} (p99, threshold ${t.eventLoopLagSeconds} s): HTTP and JSON wait. Check CPU saturation and answer sizes.`,
    ),
  ];
}

function qualityAlerts(s: AlertSettings): PromRule[] {
  const t = s.thresholds;
  const on = `on(${G.join(", ")})`;
  const coverage = `avg ${by(G)} (${series("recship_recommended_items_distinct_share", s.selector)})`;
  const reference = `avg ${by(G)} (${series("recship_reference_distinct_share", s.selector)})`;
  const H = VARIANT_GROUP;
  const now = clickThrough(s.selector, t.ctrWindow, H);
  const before = clickThrough(s.selector, "1d", H, t.ctrWindow);
  const served = `sum ${by(H)} (increase(${series("recship_recommendations_served_total", s.selector)}[${t.ctrWindow}]))`;
  return [
    psiAlert(
      "RecshipScoreDrift",
      "score of the first recommendation",
      RECORDED.topScoreShare,
      "recship_reference_top_score_share",
      "recship_recommendation_top_score",
      s,
    ),
    psiAlert(
      "RecshipPopularityDrift",
      "popularity of the recommended items",
      RECORDED.popularityShare,
      "recship_reference_popularity_share",
      "recship_recommended_item_popularity",
      s,
    ),
    alert(
      "RecshipCoverageDrop",
      "warning",
      `${coverage} < ${on} (${t.coverageRatio} * ${reference})`,
      "30m",
      "recommendations cover {{ $value | humanizePercentage }} of the catalogue",
      `${who}: the last answers' first items cover {{ $value | humanizePercentage }} of the catalogue, less than ${t.coverageRatio} × what the same number of validation users got. The model recommends a narrowing set of items: check for a broken feature pipeline or a catalogue change.`,
    ),
    alert(
      "RecshipClickThroughDrop",
      "warning",
      `(${now} < ${1 - t.ctrDrop} * ${before}) and on(${H.join(", ")}) (${before} * ${served} >= ${t.ctrMinExpectedClicks})`,
      "30m",
      "click-through on recommendations {{ $value | humanizePercentage }}",
      `${who}: clicks per recommended item over the last ${t.ctrWindow} ({{ $value | humanizePercentage }}) are more than ${t.ctrDrop * 100} % below the day before. A model change, a front-end change, or drift: compare with the deploy history.`,
    ),
  ];
}

/**
 * One rule group: the drift shares recorded first, then every alert. A group's rules run in
 * order at one evaluation time, so the drift alerts read the shares recorded a moment before.
 */
export function renderRuleGroups(s: AlertSettings): RuleGroup[] {
  return [
    {
      name: "recship",
      rules: [
        ...shareRecords(RECORDED.topScoreShare, "recship_recommendation_top_score", SCORE_BUCKETS, s),
        ...shareRecords(RECORDED.popularityShare, "recship_recommended_item_popularity", POPULARITY_BUCKETS, s),
        ...trafficAlerts(s),
        ...resourceAlerts(s),
        ...qualityAlerts(s),
      ],
    },
  ];
}
