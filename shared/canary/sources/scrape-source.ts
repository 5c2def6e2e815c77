import { RecshipError } from "../../errors.js";
import type { Bucket, CheckSpec, MeasuredVariant, SeriesSelector, TemplateVars, Variant, Window } from "../types.js";
import { describeSelector, parseExposition, select, seriesKey, type ExposedSample } from "./exposition.js";
import type { MetricSource, Readiness } from "./source.js";
import { SourceUnavailable } from "./source.js";

export interface ScrapeSourceOptions {
  /** Each variant's server (its /metrics is scraped), e.g. http://127.0.0.1:40123 */
  endpoints: Record<Variant, string>;
  timeoutMs?: number;
  /** Further attempts per scrape (default 2). */
  retries?: number;
}

interface Snapshot {
  at: number;
  samples: Record<Variant, ExposedSample[]>;
}

/**
 * The embedded default without Prometheus: both servers' /metrics are scraped at the start
 * and at the end of every window, and a check's numbers are the counters' increase between
 * the two scrapes (exact counts; a counter that went down was reset and counts from zero).
 * Only checks with a scrape selection (the built-ins) can run here; PromQL needs Prometheus.
 */
export class ScrapeSource implements MetricSource {
  readonly kind = "scrape";
  readonly description: string;
  private readonly snapshots: Snapshot[] = [];

  constructor(private readonly options: ScrapeSourceOptions) {
    this.description = `scraping ${options.endpoints.stable}/metrics (stable) and ${options.endpoints.canary}/metrics (canary)`;
  }

  async validate(checks: readonly CheckSpec[]): Promise<void> {
    const promqlOnly = checks.filter((c) => !c.scrape);
    if (promqlOnly.length) {
      throw new RecshipError(
        `check(s) ${promqlOnly.map((c) => `"${c.name}"`).join(", ")} are PromQL, which only Prometheus can evaluate; without a Prometheus URL the servers' /metrics are scraped directly`,
        { fix: "pass the Prometheus URL (prometheus-url / --prometheus-url), or drop those checks" },
      );
    }
  }

  async ready(vars: readonly TemplateVars[]): Promise<Readiness> {
    const missing: string[] = [];
    for (const v of vars) {
      const samples = await this.scrape(v.variant);
      const ready = samples.find(
        (s) => s.name === "recship_model_ready" && s.labels.variant === v.variant && s.labels.version === v.version,
      );
      if (!ready || ready.value !== 1) missing.push(`${v.variant} (version ${v.version})`);
    }
    return missing.length
      ? { ready: false, message: `${missing.join(" and ")} not serving that version yet` }
      : { ready: true, message: "both servers answer /metrics" };
  }

  async mark(at: number): Promise<void> {
    const [stable, canary] = await Promise.all([this.scrape("stable"), this.scrape("canary")]);
    this.snapshots.push({ at, samples: { stable, canary } });
    if (this.snapshots.length > 4) this.snapshots.shift();
  }

  async measure(check: CheckSpec, vars: TemplateVars, window: Window): Promise<MeasuredVariant> {
    const spec = check.scrape;
    if (!spec) throw new RecshipError(`check "${check.name}" needs Prometheus`);
    const from = this.snapshots.find((s) => s.at === window.start);
    const to = this.snapshots.find((s) => s.at === window.end);
    if (!from || !to) throw new Error(`no scrape at ${!from ? "the window's start" : "the window's end"} (mark() was not called)`);
    const url = `${this.options.endpoints[vars.variant]}/metrics`;
    const extra = { variant: vars.variant, version: vars.version };
    const describe = (sel: SeriesSelector) =>
      `scrape ${url}: increase of ${describeSelector(sel, extra)} over ${(window.end - window.start) / 1000}s`;
    const before = from.samples[vars.variant];
    const after = to.samples[vars.variant];
    if (spec.kind === "proportion") {
      const den = select(after, spec.denominator, extra);
      const queries = [describe(spec.numerator), describe(spec.denominator)];
      if (!den.length)
        return { queries, measurement: { kind: "none", reason: `${url} exposes no ${spec.denominator.metric} of this variant` } };
      return {
        queries,
        measurement: {
          kind: "counts",
          successes: increase(select(before, spec.numerator, extra), select(after, spec.numerator, extra)),
          trials: increase(select(before, spec.denominator, extra), den),
        },
      };
    }
    const queries = [describe(spec.buckets)];
    const now = select(after, spec.buckets, extra);
    if (!now.length) return { queries, measurement: { kind: "none", reason: `${url} exposes no ${spec.buckets.metric} of this variant` } };
    return { queries, measurement: { kind: "buckets", buckets: bucketIncrease(select(before, spec.buckets, extra), now) } };
  }

  private async scrape(variant: Variant): Promise<ExposedSample[]> {
    const url = `${this.options.endpoints[variant]}/metrics`;
    const retries = this.options.retries ?? 2;
    let problem = "";
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000) });
        const text = await res.text();
        if (res.status !== 200) {
          problem = `HTTP ${res.status}`;
          continue;
        }
        return parseExposition(text, url);
      } catch (error) {
        if (error instanceof RecshipError) throw error;
        const e = error as Error & { cause?: { code?: string } };
        problem = e.cause?.code ?? e.message;
      }
    }
    throw new SourceUnavailable(`the ${variant} server's ${url} could not be scraped (${problem})`);
  }
}

/** Sum over series of (after − before), a series that went down counting from zero (a restart). */
function increase(before: ExposedSample[], after: ExposedSample[]): number {
  const old = new Map(before.map((s) => [seriesKey(s), s.value]));
  let total = 0;
  for (const s of after) {
    const prev = old.get(seriesKey(s)) ?? 0;
    total += s.value >= prev ? s.value - prev : s.value;
  }
  return total;
}

/** Per le, the increase summed over the matching series. */
function bucketIncrease(before: ExposedSample[], after: ExposedSample[]): Bucket[] {
  const byLe = new Map<string, { before: ExposedSample[]; after: ExposedSample[] }>();
  for (const [list, key] of [
    [before, "before"],
    [after, "after"],
  ] as const) {
    for (const s of list) {
      const le = s.labels.le;
      if (le === undefined) continue;
      if (!byLe.has(le)) byLe.set(le, { before: [], after: [] });
      byLe.get(le)![key].push(s);
    }
  }
  return [...byLe]
    .map(([le, v]) => ({ le: le === "+Inf" ? Infinity : Number(le), count: increase(v.before, v.after) }))
    .filter((b) => !Number.isNaN(b.le))
    .sort((a, b) => a.le - b.le);
}
