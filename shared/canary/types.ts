/** The two sides of a canary analysis. */
export type Variant = "stable" | "canary";

import type { Bucket, Direction, MarginKind } from "../stats/types.js";

// the statistics' vocabulary (shared/stats/types.ts), part of a check's definition here too
export type { Bucket, Direction, MarginKind };

/**
 * proportion: successes out of trials (error rate, click-through); histogram: a distribution
 * from Prometheus histogram buckets (latency); drift: two score histograms compared by PSI;
 * series: the points of a range query (a user's gauge or rate), compared as samples.
 */
export type CheckKind = "proportion" | "histogram" | "drift" | "series";

/**
 * pass: canary shown no worse than stable beyond the margin; fail: shown worse; inconclusive:
 * neither (no data, too little traffic, or not yet decided: never a pass); skipped: not
 * applicable (e.g. the shop sends no feedback events at all).
 */
export type Decision = "pass" | "fail" | "inconclusive" | "skipped";

export type Verdict = "promoted" | "rolled_back" | "inconclusive";

/** A label matcher of the embedded scrape source: an exact value or a regular expression (anchored). */
export type LabelMatch = string | { regex: string };

/** Series of one metric whose labels match, summed (the embedded scrape source's stand-in for PromQL). */
export interface SeriesSelector {
  /** The sample name as exposed, e.g. recship_http_requests_total or recship_http_request_duration_seconds_bucket. */
  metric: string;
  labels: Record<string, LabelMatch>;
}

/**
 * The model's validation reference as the server exports it (recship_reference_*): each bucket's
 * share (labelled bucket_le, not cumulative) and the observations behind the shares.
 */
interface ReferenceQueries {
  shares: string;
  observations: string;
}

export type CheckQueries =
  | { kind: "proportion"; numerator: string; denominator: string }
  | { kind: "histogram"; buckets: string; quantile?: string }
  | { kind: "drift"; buckets: string; reference?: ReferenceQueries }
  | { kind: "series"; query: string };

/**
 * The drift watch's baselines: the window before the one judged (the same query, one window
 * earlier), or the model's validation reference (drift checks whose queries read it).
 */
export type Baseline = "previous-window" | "reference";

type ScrapeSpec =
  { kind: "proportion"; numerator: SeriesSelector; denominator: SeriesSelector } | { kind: "histogram" | "drift"; buckets: SeriesSelector };

export interface CheckSpec {
  name: string;
  kind: CheckKind;
  description: string;
  direction: Direction;
  /** proportion: see marginKind; histogram/series: relative; drift: the PSI above which the scores have drifted. */
  margin: number;
  marginKind: MarginKind;
  /** A failing critical check rolls the canary back; promotion needs every critical check to pass. */
  critical: boolean;
  /** Fewest samples (requests, items, observations, points) per variant in an interval for it to count. */
  minSamples: number;
  /** Quantile shown for histogram checks (0.99). */
  quantile?: number;
  /**
   * Judge only intervals where the canary gets at least this share of the traffic (percent).
   * Latency depends on load: a server with a tenth of the requests answers slower (sleeping
   * threads, cold caches, the scheduler), so it is compared where both carry the same load.
   */
  fromWeight?: number;
  /** When neither variant has any numerator event, the check does not apply (feedback checks without feedback). */
  skipWithoutEvents?: boolean;
  /** PromQL templates ($variant, $version, $namespace, $interval). */
  queries: CheckQueries;
  /** How the embedded scrape source measures it; user checks have none (they need Prometheus). */
  scrape?: ScrapeSpec;
  /** The drift watch: what the last window is compared with (default the previous window). */
  against?: Baseline;
  builtin: boolean;
}

/** What a source measured for one check, one variant, one window. */
export type Measurement =
  | { kind: "counts"; successes: number; trials: number }
  | { kind: "buckets"; buckets: Bucket[] }
  | { kind: "series"; values: number[] }
  | { kind: "none"; reason: string };

export interface MeasuredVariant {
  measurement: Measurement;
  /** The queries (rendered PromQL, or the scraped selectors) behind it. */
  queries: string[];
  /** Histogram checks from Prometheus: the quantile query's answer for the window. */
  quantile?: number;
}

/** [start, end] in ms since the epoch. */
export interface Window {
  start: number;
  end: number;
}

/** Values of the template variables for one variant. */
export interface TemplateVars {
  variant: Variant;
  version: string;
  namespace: string;
  /** e.g. "30s" */
  interval: string;
}
