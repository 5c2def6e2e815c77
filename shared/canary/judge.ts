import { holm } from "../stats/holm.js";
import { mainQuery } from "./builtin-checks.js";
import { addBuckets, bucketQuantile, cellsOf, pseudoSamples, totalCount, weightedPoints } from "../stats/histogram.js";
import { proportionEffect } from "../stats/proportion.js";
import { populationStability } from "../stats/psi.js";
import { hodgesLehmann, rankShiftEffect, samplePoints } from "../stats/rank-shift.js";
import { sequentialLook, type SequentialLook } from "../stats/sequential.js";
import type {
  Bucket,
  CheckKind,
  CheckSpec,
  Decision,
  Direction,
  MarginKind,
  MeasuredVariant,
  Measurement,
  Variant,
  Window,
} from "./types.js";

/** One variant's side of a check in one interval. */
export interface VariantResult {
  /** The interval's value: a rate, a quantile in seconds, a mean, or null without data. */
  value: number | null;
  /** Samples in the interval: requests, items, observations or points. */
  samples: number;
  /** The same over every interval so far (what the sequential test judges). */
  cumulativeValue: number | null;
  cumulativeSamples: number;
  /** e.g. "26 of 500" or "no data: the query returned no series". */
  detail: string;
  /** The interval's raw numbers: counts, cumulative buckets (le, count) or the series' points. */
  data: { successes: number; trials: number } | { buckets: { le: string; count: number }[] } | { values: number[] } | null;
}

export interface CheckResult {
  name: string;
  kind: CheckKind;
  description: string;
  critical: boolean;
  direction: Direction;
  margin: number;
  marginKind: MarginKind;
  /** The main PromQL actually run for the canary (or the scraped series). */
  query: string;
  /** Every query run for this check in this interval, canary's then stable's. */
  queries: string[];
  window: { start: string; end: string; seconds: number };
  canary: VariantResult;
  stable: VariantResult;
  /** The test statistic (z of the sequential test, or PSI for drift). */
  statistic: number | null;
  statisticName: string;
  /** Always-valid p-value of "the canary is worse than stable beyond the margin" (the smallest over the looks so far). */
  pValue: number | null;
  /** For critical checks: Holm-adjusted over the critical checks (what the rollback decision uses). */
  pAdjusted: number | null;
  /** Always-valid p-value of "the canary is no worse than the margin allows" (promotion needs it below α). */
  pBetter: number | null;
  /** The effect in the check's unit with its always-valid confidence sequence, and the margin in that unit. */
  effect: { name: string; estimate: number | null; lower: number | null; upper: number | null; margin: number | null };
  /** Histogram checks: the quantile shown as canary's and stable's value. */
  quantile?: number;
  /** Latency and series checks: Hodges–Lehmann estimate of canary ÷ stable. */
  hodgesLehmann?: number | null;
  decision: Decision;
  /** True while either variant has had no data at all (an empty query result, or no traffic): inconclusive, and a rollback if still so at the end for a critical check. */
  noData: boolean;
  /** Why, in one or two sentences. */
  message: string;
}

interface Accumulated {
  successes: number;
  trials: number;
  buckets: Bucket[];
  values: number[];
  samples: number;
}

function empty(): Accumulated {
  return { successes: 0, trials: 0, buckets: [], values: [], samples: 0 };
}

function samplesOf(m: Measurement): number {
  switch (m.kind) {
    case "counts":
      return m.trials;
    case "buckets":
      return totalCount(m.buckets);
    case "series":
      return m.values.length;
    case "none":
      return 0;
  }
}

const finite = (v: number | undefined | null): number | null => (v === undefined || v === null || !Number.isFinite(v) ? null : v);

const pct = (v: number | null, digits = 2) => (v === null ? "–" : `${(v * 100).toFixed(digits)}%`);
const ms = (v: number | null) => (v === null ? "–" : `${(v * 1000).toFixed(v < 0.01 ? 2 : 1)} ms`);
const num = (v: number | null, digits = 3) => (v === null ? "–" : Number(v.toPrecision(digits)).toString());

/**
 * Judges every check after every interval, canary against stable over the same window. Data
 * accumulates over the intervals and each look runs an always-valid sequential test, so looking
 * after every interval does not raise the false-alarm rate, a clearly bad canary fails at its
 * first look, and a clearly good one passes as soon as its evidence suffices.
 */
export class Judge {
  private readonly state = new Map<string, { acc: Record<Variant, Accumulated>; pWorse: number; pBetter: number; looks: number }>();
  readonly alpha: number;

  constructor(
    readonly checks: readonly CheckSpec[],
    options: { confidence: number; plannedLooks: number },
  ) {
    this.alpha = 1 - options.confidence;
    this.plannedLooks = Math.max(1, options.plannedLooks);
    for (const c of checks) this.state.set(c.name, { acc: { stable: empty(), canary: empty() }, pWorse: 1, pBetter: 1, looks: 0 });
  }

  private readonly plannedLooks: number;

  /**
   * One look. `measured` holds each check's numbers for both variants over `window`; a check
   * missing from it (or measured as none) has no data this interval. Critical checks' "fail"
   * is Holm's over the critical family, so several critical checks together still roll back a
   * healthy canary at most α of the time.
   */
  look(measured: Map<string, Record<Variant, MeasuredVariant>>, window: Window, context: { weight: number }): CheckResult[] {
    const results = this.checks.map((c) => this.lookOne(c, measured.get(c.name), window, context));
    const critical = results.map((r, i) => ({ r, i })).filter(({ r }) => r.critical && r.decision !== "skipped" && r.pValue !== null);
    const decisions = holm(
      critical.map(({ r }) => r.pValue!),
      this.alpha,
    );
    critical.forEach(({ r }, k) => {
      r.pAdjusted = decisions[k].adjusted;
      const failed = decisions[k].rejected;
      if (r.decision === "fail" && !failed) {
        r.decision = "inconclusive";
        r.message += ` Not significant after Holm's correction over the ${critical.length} critical checks (adjusted p = ${num(decisions[k].adjusted)}).`;
      }
    });
    return results;
  }

  private lookOne(
    spec: CheckSpec,
    measured: Record<Variant, MeasuredVariant> | undefined,
    window: Window,
    context: { weight: number },
  ): CheckResult {
    const st = this.state.get(spec.name)!;
    st.looks++;
    const none: MeasuredVariant = { queries: [], measurement: { kind: "none", reason: "not measured" } };
    const m: Record<Variant, MeasuredVariant> = measured ?? { canary: none, stable: none };
    const judged = spec.fromWeight === undefined || context.weight >= spec.fromWeight;
    if (judged) for (const v of ["canary", "stable"] as const) accumulate(st.acc[v], m[v].measurement);
    const interval = { canary: samplesOf(m.canary.measurement), stable: samplesOf(m.stable.measurement) };
    const acc = st.acc;
    const result: CheckResult = {
      name: spec.name,
      kind: spec.kind,
      description: spec.description,
      critical: spec.critical,
      direction: spec.direction,
      margin: spec.margin,
      marginKind: spec.marginKind,
      ...(spec.kind === "histogram" ? { quantile: spec.quantile ?? 0.99 } : {}),
      query: m.canary.queries[0] ?? mainQuery(spec),
      queries: [...m.canary.queries, ...m.stable.queries],
      window: {
        start: new Date(window.start).toISOString(),
        end: new Date(window.end).toISOString(),
        seconds: (window.end - window.start) / 1000,
      },
      canary: variantResult(spec, m.canary, acc.canary),
      stable: variantResult(spec, m.stable, acc.stable),
      statistic: null,
      statisticName: "",
      pValue: null,
      pAdjusted: null,
      pBetter: null,
      effect: { name: "", estimate: null, lower: null, upper: null, margin: null },
      decision: "inconclusive",
      noData: acc.canary.samples === 0 || acc.stable.samples === 0,
      message: "",
    };
    if (!judged && st.pWorse > this.alpha) {
      result.decision = "inconclusive";
      result.noData = false;
      result.message =
        `Judged from ${spec.fromWeight}% canary weight on, where both servers carry the same load (a server given a small share answers slower: ` +
        `sleeping threads, cold caches); this interval was at ${context.weight}% and is shown, not counted.`;
      return result;
    }
    if (acc.canary.samples === 0 || acc.stable.samples === 0) {
      const which = [acc.canary.samples === 0 ? "canary" : "", acc.stable.samples === 0 ? "stable" : ""].filter(Boolean).join(" and ");
      const reason = [m.canary, m.stable].map((x) => (x.measurement.kind === "none" ? x.measurement.reason : "")).find(Boolean);
      result.decision = "inconclusive";
      result.message = `No data for ${which} yet${reason ? ` (${reason})` : ""}: nothing to compare, so inconclusive, never a pass.`;
      return result;
    }
    if (spec.skipWithoutEvents && acc.canary.successes === 0 && acc.stable.successes === 0 && spec.kind === "proportion") {
      result.decision = "skipped";
      result.message = `Neither variant has recorded any such event (${acc.canary.trials + acc.stable.trials} served): the shop sends no feedback, so the check does not apply.`;
      return result;
    }
    const alpha = this.alpha;
    let seq: SequentialLook | undefined;
    let explain = "";
    switch (spec.kind) {
      case "proportion": {
        const e = proportionEffect(acc.canary, acc.stable, spec);
        seq = sequentialLook(e, alpha);
        const abs = spec.marginKind === "absolute";
        const sign = spec.direction === "lower" ? 1 : -1;
        // shown as canary − stable (pp) or canary ÷ stable, the way round a reader expects
        const show = (t: number) => (abs ? sign * t : Math.exp(sign * t));
        const [lo, hi] = [show(seq.lower), show(seq.upper)].sort((a, b) => a - b);
        result.effect = {
          name: abs ? "canary − stable" : "canary ÷ stable",
          estimate: finite(show(e.estimate)),
          lower: finite(lo),
          upper: finite(hi),
          margin: finite(show(e.threshold)),
        };
        result.statisticName = abs ? "z (difference of rates, Agresti–Caffo)" : "z (log rate ratio)";
        const fmt = (v: number | null) => (v === null ? "–" : abs ? `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)} pp` : `×${v.toFixed(3)}`);
        explain =
          `canary ${pct(finite(e.canaryRate))} (${acc.canary.successes.toFixed(0)} of ${acc.canary.trials.toFixed(0)}) vs stable ${pct(finite(e.stableRate))} ` +
          `(${acc.stable.successes.toFixed(0)} of ${acc.stable.trials.toFixed(0)}); ${result.effect.name} ${fmt(result.effect.estimate)}, ` +
          `${((1 - alpha) * 100).toFixed(0)}% always-valid interval [${fmt(result.effect.lower)}, ${fmt(result.effect.upper)}], margin ${fmt(result.effect.margin)}`;
        break;
      }
      case "histogram":
      case "series": {
        const hist = spec.kind === "histogram";
        const cCells = hist ? cellsOf(acc.canary.buckets) : [];
        const sCells = hist ? cellsOf(acc.stable.buckets) : [];
        const canarySamples = hist ? pseudoSamples(cCells) : acc.canary.values;
        const stableSamples = hist ? pseudoSamples(sCells) : acc.stable.values;
        const e = rankShiftEffect(canarySamples, stableSamples, {
          direction: spec.direction,
          margin: spec.margin,
          marginKind: spec.marginKind,
          nCanary: acc.canary.samples,
          nStable: acc.stable.samples,
        });
        seq = sequentialLook(e, alpha);
        const positive = [...canarySamples, ...stableSamples].every((v) => v > 0);
        const hl = hodgesLehmann(
          hist ? weightedPoints(cCells) : samplePoints(acc.canary.values),
          hist ? weightedPoints(sCells) : samplePoints(acc.stable.values),
          positive ? "ratio" : "difference",
        );
        result.hodgesLehmann = finite(hl);
        const adjusted =
          spec.marginKind === "relative"
            ? `${spec.direction === "lower" ? "(1 + " : "(1 − "}${spec.margin}) × stable`
            : `stable ${spec.direction === "lower" ? "+" : "−"} ${spec.margin}`;
        result.effect = {
          name: `P(canary worse than ${adjusted}) − ½`,
          estimate: finite(e.estimate),
          lower: finite(seq.lower),
          upper: finite(seq.upper),
          margin: 0,
        };
        result.statisticName = "z (Mann–Whitney U against the margin-adjusted stable)";
        const q = spec.quantile ?? 0.99;
        explain =
          (hist
            ? `p${Math.round(q * 100)} canary ${ms(finite(bucketQuantile(q, acc.canary.buckets)))} vs stable ${ms(finite(bucketQuantile(q, acc.stable.buckets)))}, `
            : `canary median ${num(finite(median(acc.canary.values)))} vs stable ${num(finite(median(acc.stable.values)))}, `) +
          `Hodges–Lehmann ${positive ? "canary ÷ stable" : "canary − stable"} ${num(finite(hl))}; ` +
          `U = ${e.u.toFixed(0)} over ${e.n.canary.toFixed(0)} × ${e.n.stable.toFixed(0)}, P(worse than ${adjusted}) = ${e.probability.toFixed(3)} ` +
          `(${((1 - alpha) * 100).toFixed(0)}% always-valid interval of P − ½: [${num(finite(seq.lower))}, ${num(finite(seq.upper))}])`;
        break;
      }
      case "drift": {
        const c = cellsOf(acc.canary.buckets).map((x) => x.count);
        const s = cellsOf(acc.stable.buckets).map((x) => x.count);
        const r = populationStability(c, s);
        // not a martingale test: the χ² p-value is Bonferroni-corrected over the planned looks
        const pWorse = r.psi > spec.margin ? Math.min(1, r.p * this.plannedLooks) : 1;
        st.pWorse = Math.min(st.pWorse, pWorse);
        result.statistic = finite(r.psi);
        result.statisticName = "PSI";
        result.pValue = st.pWorse;
        result.effect = { name: "PSI", estimate: finite(r.psi), lower: null, upper: null, margin: spec.margin };
        explain = `PSI ${r.psi.toFixed(3)} over ${r.df + 1} buckets (threshold ${spec.margin}; χ² = ${r.chi2.toFixed(1)}, df ${r.df}, p = ${num(r.p)} before Bonferroni over ${this.plannedLooks} looks)`;
        const enough = interval.canary >= spec.minSamples && interval.stable >= spec.minSamples;
        if (st.pWorse <= alpha) {
          result.decision = "fail";
          result.message = `Scores drifted: ${explain}.`;
        } else if (!enough) {
          result.decision = "inconclusive";
          result.message = `${tooLittle(spec, interval)} ${explain}.`;
        } else if (r.psi <= spec.margin) {
          result.decision = "pass";
          result.message = `No drift beyond the threshold: ${explain}.`;
        } else {
          result.message = `PSI above the threshold but not yet significant: ${explain}.`;
        }
        return result;
      }
    }
    st.pWorse = Math.min(st.pWorse, seq.pWorse);
    st.pBetter = Math.min(st.pBetter, seq.pBetter);
    result.statistic = finite(seq.z);
    result.pValue = st.pWorse;
    result.pBetter = st.pBetter;
    const enough = interval.canary >= spec.minSamples && interval.stable >= spec.minSamples;
    if (st.pWorse <= alpha) {
      result.decision = "fail";
      result.message = `Canary worse beyond the margin: ${explain}; p = ${num(st.pWorse)} ≤ α = ${num(alpha)}.`;
    } else if (!enough) {
      result.decision = "inconclusive";
      result.message = `${tooLittle(spec, interval)} So far: ${explain}.`;
    } else if (st.pBetter <= alpha) {
      result.decision = "pass";
      result.message = `Canary within the margin: ${explain}; p(worse) = ${num(st.pWorse)}, p(within margin) = ${num(st.pBetter)} ≤ α.`;
    } else {
      result.decision = "inconclusive";
      result.message = `Not decided yet: ${explain}; p(worse) = ${num(st.pWorse)}, p(within margin) = ${num(st.pBetter)}, both above α = ${num(alpha)}.`;
    }
    return result;
  }
}

function tooLittle(spec: CheckSpec, n: { canary: number; stable: number }): string {
  return `Too little traffic in this interval (canary ${n.canary.toFixed(0)}, stable ${n.stable.toFixed(0)}; needs ${spec.minSamples} each): inconclusive, not a pass.`;
}

function accumulate(acc: Accumulated, m: Measurement): void {
  switch (m.kind) {
    case "counts":
      acc.successes += m.successes;
      acc.trials += m.trials;
      break;
    case "buckets":
      acc.buckets = addBuckets(acc.buckets, m.buckets);
      break;
    case "series":
      acc.values.push(...m.values);
      break;
    case "none":
      return;
  }
  acc.samples += samplesOf(m);
}

function median(values: readonly number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function valueOf(spec: CheckSpec, m: Measurement, quantileFromSource?: number): number | null {
  switch (m.kind) {
    case "counts":
      return m.trials > 0 ? m.successes / m.trials : null;
    case "buckets":
      if (spec.kind === "drift") return finite(bucketQuantile(0.5, m.buckets));
      return finite(quantileFromSource ?? bucketQuantile(spec.quantile ?? 0.99, m.buckets));
    case "series":
      return finite(median(m.values));
    case "none":
      return null;
  }
}

function variantResult(spec: CheckSpec, mv: MeasuredVariant, acc: Accumulated): VariantResult {
  const m = mv.measurement;
  const cumulative: Measurement =
    spec.kind === "proportion"
      ? { kind: "counts", successes: acc.successes, trials: acc.trials }
      : spec.kind === "series"
        ? { kind: "series", values: acc.values }
        : { kind: "buckets", buckets: acc.buckets };
  const detail =
    m.kind === "none"
      ? `no data: ${m.reason}`
      : m.kind === "counts"
        ? `${m.successes.toFixed(0)} of ${m.trials.toFixed(0)}`
        : m.kind === "buckets"
          ? `${totalCount(m.buckets).toFixed(0)} observations`
          : `${m.values.length} points`;
  return {
    value: valueOf(spec, m, mv.quantile),
    samples: samplesOf(m),
    cumulativeValue: acc.samples ? valueOf(spec, cumulative) : null,
    cumulativeSamples: acc.samples,
    detail,
    data:
      m.kind === "counts"
        ? { successes: m.successes, trials: m.trials }
        : m.kind === "buckets"
          ? { buckets: m.buckets.map((b) => ({ le: b.le === Infinity ? "+Inf" : String(b.le), count: b.count })) }
          : m.kind === "series"
            ? { values: m.values.slice(0, 500) }
            : null,
  };
}
