import { RecshipError } from "../../errors.js";
import { promDuration, renderTemplate } from "../template.js";
import type { Bucket, CheckSpec, MeasuredVariant, TemplateVars, Window } from "../types.js";
import { PrometheusApi, PrometheusQueryError, type PrometheusApiOptions, type VectorSample } from "./prometheus-api.js";
import type { MetricSource, Readiness } from "./source.js";

const PRESENCE = 'count(recship_model_ready{variant="$variant",version="$version",namespace=~"$namespace"})';

function sum(samples: VectorSample[]): number {
  return samples.reduce((s, x) => s + (Number.isFinite(x.value) ? x.value : 0), 0);
}

/** `sum by (le)` answers as buckets; series without a numeric le are ignored. */
function toBuckets(samples: VectorSample[]): Bucket[] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    const raw = s.labels.le;
    if (raw === undefined) continue;
    const le = raw === "+Inf" ? Infinity : Number(raw);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + (Number.isFinite(s.value) ? s.value : 0));
  }
  return [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * Checks measured with PromQL: each window is one instant query per template at the window's
 * end, with $interval the window's length. An empty answer is reported as "no data" with the
 * query that gave it (a numerator with no series counts 0 events: no 5xx series means no errors),
 * never as a crash or a pass.
 */
export class PrometheusSource implements MetricSource {
  readonly kind = "prometheus";
  readonly description: string;
  readonly api: PrometheusApi;

  constructor(options: PrometheusApiOptions) {
    this.api = new PrometheusApi(options);
    this.description = `Prometheus at ${this.api.url}`;
  }

  async validate(checks: readonly CheckSpec[], vars: TemplateVars, now: number): Promise<void> {
    for (const check of checks) {
      for (const template of templates(check)) {
        const query = renderTemplate(template, vars);
        try {
          await this.api.instant(query, now);
        } catch (error) {
          if (error instanceof PrometheusQueryError) {
            throw new RecshipError(`check "${check.name}": ${error.detail}`, { where: query, fix: error.fix, cause: error });
          }
          throw error;
        }
      }
    }
  }

  async ready(vars: readonly TemplateVars[], at: number): Promise<Readiness> {
    const missing: string[] = [];
    for (const v of vars) {
      const found = sum(await this.api.instant(renderTemplate(PRESENCE, v), at));
      if (!(found > 0)) missing.push(`${v.variant} (version ${v.version})`);
    }
    return missing.length
      ? { ready: false, message: `Prometheus has no recship_model_ready series of ${missing.join(" and ")} yet` }
      : { ready: true, message: "Prometheus scrapes both variants" };
  }

  async mark(): Promise<void> {}

  async measure(check: CheckSpec, base: TemplateVars, window: Window): Promise<MeasuredVariant> {
    const vars = { ...base, interval: promDuration(window.end - window.start) };
    const q = check.queries;
    const at = window.end;
    switch (q.kind) {
      case "proportion": {
        const numerator = renderTemplate(q.numerator, vars);
        const denominator = renderTemplate(q.denominator, vars);
        const [num, den] = await Promise.all([this.api.instant(numerator, at), this.api.instant(denominator, at)]);
        const queries = [numerator, denominator];
        if (!den.length) return { queries, measurement: { kind: "none", reason: "the denominator query returned no series" } };
        return { queries, measurement: { kind: "counts", successes: sum(num), trials: sum(den) } };
      }
      case "histogram":
      case "drift": {
        const bucketsQuery = renderTemplate(q.buckets, vars);
        const quantileQuery = q.kind === "histogram" && q.quantile ? renderTemplate(q.quantile, vars) : undefined;
        const [buckets, quantile] = await Promise.all([
          this.api.instant(bucketsQuery, at),
          quantileQuery ? this.api.instant(quantileQuery, at) : Promise.resolve(undefined),
        ]);
        const queries = quantileQuery ? [quantileQuery, bucketsQuery] : [bucketsQuery];
        const parsed = toBuckets(buckets);
        const result: MeasuredVariant = {
          queries,
          measurement: parsed.length
            ? { kind: "buckets", buckets: parsed }
            : {
                kind: "none",
                reason: buckets.length ? "the buckets query returned series without an le label" : "the buckets query returned no series",
              },
        };
        if (quantile?.length && Number.isFinite(quantile[0].value)) result.quantile = quantile[0].value;
        return result;
      }
      case "series": {
        const query = renderTemplate(q.query, vars);
        const seconds = (window.end - window.start) / 1000;
        const step = Math.max(1, Math.round(seconds / 30));
        const series = await this.api.range(query, window.start, window.end, step);
        const values = series.flatMap((s) => s.values.map((v) => v.value)).filter(Number.isFinite);
        return {
          queries: [`${query}  (range ${seconds}s, step ${step}s)`],
          measurement: values.length ? { kind: "series", values } : { kind: "none", reason: "the range query returned no points" },
        };
      }
    }
  }
}

function templates(check: CheckSpec): string[] {
  const q = check.queries;
  switch (q.kind) {
    case "proportion":
      return [q.numerator, q.denominator];
    case "histogram":
      return q.quantile ? [q.buckets, q.quantile] : [q.buckets];
    case "drift":
      return [q.buckets];
    case "series":
      return [q.query];
  }
}
