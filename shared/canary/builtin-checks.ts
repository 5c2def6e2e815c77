import type { CheckSpec, SeriesSelector } from "./types.js";

/** The model routes every built-in check looks at: the shop's API and the Open Inference Protocol. */
const MODEL_ROUTES = "/v1/recommend|/v2/models/:name/infer";
const SELECT = 'variant="$variant",version="$version",namespace=~"$namespace"';
const ROUTES = `route=~"${MODEL_ROUTES}"`;

function scrape(metric: string, labels: SeriesSelector["labels"] = {}): SeriesSelector {
  return { metric, labels };
}

const ERROR_RATE: CheckSpec = {
  name: "error-rate",
  kind: "proportion",
  description: "share of model requests answered 5xx",
  direction: "lower",
  margin: 0.01,
  marginKind: "absolute",
  critical: true,
  minSamples: 50,
  queries: {
    kind: "proportion",
    numerator: `sum(increase(recship_http_requests_total{${ROUTES},status=~"5..",${SELECT}}[$interval]))`,
    denominator: `sum(increase(recship_http_requests_total{${ROUTES},status!="aborted",${SELECT}}[$interval]))`,
  },
  scrape: {
    kind: "proportion",
    numerator: scrape("recship_http_requests_total", { route: { regex: MODEL_ROUTES }, status: { regex: "5.." } }),
    denominator: scrape("recship_http_requests_total", { route: { regex: MODEL_ROUTES }, status: { regex: "[0-9]+" } }),
  },
  builtin: true,
};

const LATENCY_P99: CheckSpec = {
  name: "latency-p99",
  kind: "histogram",
  description: "model request latency: p99 shown, the whole distribution compared (Mann–Whitney, Hodges–Lehmann)",
  direction: "lower",
  margin: 0.15,
  marginKind: "relative",
  critical: true,
  minSamples: 50,
  quantile: 0.99,
  fromWeight: 50,
  queries: {
    kind: "histogram",
    buckets: `sum by (le) (increase(recship_http_request_duration_seconds_bucket{${ROUTES},${SELECT}}[$interval]))`,
    quantile: `histogram_quantile(0.99, sum by (le) (rate(recship_http_request_duration_seconds_bucket{${ROUTES},${SELECT}}[$interval])))`,
  },
  scrape: { kind: "histogram", buckets: scrape("recship_http_request_duration_seconds_bucket", { route: { regex: MODEL_ROUTES } }) },
  builtin: true,
};

/** A shopper event on recommended items per recommendation served (skipped while the shop sends no feedback). */
function feedbackRate(name: string, event: string, description: string, critical: boolean): CheckSpec {
  return {
    name,
    kind: "proportion",
    description,
    direction: "higher",
    margin: 0.1,
    marginKind: "relative",
    critical,
    minSamples: 200,
    skipWithoutEvents: true,
    queries: {
      kind: "proportion",
      numerator: `sum(increase(recship_feedback_total{event="${event}",outcome="recommended",${SELECT}}[$interval]))`,
      denominator: `sum(increase(recship_recommendations_served_total{${SELECT}}[$interval]))`,
    },
    scrape: {
      kind: "proportion",
      numerator: scrape("recship_feedback_total", { event, outcome: "recommended" }),
      denominator: scrape("recship_recommendations_served_total"),
    },
    builtin: true,
  };
}

const SCORE_DRIFT: CheckSpec = {
  name: "score-drift",
  kind: "drift",
  description: "PSI between the canary's and stable's recommendation score histograms",
  direction: "lower",
  margin: 0.2,
  marginKind: "absolute",
  critical: false,
  minSamples: 200,
  queries: { kind: "drift", buckets: `sum by (le) (increase(recship_recommendation_score_bucket{${SELECT}}[$interval]))` },
  scrape: { kind: "drift", buckets: scrape("recship_recommendation_score_bucket") },
  builtin: true,
};

/**
 * The built-in checks, each a PromQL template over the model server's own series
 * (shared/serve/metrics.ts) plus the same selection for the embedded scrape source.
 */
export function builtinChecks(): CheckSpec[] {
  return structuredClone([
    ERROR_RATE,
    LATENCY_P99,
    feedbackRate("click-through", "click", "clicks on recommended items per recommendation served", true),
    feedbackRate("add-to-cart", "add_to_cart", "add-to-cart of recommended items per recommendation served", false),
    SCORE_DRIFT,
  ]);
}

/**
 * A drift watch check: the last window's histogram of `metric` against the model's validation
 * reference, which every server exports beside its live series (so each version is compared
 * with its own). PSI above the margin and significant (χ² against the reference's observations)
 * is drift.
 */
function referenceDrift(name: string, metric: string, reference: string, histogram: string, description: string): CheckSpec {
  return {
    name,
    kind: "drift",
    description,
    direction: "lower",
    margin: 0.2,
    marginKind: "absolute",
    critical: true,
    minSamples: 200,
    queries: {
      kind: "drift",
      buckets: `sum by (le) (increase(${metric}_bucket{${SELECT}}[$interval]))`,
      reference: {
        shares: `max by (bucket_le) (${reference}{${SELECT}})`,
        observations: `max(recship_reference_observations{histogram="${histogram}",${SELECT}})`,
      },
    },
    against: "reference",
    builtin: true,
  };
}

/**
 * The drift watch's built-ins (monitor-canary mode watch): the canary's, each comparing the last
 * window with the one before it, plus two against the model's validation reference. Latency is
 * shown, not raised: it follows the load, which differs from one window to the next.
 */
export function watchBuiltinChecks(): CheckSpec[] {
  const fromCanary = builtinChecks().map((c): CheckSpec => {
    const check: CheckSpec = { ...c };
    delete check.fromWeight; // every window carries the whole stable traffic
    if (c.name === "latency-p99")
      return { ...check, critical: false, description: `${c.description}; load differs between windows, so shown, not raised` };
    if (c.name === "score-drift") return { ...check, description: "PSI between the recommendation score histograms of the two windows" };
    return check;
  });
  return [
    ...fromCanary,
    referenceDrift(
      "top-score-vs-validation",
      "recship_recommendation_top_score",
      "recship_reference_top_score_share",
      "top_score",
      "PSI between the first recommendation's score in the window and for the model's validation users",
    ),
    referenceDrift(
      "popularity-vs-validation",
      "recship_recommended_item_popularity",
      "recship_reference_popularity_share",
      "popularity",
      "PSI between the popularity of the recommended items in the window and for the model's validation users",
    ),
  ];
}

/** The query a report shows first for a check (numerator, buckets or the series query). */
export function mainQuery(spec: CheckSpec): string {
  const q = spec.queries;
  switch (q.kind) {
    case "proportion":
      return q.numerator;
    case "histogram":
      return q.quantile ?? q.buckets;
    case "drift":
      return q.buckets;
    case "series":
      return q.query;
  }
}
