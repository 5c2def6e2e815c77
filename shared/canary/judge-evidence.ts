import { bucketQuantile, cellsOf, pseudoSamples, weightedPoints } from "../stats/histogram.js";
import { proportionEffect } from "../stats/proportion.js";
import { populationStability } from "../stats/psi.js";
import { hodgesLehmann, rankShiftEffect, samplePoints } from "../stats/rank-shift.js";
import { sequentialLook } from "../stats/sequential.js";
import type { Bucket, CheckSpec } from "./types.js";

// The statistics of one look at one check, numbers only (judge-wording.ts says them in words):
// what the canary's and stable's data accumulated so far say about "canary worse beyond the
// margin" (pWorse) and, for the sequential tests, "canary within the margin" (pBetter).

/** One variant's data over every interval so far. */
export interface Accumulated {
  successes: number;
  trials: number;
  buckets: Bucket[];
  values: number[];
  samples: number;
}

export const finite = (v: number | undefined | null): number | null => (v === undefined || v === null || !Number.isFinite(v) ? null : v);

export interface Evidence {
  statistic: number | null;
  /** This look's always-valid p-value of "worse beyond the margin" (drift: χ², Bonferroni over the planned looks). */
  pWorse: number;
  /** Sequential tests: this look's p-value of "within the margin"; promotion needs it below α. */
  pBetter?: number;
  /** Drift: the PSI is within its threshold (drift has no test of equivalence; its pass is the threshold). */
  withinThreshold?: boolean;
  effect: { name: string; estimate: number | null; lower: number | null; upper: number | null; margin: number | null };
  hodgesLehmann?: number | null;
}

/** Proportion checks (error rate, click-through): the rates' difference or log ratio, sequentially; `names` the two sides. */
export function proportionEvidence(
  acc: Record<"canary" | "stable", Accumulated>,
  spec: CheckSpec,
  alpha: number,
  names: { subject: string; baseline: string } = { subject: "canary", baseline: "stable" },
) {
  const e = proportionEffect(acc.canary, acc.stable, spec);
  const seq = sequentialLook(e, alpha);
  const absolute = spec.marginKind === "absolute";
  const sign = spec.direction === "lower" ? 1 : -1;
  // shown as canary − stable (pp) or canary ÷ stable, the way round a reader expects
  const show = (t: number) => (absolute ? sign * t : Math.exp(sign * t));
  const [lo, hi] = [show(seq.lower), show(seq.upper)].sort((a, b) => a - b);
  const evidence: Evidence = {
    statistic: finite(seq.z),
    pWorse: seq.pWorse,
    pBetter: seq.pBetter,
    effect: {
      name: `${names.subject} ${absolute ? "−" : "÷"} ${names.baseline}`,
      estimate: finite(show(e.estimate)),
      lower: finite(lo),
      upper: finite(hi),
      margin: finite(show(e.threshold)),
    },
  };
  return { evidence, absolute, canaryRate: finite(e.canaryRate), stableRate: finite(e.stableRate) };
}

/** Latency (histogram) and series checks: Mann–Whitney against the margin-adjusted stable, sequentially; Hodges–Lehmann shown. */
export function rankEvidence(acc: Record<"canary" | "stable", Accumulated>, spec: CheckSpec, alpha: number) {
  const histogram = spec.kind === "histogram";
  const cells = { canary: histogram ? cellsOf(acc.canary.buckets) : [], stable: histogram ? cellsOf(acc.stable.buckets) : [] };
  const canarySamples = histogram ? pseudoSamples(cells.canary) : acc.canary.values;
  const stableSamples = histogram ? pseudoSamples(cells.stable) : acc.stable.values;
  const e = rankShiftEffect(canarySamples, stableSamples, {
    direction: spec.direction,
    margin: spec.margin,
    marginKind: spec.marginKind,
    nCanary: acc.canary.samples,
    nStable: acc.stable.samples,
  });
  const seq = sequentialLook(e, alpha);
  const positive = [...canarySamples, ...stableSamples].every((v) => v > 0);
  const hl = hodgesLehmann(
    histogram ? weightedPoints(cells.canary) : samplePoints(acc.canary.values),
    histogram ? weightedPoints(cells.stable) : samplePoints(acc.stable.values),
    positive ? "ratio" : "difference",
  );
  const evidence: Evidence = {
    statistic: finite(seq.z),
    pWorse: seq.pWorse,
    pBetter: seq.pBetter,
    effect: { name: "", estimate: finite(e.estimate), lower: finite(seq.lower), upper: finite(seq.upper), margin: 0 },
    hodgesLehmann: finite(hl),
  };
  const q = spec.quantile ?? 0.99;
  const quantiles = histogram
    ? { canary: finite(bucketQuantile(q, acc.canary.buckets)), stable: finite(bucketQuantile(q, acc.stable.buckets)) }
    : { canary: finite(median(acc.canary.values)), stable: finite(median(acc.stable.values)) };
  return { evidence, positive, u: e.u, n: e.n, probability: e.probability, quantiles };
}

/** Score drift: PSI of the canary's histogram against stable's; its χ² p-value Bonferroni-corrected over the planned looks (not a martingale test). */
export function driftEvidence(acc: Record<"canary" | "stable", Accumulated>, spec: CheckSpec, plannedLooks: number) {
  const r = populationStability(
    cellsOf(acc.canary.buckets).map((x) => x.count),
    cellsOf(acc.stable.buckets).map((x) => x.count),
  );
  const evidence: Evidence = {
    statistic: finite(r.psi),
    pWorse: r.psi > spec.margin ? Math.min(1, r.p * plannedLooks) : 1,
    withinThreshold: r.psi <= spec.margin,
    effect: { name: "PSI", estimate: finite(r.psi), lower: null, upper: null, margin: spec.margin },
  };
  return { evidence, psi: r.psi, chi2: r.chi2, df: r.df, p: r.p };
}

export function median(values: readonly number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
