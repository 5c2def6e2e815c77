import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, exponentialBuckets } from "prom-client";
import { POPULARITY_BUCKETS, SCORE_BUCKETS, type MonitoringReference } from "../bundle/monitoring-reference.js";

/**
 * Request latency buckets: 25 % apart from 0.25 ms to ~42 ms (where a recommendation request
 * lands), then coarse up to 5 s. monitor-canary compares canary and stable latency from these
 * buckets, so their spacing is its resolution: with 1-2-5 buckets, a ×1.5 slowdown of a 1–2 ms
 * request mostly stays inside one bucket and goes unseen.
 */
export const REQUEST_LATENCY_BUCKETS: number[] = [
  ...exponentialBuckets(0.00025, 1.25, 24).map((b) => Number(b.toPrecision(3))),
  0.05,
  0.1,
  0.2,
  0.5,
  1,
  2,
  5,
];

export const FEEDBACK_EVENTS = ["click", "add_to_cart", "purchase"] as const;
export type FeedbackEvent = (typeof FEEDBACK_EVENTS)[number];

/**
 * Why the server closed (or lost) a connection for what its client did: request_timeout (headers
 * or body not complete within --headers-timeout / --request-timeout), malformed (not HTTP/1.1 the
 * parser accepts), headers_too_large, connection_reset (the client reset or closed it mid-headers;
 * mid-body it is counted by the route, in recship_http_client_aborts_total),
 * over_connection_limit (--max-connections reached: closed as it arrived).
 */
const CONNECTION_ERROR_REASONS = [
  "request_timeout",
  "malformed",
  "headers_too_large",
  "connection_reset",
  "over_connection_limit",
] as const;
export type ConnectionErrorReason = (typeof CONNECTION_ERROR_REASONS)[number];

export interface MetricLabels {
  /** The served model's name. */
  model: string;
  /** The model version (see modelVersion()). */
  version: string;
  variant: string;
}

/**
 * The server's Prometheus series, in a registry of its own (several servers can share a
 * process in tests). Every series carries model, version and variant labels, so stable and
 * canary can be told apart after both are scraped into one place.
 */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "method" | "status">;
  readonly latency: Histogram<"route">;
  readonly inflight: Gauge;
  /** What clients did to the server (see CONNECTION_ERROR_REASONS; aborts by route and phase). */
  readonly clientAborts = new Counter({
    name: "recship_http_client_aborts_total",
    help: "Requests whose client hung up: phase request (before its body was complete) or response (before the answer was complete)",
    labelNames: ["route", "phase"] as const,
    registers: [this.registry],
  });
  readonly connectionErrors = new Counter({
    name: "recship_http_connection_errors_total",
    help: `Connections closed for what their client did, by reason: ${CONNECTION_ERROR_REASONS.join(", ")}`,
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly heavyInflight = new Gauge({
    name: "recship_heavy_requests_inflight",
    help: "Heavy V2 infer answers (1 MiB or more) being built and sent (at most --max-heavy-requests)",
    registers: [this.registry],
  });
  readonly batchSize: Histogram;
  readonly batchRequests: Histogram;
  readonly batchSeconds: Histogram;
  readonly scores: Histogram;
  readonly topScore: Histogram;
  readonly recommendations: Counter;
  readonly unknownItems: Counter;
  readonly feedback: Counter<"event" | "outcome">;
  /** Model requests handed to the batcher and not answered yet (waiting for a run, or in one). */
  readonly queueDepth = new Gauge({
    name: "recship_model_queue_requests",
    help: "Requests handed to the model and not answered yet (waiting for a run, or in one)",
    registers: [this.registry],
  });
  /** Popularity of the first items of each answer: the share of the catalogue more popular than the item (0: the most popular). */
  readonly popularity = new Histogram({
    name: "recship_recommended_item_popularity",
    help: "Popularity of the first 10 items of each /v1/recommend answer: the share of the catalogue with more training interactions (0 = the most popular item)",
    buckets: [...POPULARITY_BUCKETS],
    registers: [this.registry],
  });
  readonly coverageShare = new Gauge({
    name: "recship_recommended_items_distinct_share",
    help: "Distinct items among the first 10 of the last recship_coverage_window_requests answers, as a share of the catalogue (NaN until the window is full)",
    registers: [this.registry],
  });
  readonly coverageWindow = new Gauge({
    name: "recship_coverage_window_requests",
    help: "Answers the coverage window holds (it is full at the size the model's monitoring reference was computed with)",
    registers: [this.registry],
  });
  /** The cgroup's CPU quota in cores (else the cores this process may use), and its memory limit (else the machine's memory). */
  readonly cpuLimit = new Gauge({
    name: "recship_cpu_limit_cores",
    help: "CPU the server may use, in cores: its cgroup quota (a Kubernetes CPU limit), else the cores it can run on",
    registers: [this.registry],
  });
  readonly memoryLimit = new Gauge({
    name: "recship_memory_limit_bytes",
    help: "Memory the server may use: its cgroup limit (a Kubernetes memory limit), else the machine's memory",
    registers: [this.registry],
  });
  readonly referenceTopScore = new Gauge({
    name: "recship_reference_top_score_share",
    help: "Monitoring reference from validation: share of users whose first recommendation's score fell in the bucket ending at bucket_le (not cumulative)",
    labelNames: ["bucket_le"] as const,
    registers: [this.registry],
  });
  readonly referencePopularity = new Gauge({
    name: "recship_reference_popularity_share",
    help: "Monitoring reference from validation: share of recommended items whose popularity fell in the bucket ending at bucket_le (not cumulative)",
    labelNames: ["bucket_le"] as const,
    registers: [this.registry],
  });
  readonly referenceObservations = new Gauge({
    name: "recship_reference_observations",
    help: "Monitoring reference from validation: observations behind its shares (histogram top_score: validation users; popularity: the items recommended to them)",
    labelNames: ["histogram"] as const,
    registers: [this.registry],
  });
  readonly referenceCoverage = new Gauge({
    name: "recship_reference_distinct_share",
    help: "Monitoring reference from validation: recship_recommended_items_distinct_share over as many validation users as the window holds answers",
    registers: [this.registry],
  });
  readonly ready: Gauge;
  readonly info: Gauge<"artifact" | "device" | "created_at" | "weights_sha256">;

  constructor(labels: MetricLabels) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ ...labels });
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: "recship_http_requests_total",
      help: "HTTP requests by route template, method and status code",
      labelNames: ["route", "method", "status"],
      registers,
    });
    this.latency = new Histogram({
      name: "recship_http_request_duration_seconds",
      help: "Time from request start to the response's end, by route template",
      labelNames: ["route"],
      buckets: REQUEST_LATENCY_BUCKETS,
      registers,
    });
    this.inflight = new Gauge({ name: "recship_http_inflight_requests", help: "Requests being served (not /metrics)", registers });
    this.batchSize = new Histogram({
      name: "recship_batch_size",
      help: "Histories (rows) per onnxruntime run",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.batchRequests = new Histogram({
      name: "recship_batch_requests",
      help: "Requests sharing one onnxruntime run",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: "recship_batch_duration_seconds",
      help: "onnxruntime run time per batch",
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    });
    const scoreBuckets = [...SCORE_BUCKETS];
    this.scores = new Histogram({
      name: "recship_recommendation_score",
      help: "Model scores of every recommended item (drift: compare the distribution between versions and over time)",
      buckets: scoreBuckets,
      registers,
    });
    this.topScore = new Histogram({
      name: "recship_recommendation_top_score",
      help: "Model score of the first recommended item per request",
      buckets: scoreBuckets,
      registers,
    });
    this.recommendations = new Counter({
      name: "recship_recommendations_served_total",
      help: "Items returned by /v1/recommend",
      registers,
    });
    this.unknownItems = new Counter({
      name: "recship_unknown_items_total",
      help: "History items /v1/recommend skipped because the model does not know them",
      registers,
    });
    this.feedback = new Counter({
      name: "recship_feedback_total",
      help: "Feedback events; outcome: recommended (the item was in that response), not_recommended, unknown_request (not served here or too old)",
      labelNames: ["event", "outcome"],
      registers,
    });
    this.ready = new Gauge({ name: "recship_model_ready", help: "1 when the model is loaded and warmed up", registers });
    this.info = new Gauge({
      name: "recship_model_info",
      help: "The served model (value 1)",
      labelNames: ["artifact", "device", "created_at", "weights_sha256"],
      registers,
    });
    for (const reason of CONNECTION_ERROR_REASONS) this.connectionErrors.inc({ reason }, 0);
    for (const event of FEEDBACK_EVENTS) {
      for (const outcome of ["recommended", "not_recommended", "unknown_request"]) this.feedback.inc({ event, outcome }, 0);
    }
  }

  /** Exports the model's monitoring reference beside the live series, so a rule compares each version with its own. */
  setReference(ref: MonitoringReference): void {
    const label = (buckets: readonly number[], i: number) => (i < buckets.length ? String(buckets[i]) : "+Inf");
    ref.topScore.shares.forEach((share, i) => this.referenceTopScore.set({ bucket_le: label(ref.topScore.buckets, i) }, share));
    ref.popularity.shares.forEach((share, i) => this.referencePopularity.set({ bucket_le: label(ref.popularity.buckets, i) }, share));
    this.referenceCoverage.set(ref.coverage.distinctShare);
    this.referenceObservations.set({ histogram: "top_score" }, ref.users);
    this.referenceObservations.set({ histogram: "popularity" }, ref.users * ref.listLength);
  }
}
