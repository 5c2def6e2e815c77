import {
  by,
  clickThrough,
  errorRate,
  latencyQuantile,
  MODEL_GROUP,
  MODEL_ROUTES,
  psi,
  RECORDED,
  series,
  VARIANT_GROUP,
} from "../../rollout/monitoring-promql.js";
import type { AlertSettings } from "./alert-rules.js";

/** One Grafana panel query. */
interface Target {
  refId: string;
  expr: string;
  legendFormat: string;
}

interface Panel {
  id: number;
  type: "timeseries";
  title: string;
  description: string;
  datasource: { type: "prometheus"; uid: "${datasource}" };
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig: { defaults: { unit: string; min?: number }; overrides: [] };
  targets: Target[];
}

/** A Grafana dashboard (JSON model, schema 39) as the sidecar or the import dialog takes it. */
export interface GrafanaDashboard {
  uid: string;
  title: string;
  tags: string[];
  schemaVersion: number;
  time: { from: string; to: string };
  refresh: string;
  templating: { list: Record<string, unknown>[] };
  panels: Panel[];
}

const MODEL = "{{model}} {{version}} {{variant}}";

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  /** [PromQL, legend] */
  targets: [string, string][];
}

/** Traffic, errors, latency and resources. */
function servicePanels(s: AlertSettings): PanelSpec[] {
  const S = s.selector;
  const G = MODEL_GROUP;
  return [
    {
      title: "Model requests",
      description: "Requests per second to /v1/recommend and V2 infer",
      unit: "reqps",
      targets: [[`sum ${by(G)} (rate(${series("recship_http_requests_total", S, MODEL_ROUTES)}[5m]))`, MODEL]],
    },
    {
      title: "Error rate",
      description: "Share of model requests answered 5xx",
      unit: "percentunit",
      targets: [[errorRate(S, "5m", G), MODEL]],
    },
    {
      title: "Latency",
      description: "Model request latency, p50 and p99",
      unit: "s",
      targets: [
        [latencyQuantile(0.5, S, "5m", G), `p50 ${MODEL}`],
        [latencyQuantile(0.99, S, "5m", G), `p99 ${MODEL}`],
      ],
    },
    {
      title: "Model run time and queue",
      description: "onnxruntime run time per batch (p99) and requests waiting for or in a run",
      unit: "s",
      targets: [
        [
          `histogram_quantile(0.99, sum ${by([...G, "le"])} (rate(${series("recship_batch_duration_seconds_bucket", S)}[5m])))`,
          `run p99 ${MODEL}`,
        ],
        [`sum ${by(G)} (${series("recship_model_queue_requests", S)})`, `queue ${MODEL}`],
      ],
    },
    {
      title: "CPU and memory",
      description: "Each server's CPU and resident memory as a share of its limits",
      unit: "percentunit",
      targets: [
        [`rate(${series("process_cpu_seconds_total", S)}[5m]) / ${series("recship_cpu_limit_cores", S)}`, "CPU {{pod}} {{instance}}"],
        [`${series("process_resident_memory_bytes", S)} / ${series("recship_memory_limit_bytes", S)}`, "memory {{pod}} {{instance}}"],
      ],
    },
    {
      title: "Event loop lag",
      description: "p99 of the main thread's event loop delay (HTTP and JSON wait while it is high)",
      unit: "s",
      targets: [[series("nodejs_eventloop_lag_p99_seconds", S), "{{pod}} {{instance}}"]],
    },
  ];
}

/** What the model recommends: drift from validation, coverage, clicks and feedback. */
function qualityPanels(s: AlertSettings): PanelSpec[] {
  const S = s.selector;
  const G = MODEL_GROUP;
  const w = s.thresholds.driftWindow;
  const psiOf = (recorded: string, reference: string) =>
    psi(recorded, reference, { recordedSelector: `recship_app="${s.app}"`, selector: S, group: G });
  return [
    {
      title: "Drift from validation (PSI)",
      description: `Population stability index over ${w} between live and validation: first recommendation's score, recommended items' popularity (0.1 small, 0.25 large)`,
      unit: "none",
      targets: [
        [psiOf(RECORDED.topScoreShare, "recship_reference_top_score_share"), `score ${MODEL}`],
        [psiOf(RECORDED.popularityShare, "recship_reference_popularity_share"), `popularity ${MODEL}`],
      ],
    },
    {
      title: "Catalogue coverage",
      description: "Distinct items among the last answers' first 10, as a share of the catalogue, against validation",
      unit: "percentunit",
      targets: [
        [`avg ${by(G)} (${series("recship_recommended_items_distinct_share", S)})`, `live ${MODEL}`],
        [`avg ${by(G)} (${series("recship_reference_distinct_share", S)})`, `validation ${MODEL}`],
      ],
    },
    {
      title: "Click-through",
      description: `Clicks on recommended items per recommended item (from /v1/feedback), over ${s.thresholds.ctrWindow} and the day before`,
      unit: "percentunit",
      targets: [
        [clickThrough(S, s.thresholds.ctrWindow, VARIANT_GROUP), "now {{model}} {{variant}}"],
        [clickThrough(S, "1d", VARIANT_GROUP, s.thresholds.ctrWindow), "day before {{model}} {{variant}}"],
      ],
    },
    {
      title: "Feedback events",
      description: "Feedback events per second by event and outcome",
      unit: "reqps",
      targets: [
        [`sum by (event, outcome, variant) (rate(${series("recship_feedback_total", S)}[5m]))`, "{{event}} {{outcome}} {{variant}}"],
      ],
    },
  ];
}

/** The dashboard for an app: every panel's PromQL uses the alerts' selector and windows. */
export function renderDashboard(s: AlertSettings): GrafanaDashboard {
  const panels: Panel[] = [...servicePanels(s), ...qualityPanels(s)].map((p, i) => ({
    id: i + 1,
    type: "timeseries",
    title: p.title,
    description: p.description,
    datasource: { type: "prometheus", uid: "${datasource}" },
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    fieldConfig: { defaults: { unit: p.unit, ...(p.unit === "percentunit" ? { min: 0 } : {}) }, overrides: [] },
    targets: p.targets.map(([expr, legendFormat], j) => ({ refId: String.fromCharCode(65 + j), expr, legendFormat })),
  }));
  return {
    uid: `recship-${s.app}`.slice(0, 40),
    title: `recship: ${s.app}`,
    tags: ["recship"],
    schemaVersion: 39,
    time: { from: "now-6h", to: "now" },
    refresh: "1m",
    templating: {
      list: [{ name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0 }],
    },
    panels,
  };
}
