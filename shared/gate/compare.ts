import { coverage, perUser, topPopularity } from "../eval/metrics.js";
import { Rng } from "../util/random.js";
import {
  coverageStatistic,
  meanStatistic,
  pairedBootstrap,
  quantile,
  regressionPValue,
  relativeChange,
  type BootstrapDistribution,
  type Direction,
  type PairedStatistic,
} from "../stats/bootstrap.js";
import type { ModelEvaluation } from "./engine.js";
import type { EvalData } from "./eval-data.js";
import { holm } from "../stats/holm.js";
import type { LatencyStats } from "./latency.js";
import { slowerThanMargin } from "../stats/mann-whitney.js";
import { parseMetric, type GateRules, type Margin, type Protocol, type SliceName } from "./rules.js";
import { sliceMembers } from "./slices.js";

/** Slices with fewer users are reported but never gated: their intervals are too wide to mean much. */
const MIN_SLICE_USERS = 30;

type Status = "pass" | "fail" | "warn" | "info";

export interface MetricResult {
  /** Display name, unique in a report: "ndcg@10", "sampled ndcg@10", "ndcg@10 · cold". */
  name: string;
  metric: string;
  protocol: Protocol;
  slice: SliceName;
  users: number;
  baseline: number;
  candidate: number;
  absDelta: number;
  /** (candidate − baseline) / baseline. */
  relDelta: number;
  /** Bootstrap interval of the relative change, two-sided at `ciLevel`. */
  ciLow: number;
  ciHigh: number;
  /** The same interval for the absolute change. */
  absCiLow: number;
  absCiHigh: number;
  ciLevel: number;
  gated: boolean;
  critical: boolean;
  direction: Direction;
  margin?: Margin;
  /** One-sided p-value of "no regression beyond the margin" (gated metrics). */
  pValue?: number;
  /** Holm-adjusted within its family (critical or warning-only). */
  pAdjusted?: number;
  /** False only for a gated metric whose whole interval lies beyond the margin (after Holm). */
  pass: boolean;
  status: Status;
}

export interface LatencyResult {
  batch: number;
  baselineP50: number;
  candidateP50: number;
  /** Relative change of the median per-batch time. */
  relDelta: number;
  ciLow: number;
  ciHigh: number;
  ciLevel: number;
  margin: number;
  pValue: number;
  pAdjusted: number;
  critical: boolean;
  pass: boolean;
  status: Status;
}

export interface Comparison {
  metrics: MetricResult[];
  latency: LatencyResult[];
  /** No critical test failed. */
  passed: boolean;
  failures: string[];
  warnings: string[];
}

interface Test {
  name: string;
  rule?: GateRules["metrics"][number];
  metric: string;
  protocol: Protocol;
  slice: SliceName;
  users: number;
  dist: BootstrapDistribution;
  p?: number;
}

function vectorFor(ev: ModelEvaluation, data: EvalData, protocol: Protocol, metric: string): Float64Array | undefined {
  const { kind, k } = parseMetric(metric);
  const ranks = protocol === "full" ? ev.ranksFull : protocol === "masked" ? ev.ranksMasked : ev.ranksSampled;
  if (!ranks) return undefined;
  if (kind === "ndcg" || kind === "hr") return perUser(ranks, kind, k);
  if (kind === "mrr") return perUser(ranks, "mrr");
  if (kind === "popularity") return topPopularity(ev.top, ev.topWidth, Math.min(k, ev.topWidth), data.popularity);
  return undefined;
}

export function metricName(metric: string, protocol: Protocol, slice: SliceName): string {
  return `${protocol === "full" ? "" : `${protocol} `}${metric}${slice === "all" ? "" : ` · ${slice}`}`;
}

/** The metrics every report shows: HR/NDCG@K, MRR, coverage and popularity, full and sampled. */
export function displayMetrics(rules: GateRules, hasSampled: boolean): { metric: string; protocol: Protocol }[] {
  const out: { metric: string; protocol: Protocol }[] = [];
  for (const k of rules.cutoffs) out.push({ metric: `ndcg@${k}`, protocol: "full" }, { metric: `hr@${k}`, protocol: "full" });
  out.push({ metric: "mrr", protocol: "full" });
  // the published protocol beside the all-items one (when full is not masked already)
  if (!rules.protocol.excludeSeen) {
    for (const k of rules.cutoffs) out.push({ metric: `ndcg@${k}`, protocol: "masked" }, { metric: `hr@${k}`, protocol: "masked" });
    out.push({ metric: "mrr", protocol: "masked" });
  }
  for (const k of rules.cutoffs) out.push({ metric: `coverage@${k}`, protocol: "full" }, { metric: `popularity@${k}`, protocol: "full" });
  if (hasSampled) {
    for (const k of rules.cutoffs) out.push({ metric: `ndcg@${k}`, protocol: "sampled" }, { metric: `hr@${k}`, protocol: "sampled" });
    out.push({ metric: "mrr", protocol: "sampled" });
  }
  return out;
}

/** Point estimates of coverage (no interval: it is a catalogue-level count, bootstrapped only when gated). */
function coverageDistribution(
  id: string,
  cand: ModelEvaluation,
  base: ModelEvaluation,
  data: EvalData,
  k: number,
  users: Int32Array,
): BootstrapDistribution {
  const c = coverage(cand.top, cand.topWidth, Math.min(k, cand.topWidth), data.numItems, users);
  const b = coverage(base.top, base.topWidth, Math.min(k, base.topWidth), data.numItems, users);
  return {
    id,
    candidate: c,
    baseline: b,
    absDelta: c - b,
    relDelta: relativeChange(c, b),
    abs: new Float64Array(0),
    rel: new Float64Array(0),
  };
}

/** Both models' per-user values of a metric under a protocol, computed once per (protocol, metric). */
type PairLookup = (protocol: Protocol, metric: string) => [Float64Array, Float64Array] | undefined;

function pairLookup(data: EvalData, candidate: ModelEvaluation, baseline: ModelEvaluation): PairLookup {
  const vectors = new Map<string, [Float64Array, Float64Array] | undefined>();
  return (protocol, metric) => {
    const key = `${protocol}:${metric}`;
    if (!vectors.has(key)) {
      const c = vectorFor(candidate, data, protocol, metric);
      const b = vectorFor(baseline, data, protocol, metric);
      vectors.set(key, c && b ? [c, b] : undefined);
    }
    return vectors.get(key);
  };
}

type Wanted = { metric: string; protocol: Protocol; rule?: GateRules["metrics"][number] };

/** The metrics compared on a slice: its gated ones, then the displayed ones (all of them on "all", the headline three elsewhere). */
function wantedOn(slice: SliceName, rules: GateRules, display: ReturnType<typeof displayMetrics>, hasSampled: boolean): Wanted[] {
  const wanted: Wanted[] = rules.metrics
    .filter((m) => m.slices.includes(slice) && (m.protocol === "full" || hasSampled))
    .map((rule) => ({ metric: rule.metric, protocol: rule.protocol, rule }));
  const shown = slice === "all" ? display : display.filter((d) => ["ndcg@10", "hr@10", "mrr"].includes(d.metric) && d.protocol === "full");
  for (const d of shown) if (!wanted.some((w) => w.metric === d.metric && w.protocol === d.protocol)) wanted.push(d);
  return wanted;
}

/** One slice's paired bootstrap: a test for every gated metric (with its regression p-value), an info row for the rest. */
function testSlice(
  slice: SliceName,
  wanted: Wanted[],
  ctx: { data: EvalData; candidate: ModelEvaluation; baseline: ModelEvaluation; rules: GateRules; pair: PairLookup },
): { tests: Test[]; info: Test[] } {
  const { data, candidate, baseline, rules } = ctx;
  const users = sliceMembers(data.slices, slice);
  if (users.length === 0) return { tests: [], info: [] };
  const statistics: PairedStatistic[] = [];
  const points: BootstrapDistribution[] = [];
  for (const w of wanted) {
    const id = metricName(w.metric, w.protocol, slice);
    const { kind, k } = parseMetric(w.metric);
    if (kind === "coverage") {
      if (w.rule)
        statistics.push(
          coverageStatistic(id, candidate.top, baseline.top, candidate.topWidth, Math.min(k, candidate.topWidth), data.numItems),
        );
      else points.push(coverageDistribution(id, candidate, baseline, data, k, users));
      continue;
    }
    const v = ctx.pair(w.protocol, w.metric);
    if (v) statistics.push(meanStatistic(id, v[0], v[1]));
  }
  const dists = [...pairedBootstrap(users, statistics, { resamples: rules.resamples, seed: `${rules.seed}:${slice}` }), ...points];
  const tests: Test[] = [];
  const info: Test[] = [];
  for (const w of wanted) {
    const id = metricName(w.metric, w.protocol, slice);
    const dist = dists.find((d) => d.id === id);
    if (!dist) continue;
    const t: Test = { name: id, rule: w.rule, metric: w.metric, protocol: w.protocol, slice, users: users.length, dist };
    if (w.rule && users.length >= MIN_SLICE_USERS) {
      t.p = regressionPValue(w.rule.margin.kind === "relative" ? dist.rel : dist.abs, w.rule.direction, w.rule.margin.value);
      tests.push(t);
    } else info.push(t);
  }
  return { tests, info };
}

/** Holm within the critical and within the warning-only family; a metric regresses when rejected and its whole interval lies beyond the margin. */
function judgeFamilies(
  tests: readonly Test[],
  alpha: number,
  out: { results: MetricResult[]; failures: string[]; warnings: string[] },
): void {
  for (const critical of [true, false]) {
    const family = tests.filter((t) => t.rule!.critical === critical);
    const decisions = holm(
      family.map((t) => t.p!),
      alpha,
    );
    family.forEach((t, i) => {
      const rule = t.rule!;
      const d = decisions[i];
      const level = d.threshold;
      const sorted = rule.margin.kind === "relative" ? t.dist.rel : t.dist.abs;
      const lo = quantile(sorted, level);
      const hi = quantile(sorted, 1 - level);
      const beyond = rule.direction === "higher" ? hi < -rule.margin.value : lo > rule.margin.value;
      const regressed = d.rejected && beyond;
      const r = result(t, level, {
        gated: true,
        critical,
        direction: rule.direction,
        margin: rule.margin,
        pValue: t.p,
        pAdjusted: d.adjusted,
        pass: !regressed,
        status: regressed ? (critical ? "fail" : "warn") : "pass",
      });
      out.results.push(r);
      if (regressed) (critical ? out.failures : out.warnings).push(describe(r));
    });
  }
}

/** Results in reading order: the "all" slice first, each slice's metrics in display order. */
function byDisplayOrder(display: ReturnType<typeof displayMetrics>): (a: MetricResult, b: MetricResult) => number {
  const order = (r: MetricResult) => {
    const inDisplay = display.findIndex((d) => d.metric === r.metric && d.protocol === r.protocol);
    return (
      (r.slice === "all" ? 0 : 1000 * (1 + ["cold", "warm", "heavy", "head", "tail"].indexOf(r.slice))) + (inDisplay < 0 ? 500 : inDisplay)
    );
  };
  return (a, b) => order(a) - order(b);
}

/**
 * Candidate against baseline, paired on the same users: a seeded paired bootstrap per slice
 * gives every metric's interval; gated metrics get a one-sided p-value of "no regression
 * beyond the margin", Holm-corrected within the critical family and within the warning-only
 * family. A gated metric fails only when Holm rejects and its whole interval (read at its
 * Holm level) lies beyond the margin. Latency: Mann-Whitney on per-batch times against the
 * baseline slowed by the margin, Holm-corrected across batch sizes.
 */
export function compareModels(
  data: EvalData,
  candidate: ModelEvaluation,
  baseline: ModelEvaluation,
  rules: GateRules,
  latency?: { candidate: LatencyStats[]; baseline: LatencyStats[] },
): Comparison {
  const hasSampled = Boolean(candidate.ranksSampled && baseline.ranksSampled);
  const display = displayMetrics(rules, hasSampled);
  const ctx = { data, candidate, baseline, rules, pair: pairLookup(data, candidate, baseline) };
  const tests: Test[] = [];
  const info: Test[] = [];
  for (const slice of new Set<SliceName>(["all", ...rules.metrics.flatMap((m) => m.slices)])) {
    const t = testSlice(slice, wantedOn(slice, rules, display, hasSampled), ctx);
    tests.push(...t.tests);
    info.push(...t.info);
  }
  const out = { results: [] as MetricResult[], failures: [] as string[], warnings: [] as string[] };
  judgeFamilies(tests, rules.alpha, out);
  for (const t of info) {
    const direction = parseMetric(t.metric).kind === "popularity" ? "lower" : "higher";
    out.results.push(result(t, 0.025, { gated: false, critical: false, direction, pass: true, status: "info" }));
  }
  out.results.sort(byDisplayOrder(display));
  const latencyResults = latency ? compareLatency(latency.candidate, latency.baseline, rules) : [];
  for (const l of latencyResults) {
    if (l.status === "fail") out.failures.push(latencyText(l));
    if (l.status === "warn") out.warnings.push(latencyText(l));
  }
  const { results, failures, warnings } = out;
  return { metrics: results, latency: latencyResults, passed: failures.length === 0, failures, warnings };
}

function result(
  t: Test,
  level: number,
  extra: Partial<MetricResult> & Pick<MetricResult, "gated" | "critical" | "direction" | "pass" | "status">,
): MetricResult {
  const bounded = t.dist.rel.length > 0;
  return {
    name: t.name,
    metric: t.metric,
    protocol: t.protocol,
    slice: t.slice,
    users: t.users,
    baseline: t.dist.baseline,
    candidate: t.dist.candidate,
    absDelta: t.dist.absDelta,
    relDelta: t.dist.relDelta,
    ciLow: bounded ? quantile(t.dist.rel, level) : NaN,
    ciHigh: bounded ? quantile(t.dist.rel, 1 - level) : NaN,
    absCiLow: bounded ? quantile(t.dist.abs, level) : NaN,
    absCiHigh: bounded ? quantile(t.dist.abs, 1 - level) : NaN,
    ciLevel: bounded ? 1 - 2 * level : 0,
    ...extra,
  };
}

const pct = (v: number) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)}%`;

function describe(r: MetricResult): string {
  const margin = r.margin?.kind === "absolute" ? `${r.margin.value}` : `${((r.margin?.value ?? 0) * 100).toFixed(1)}%`;
  return `${r.name}: ${pct(r.relDelta)} (interval ${pct(r.ciLow)} to ${pct(r.ciHigh)}) is beyond the ${margin} margin`;
}

function latencyText(l: LatencyResult): string {
  return `latency at batch ${l.batch}: median ${l.candidateP50.toFixed(2)} ms vs ${l.baselineP50.toFixed(2)} ms (${pct(l.relDelta)}), slower than the ${(l.margin * 100).toFixed(0)}% margin (p ${l.pAdjusted.toPrecision(2)})`;
}

/** Interval of the relative change of the median time (independent resampling of both runs). */
function medianRatioInterval(c: number[], b: number[], level: number, seed: string): [number, number] {
  const rng = new Rng(`latency-ci:${seed}`);
  const reps = 1000;
  const out = new Float64Array(reps);
  const med = (v: number[]) => {
    const draw = Float64Array.from(v, () => v[rng.int(v.length)]).sort();
    return quantile(draw, 0.5);
  };
  for (let r = 0; r < reps; r++) out[r] = relativeChange(med(c), med(b));
  out.sort();
  return [quantile(out, level), quantile(out, 1 - level)];
}

function compareLatency(candidate: LatencyStats[], baseline: LatencyStats[], rules: GateRules): LatencyResult[] {
  const pairs = candidate.map((c) => ({ c, b: baseline.find((x) => x.batch === c.batch) })).filter((x) => x.b) as {
    c: LatencyStats;
    b: LatencyStats;
  }[];
  const tests = pairs.map(({ c, b }) => slowerThanMargin(c.timesMs, b.timesMs, rules.latency.margin));
  const decisions = holm(
    tests.map((t) => t.p),
    rules.alpha,
  );
  return pairs.map(({ c, b }, i) => {
    const d = decisions[i];
    const [lo, hi] = medianRatioInterval(c.timesMs, b.timesMs, d.threshold, `${rules.seed}:${c.batch}`);
    const slower = d.rejected;
    return {
      batch: c.batch,
      baselineP50: b.p50,
      candidateP50: c.p50,
      relDelta: relativeChange(c.p50, b.p50),
      ciLow: lo,
      ciHigh: hi,
      ciLevel: 1 - 2 * d.threshold,
      margin: rules.latency.margin,
      pValue: tests[i].p,
      pAdjusted: d.adjusted,
      critical: rules.latency.critical,
      pass: !slower,
      status: slower ? (rules.latency.critical ? "fail" : "warn") : "pass",
    };
  });
}
