// PromQL for production monitoring, as pure text renderers: the alert rules deploy-k8s ships and
// whatever else reads the same series (a dashboard, a drift watch). Each helper's comment gives
// the quantity it computes.

/** The labels a model's series are told apart by: one alert per namespace, model, version and variant. */
export const MODEL_GROUP = ["namespace", "model", "version", "variant"] as const;
/** The same without the version, for comparisons across a promotion (today's model against yesterday's). */
export const VARIANT_GROUP = ["namespace", "model", "variant"] as const;
/** The routes that run the model. */
export const MODEL_ROUTES = 'route=~"/v1/recommend|/v2/models/:name/infer"';

/** Recorded series: the share of the window's observations in each bucket (label bucket_le), beside the reference's. */
export const RECORDED = {
  topScoreShare: "recship:top_score_share",
  popularityShare: "recship:popularity_share",
} as const;

/** A floor for shares inside a logarithm: an empty bucket adds a large but finite PSI term. */
const SHARE_FLOOR = 1e-4;

/** `metric{m1,m2}` with the empty matchers left out. */
export function series(metric: string, ...matchers: (string | undefined)[]): string {
  return `${metric}{${matchers.filter((m) => m && m.trim()).join(",")}}`;
}

/** `by (a, b)`. */
export function by(labels: readonly string[]): string {
  return `by (${labels.join(", ")})`;
}

/** A bucket bound as the server writes it ("1", "0.5", "+Inf"). */
export function boundLabel(bound: number): string {
  return bound === Infinity ? "+Inf" : String(bound);
}

/** The `le` matcher of a bucket: whole bounds also as "1.0", the spelling Prometheus 3 normalises them to. */
function leMatcher(bound: number): string {
  const label = boundLabel(bound);
  return Number.isInteger(bound) ? `le=~"${label}|${label}\\\\.0"` : `le="${label}"`;
}

/** Rate of one cumulative bucket, summed over the group: F(b) per second, F the count of observations ≤ b. */
function bucketRate(metric: string, selector: string, bound: number, window: string, group: readonly string[]): string {
  return `sum ${by(group)} (rate(${series(`${metric}_bucket`, selector, leMatcher(bound))}[${window}]))`;
}

/** p_i = (F(b_i) − F(b_{i−1})) / N: the share of the window's observations in bucket i, from cumulative counts. */
export function bucketShare(
  metric: string,
  bounds: readonly number[],
  i: number,
  o: { selector: string; window: string; group: readonly string[] },
): string {
  const upper = bucketRate(metric, o.selector, i < bounds.length ? bounds[i] : Infinity, o.window, o.group);
  const below = i > 0 ? ` - ${bucketRate(metric, o.selector, bounds[i - 1], o.window, o.group)}` : "";
  const total = `sum ${by(o.group)} (rate(${series(`${metric}_count`, o.selector)}[${o.window}]))`;
  return `(${upper}${below}) / ${total}`;
}

/** max(x, ε): a share floored for the logarithm. */
function floored(expr: string): string {
  return `clamp_min(${expr}, ${SHARE_FLOOR})`;
}

/**
 * PSI = Σ_i (p_i − q_i)·ln(p_i / q_i) over the buckets, p the recorded live shares and q the
 * reference's (both series labelled bucket_le), matched bucket by bucket within the group.
 */
export function psi(
  recorded: string,
  reference: string,
  o: { recordedSelector: string; selector: string; group: readonly string[] },
): string {
  const { selector, group } = o;
  const on = `on(${[...group, "bucket_le"].join(", ")})`;
  const p = floored(series(recorded, o.recordedSelector));
  const q = floored(`max ${by([...group, "bucket_le"])} (${series(reference, selector)})`);
  return `sum ${by(group)} ((${p} - ${on} ${q}) * ln(${p} / ${on} ${q}))`;
}

/** Σ increase(x_count[w]): observations in the window, the volume a drift statistic rests on. */
export function observations(metric: string, selector: string, window: string, group: readonly string[]): string {
  return `sum ${by(group)} (increase(${series(`${metric}_count`, selector)}[${window}]))`;
}

/** Σ 5xx / Σ answered, over the model routes: the error rate. */
export function errorRate(selector: string, window: string, group: readonly string[]): string {
  const requests = (status: string) =>
    `sum ${by(group)} (rate(${series("recship_http_requests_total", selector, MODEL_ROUTES, status)}[${window}]))`;
  return `${requests('status=~"5.."')} / ${requests('status!="aborted"')}`;
}

/** The q-quantile of the model routes' latency histogram. */
export function latencyQuantile(q: number, selector: string, window: string, group: readonly string[]): string {
  const buckets = series("recship_http_request_duration_seconds_bucket", selector, MODEL_ROUTES);
  return `histogram_quantile(${q}, sum ${by([...group, "le"])} (rate(${buckets}[${window}])))`;
}

/** clicks on recommended items / items recommended, over the window (offset: that long ago). */
export function clickThrough(selector: string, window: string, group: readonly string[], offset?: string): string {
  const at = offset ? ` offset ${offset}` : "";
  const clicks = series("recship_feedback_total", selector, 'event="click"', 'outcome="recommended"');
  const served = series("recship_recommendations_served_total", selector);
  return `(sum ${by(group)} (rate(${clicks}[${window}]${at})) / sum ${by(group)} (rate(${served}[${window}]${at})))`;
}
