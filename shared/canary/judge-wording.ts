import type { driftEvidence, proportionEvidence, rankEvidence } from "./judge-evidence.js";
import type { CheckSpec } from "./types.js";

// How the judge says what it found, apart from how it found it (judge-evidence.ts) and what it
// decided (judge.ts): one or two sentences a reader of the PR comment can check by hand.

const pct = (v: number | null, digits = 2) => (v === null ? "–" : `${(v * 100).toFixed(digits)}%`);
const ms = (v: number | null) => (v === null ? "–" : `${(v * 1000).toFixed(v < 0.01 ? 2 : 1)} ms`);
export const num = (v: number | null, digits = 3) => (v === null ? "–" : Number(v.toPrecision(digits)).toString());
const level = (alpha: number) => `${((1 - alpha) * 100).toFixed(0)}%`;

/** A p-value as shown: 4 decimals, or 1 significant digit in scientific notation below 10⁻⁴. */
function formatP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

/**
 * How strongly the data support a claim, from its one-sided always-valid p-value read against
 * the run's α: strong (p ≤ α: the judge acts on it), weak (p < 0.5: a hint, not enough to act
 * on) or none. A p-value is small when the data would be unlikely were the claim false, so
 * p = 1 means "no sign of it at all", never "certainly".
 */
export function evidence(p: number | null, alpha: number): string {
  if (p === null) return "–";
  const level = p <= alpha ? "strong" : p < 0.5 ? "weak" : "none";
  return `${level} (p = ${formatP(p)})`;
}

/** The legend under every table of checks: what the evidence columns mean. */
export function evidenceLegend(alpha: number): string {
  return (
    `Evidence columns: how strongly the data so far say the canary is worse than stable beyond the margin (for drift: drifted beyond the threshold), ` +
    `and that it is within the margin. strong: p ≤ α = ${num(alpha)}, the judge acts on it; weak: p < 0.5, a hint only; none: no sign of it. ` +
    `p is an always-valid one-sided p-value (Holm-adjusted over the critical checks for "worse"): the chance of data at least this telling if the claim were false. ` +
    `"none (p = 1.0000)" under "worse" means no sign of harm, not certain harm.`
  );
}

export function proportionStatisticName(absolute: boolean): string {
  return absolute ? "z (difference of rates, Agresti–Caffo)" : "z (log rate ratio)";
}

export function explainProportion(
  p: ReturnType<typeof proportionEvidence>,
  counts: Record<"canary" | "stable", { successes: number; trials: number }>,
  alpha: number,
): string {
  const { effect } = p.evidence;
  const fmt = (v: number | null) => (v === null ? "–" : p.absolute ? `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)} pp` : `×${v.toFixed(3)}`);
  const side = (rate: number | null, c: { successes: number; trials: number }) =>
    `${pct(rate)} (${c.successes.toFixed(0)} of ${c.trials.toFixed(0)})`;
  return (
    `canary ${side(p.canaryRate, counts.canary)} vs stable ${side(p.stableRate, counts.stable)}; ${effect.name} ${fmt(effect.estimate)}, ` +
    `${level(alpha)} always-valid interval [${fmt(effect.lower)}, ${fmt(effect.upper)}], margin ${fmt(effect.margin)}`
  );
}

export const RANK_STATISTIC_NAME = "z (Mann–Whitney U against the margin-adjusted stable)";

/** "(1 + 0.1) × stable" or "stable + 5": what the canary is compared with. */
function marginAdjustedStable(spec: CheckSpec): string {
  return spec.marginKind === "relative"
    ? `${spec.direction === "lower" ? "(1 + " : "(1 − "}${spec.margin}) × stable`
    : `stable ${spec.direction === "lower" ? "+" : "−"} ${spec.margin}`;
}

export function rankEffectName(spec: CheckSpec): string {
  return `P(canary worse than ${marginAdjustedStable(spec)}) − ½`;
}

export function explainRank(r: ReturnType<typeof rankEvidence>, spec: CheckSpec, alpha: number): string {
  const { effect, hodgesLehmann } = r.evidence;
  const values =
    spec.kind === "histogram"
      ? `p${Math.round((spec.quantile ?? 0.99) * 100)} canary ${ms(r.quantiles.canary)} vs stable ${ms(r.quantiles.stable)}, `
      : `canary median ${num(r.quantiles.canary)} vs stable ${num(r.quantiles.stable)}, `;
  return (
    values +
    `Hodges–Lehmann ${r.positive ? "canary ÷ stable" : "canary − stable"} ${num(hodgesLehmann ?? null)}; ` +
    `U = ${r.u.toFixed(0)} over ${r.n.canary.toFixed(0)} × ${r.n.stable.toFixed(0)}, P(worse than ${marginAdjustedStable(spec)}) = ${r.probability.toFixed(3)} ` +
    `(${level(alpha)} always-valid interval of P − ½: [${num(effect.lower)}, ${num(effect.upper)}])`
  );
}

export function explainDrift(d: ReturnType<typeof driftEvidence>, spec: CheckSpec, plannedLooks: number): string {
  return `PSI ${d.psi.toFixed(3)} over ${d.df + 1} buckets (threshold ${spec.margin}; χ² = ${d.chi2.toFixed(1)}, df ${d.df}, p = ${num(d.p)} before Bonferroni over ${plannedLooks} looks)`;
}

export function tooLittle(spec: CheckSpec, n: { canary: number; stable: number }): string {
  return `Too little traffic in this interval (canary ${n.canary.toFixed(0)}, stable ${n.stable.toFixed(0)}; needs ${spec.minSamples} each): inconclusive, not a pass.`;
}

export function notYetJudged(spec: CheckSpec, weight: number): string {
  return (
    `Judged from ${spec.fromWeight}% canary weight on, where both servers carry the same load (a server given a small share answers slower: ` +
    `sleeping threads, cold caches); this interval was at ${weight}% and is shown, not counted.`
  );
}

export function noDataYet(which: string, reason: string | undefined): string {
  return `No data for ${which} yet${reason ? ` (${reason})` : ""}: nothing to compare, so inconclusive, never a pass.`;
}

export function noEvents(served: number): string {
  return `Neither variant has recorded any such event (${served} served): the shop sends no feedback, so the check does not apply.`;
}

/** Where the decision ladder stopped: worse beyond the margin, too little traffic, shown within the margin, or not yet. */
export type Rung = "worse" | "too-little" | "within" | "open";

/** The message for a rung; drift says it in its own terms (a threshold, not a margin test). */
export function rungMessage(
  rung: Rung,
  o: { drift: boolean; explain: string; pWorse: number; pBetter: number | null; alpha: number; tooLittle: string },
): string {
  const { explain, alpha } = o;
  const ps = `evidence canary is worse: ${evidence(o.pWorse, alpha)}; evidence it is within the margin: ${evidence(o.pBetter, alpha)}`;
  if (o.drift) {
    if (rung === "worse") return `Scores drifted: ${explain}.`;
    if (rung === "too-little") return `${o.tooLittle} ${explain}.`;
    if (rung === "within") return `No drift beyond the threshold: ${explain}.`;
    return `PSI above the threshold but not yet significant: ${explain}.`;
  }
  if (rung === "worse")
    return `Canary worse beyond the margin: ${explain}; evidence canary is worse: ${evidence(o.pWorse, alpha)}, p ≤ α = ${num(alpha)}.`;
  if (rung === "too-little") return `${o.tooLittle} So far: ${explain}.`;
  if (rung === "within") return `Canary within the margin: ${explain}; ${ps}.`;
  return `Not decided yet: ${explain}; ${ps} (strong needs p ≤ α = ${num(alpha)}).`;
}
