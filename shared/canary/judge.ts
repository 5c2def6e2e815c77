import { holm } from "../stats/holm.js";
import { addBuckets, bucketQuantile, totalCount } from "../stats/histogram.js";
import { mainQuery } from "./builtin-checks.js";
import { driftEvidence, finite, median, proportionEvidence, rankEvidence, type Accumulated, type Evidence } from "./judge-evidence.js";
import {
  CANARY_SIDES,
  explainDrift,
  explainProportion,
  explainRank,
  noDataYet,
  noEvents,
  notYetJudged,
  num,
  proportionStatisticName,
  rankEffectName,
  rankStatisticName,
  rungMessage,
  tooLittle,
  type Rung,
  type Sides,
} from "./judge-wording.js";
import type { CheckKind, CheckSpec, Decision, Direction, MarginKind, MeasuredVariant, Measurement, Variant, Window } from "./types.js";

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

/**
 * Judges every check after every interval, canary against stable over the same window. Data
 * accumulates over the intervals and each look runs an always-valid sequential test, so looking
 * after every interval does not raise the false-alarm rate, a clearly bad canary fails at its
 * first look, and a clearly good one passes as soon as its evidence suffices.
 */
export class Judge {
  private readonly state = new Map<string, { acc: Record<Variant, Accumulated>; pWorse: number; pBetter: number; looks: number }>();
  readonly alpha: number;
  /** What each check's two sides are called in its messages (the "canary" side is the one judged). */
  private readonly sides: (spec: CheckSpec) => Sides;

  constructor(
    readonly checks: readonly CheckSpec[],
    options: { confidence: number; plannedLooks: number; sides?: (spec: CheckSpec) => Sides },
  ) {
    this.alpha = 1 - options.confidence;
    this.plannedLooks = Math.max(1, options.plannedLooks);
    this.sides = options.sides ?? (() => CANARY_SIDES);
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

  /** One check at one look: its data so far, the guards (not yet judged, no data, no events), the evidence, the decision ladder. */
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
    const result = resultSkeleton(spec, m, window, st.acc);
    const guard = this.guard(spec, m, st, judged, context.weight);
    if (guard) return { ...result, ...guard };
    const interval = { canary: samplesOf(m.canary.measurement), stable: samplesOf(m.stable.measurement) };
    const { evidence, statisticName, explain } = this.evidence(spec, st.acc);
    st.pWorse = Math.min(st.pWorse, evidence.pWorse);
    if (evidence.pBetter !== undefined) st.pBetter = Math.min(st.pBetter, evidence.pBetter);
    const drift = evidence.withinThreshold !== undefined;
    const enough = interval.canary >= spec.minSamples && interval.stable >= spec.minSamples;
    const rung: Rung =
      st.pWorse <= this.alpha
        ? "worse"
        : !enough
          ? "too-little"
          : (drift ? evidence.withinThreshold : st.pBetter <= this.alpha)
            ? "within"
            : "open";
    const pBetter = drift ? null : st.pBetter;
    const sides = this.sides(spec);
    return {
      ...result,
      statistic: evidence.statistic,
      statisticName,
      pValue: st.pWorse,
      pBetter,
      effect: evidence.effect,
      ...(evidence.hodgesLehmann !== undefined ? { hodgesLehmann: evidence.hodgesLehmann } : {}),
      decision: rung === "worse" ? "fail" : rung === "within" ? "pass" : "inconclusive",
      message: rungMessage(rung, {
        drift,
        explain,
        pWorse: st.pWorse,
        pBetter,
        alpha: this.alpha,
        tooLittle: tooLittle(spec, interval, sides),
        sides,
      }),
    };
  }

  /** A check not judged at this look: below its weight, without data for a variant, or without any event to count. */
  private guard(
    spec: CheckSpec,
    m: Record<Variant, MeasuredVariant>,
    st: { acc: Record<Variant, Accumulated>; pWorse: number },
    judged: boolean,
    weight: number,
  ): Pick<CheckResult, "decision" | "message" | "noData"> | undefined {
    const { acc } = st;
    if (!judged && st.pWorse > this.alpha) return { decision: "inconclusive", noData: false, message: notYetJudged(spec, weight) };
    if (acc.canary.samples === 0 || acc.stable.samples === 0) {
      const sides = this.sides(spec);
      const which = [acc.canary.samples === 0 ? sides.subject : "", acc.stable.samples === 0 ? sides.baseline : ""]
        .filter(Boolean)
        .join(" and ");
      const reason = [m.canary, m.stable].map((x) => (x.measurement.kind === "none" ? x.measurement.reason : "")).find(Boolean);
      return { decision: "inconclusive", noData: true, message: noDataYet(which, reason) };
    }
    if (spec.skipWithoutEvents && acc.canary.successes === 0 && acc.stable.successes === 0 && spec.kind === "proportion") {
      return { decision: "skipped", noData: false, message: noEvents(acc.canary.trials + acc.stable.trials) };
    }
    return undefined;
  }

  /** The kind's statistics, and how they are named and said. */
  private evidence(spec: CheckSpec, acc: Record<Variant, Accumulated>): { evidence: Evidence; statisticName: string; explain: string } {
    const sides = this.sides(spec);
    switch (spec.kind) {
      case "proportion": {
        const p = proportionEvidence(acc, spec, this.alpha, sides);
        return {
          evidence: p.evidence,
          statisticName: proportionStatisticName(p.absolute),
          explain: explainProportion(p, acc, this.alpha, sides),
        };
      }
      case "histogram":
      case "series": {
        const r = rankEvidence(acc, spec, this.alpha);
        return {
          evidence: { ...r.evidence, effect: { ...r.evidence.effect, name: rankEffectName(spec, sides) } },
          statisticName: rankStatisticName(sides),
          explain: explainRank(r, spec, this.alpha, sides),
        };
      }
      case "drift": {
        const d = driftEvidence(acc, spec, this.plannedLooks);
        return { evidence: d.evidence, statisticName: "PSI", explain: explainDrift(d, spec, this.plannedLooks) };
      }
    }
  }
}

/** What every result carries: the check, the window, each variant's numbers; the decision fields still empty. */
function resultSkeleton(
  spec: CheckSpec,
  m: Record<Variant, MeasuredVariant>,
  window: Window,
  acc: Record<Variant, Accumulated>,
): CheckResult {
  return {
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
