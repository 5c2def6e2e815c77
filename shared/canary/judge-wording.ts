import type { driftEvidence, proportionEvidence, rankEvidence } from "./judge-evidence.js";
import type { CheckSpec } from "./types.js";

// How the judge says what it found, apart from how it found it (judge-evidence.ts) and what it
// decided (judge.ts): one or two sentences a reader of the PR comment can check by hand.

/**
 * What the two sides of a comparison are called, and the span they were measured over: the
 * canary's (canary against stable, per interval) or the drift watch's (the last window against
 * the previous one, or against the model's validation reference).
 */
export interface Sides {
  /** The side under judgement: "canary", "last window". */
  subject: string;
  /** What it is compared with: "stable", "previous window", "validation". */
  baseline: string;
  /** "interval" or "window". */
  period: string;
}

export const CANARY_SIDES: Sides = { subject: "canary", baseline: "stable", period: "interval" };

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

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
export function evidenceLegend(alpha: number, sides: Pick<Sides, "subject" | "baseline"> = CANARY_SIDES): string {
  return (
    `Evidence columns: how strongly the data so far say the ${sides.subject} is worse than ${sides.baseline} beyond the margin (for drift: drifted beyond the threshold), ` +
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
  sides: Sides = CANARY_SIDES,
): string {
  const { effect } = p.evidence;
  const fmt = (v: number | null) => (v === null ? "–" : p.absolute ? `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)} pp` : `×${v.toFixed(3)}`);
  const side = (rate: number | null, c: { successes: number; trials: number }) =>
    `${pct(rate)} (${c.successes.toFixed(0)} of ${c.trials.toFixed(0)})`;
  return (
    `${sides.subject} ${side(p.canaryRate, counts.canary)} vs ${sides.baseline} ${side(p.stableRate, counts.stable)}; ${effect.name} ${fmt(effect.estimate)}, ` +
    `${level(alpha)} always-valid interval [${fmt(effect.lower)}, ${fmt(effect.upper)}], margin ${fmt(effect.margin)}`
  );
}

export function rankStatisticName(sides: Sides = CANARY_SIDES): string {
  return `z (Mann–Whitney U against the margin-adjusted ${sides.baseline})`;
}

/** "(1 + 0.1) × stable" or "stable + 5": what the canary is compared with. */
function marginAdjustedStable(spec: CheckSpec, sides: Sides): string {
  return spec.marginKind === "relative"
    ? `${spec.direction === "lower" ? "(1 + " : "(1 − "}${spec.margin}) × ${sides.baseline}`
    : `${sides.baseline} ${spec.direction === "lower" ? "+" : "−"} ${spec.margin}`;
}

export function rankEffectName(spec: CheckSpec, sides: Sides = CANARY_SIDES): string {
  return `P(${sides.subject} worse than ${marginAdjustedStable(spec, sides)}) − ½`;
}

export function explainRank(r: ReturnType<typeof rankEvidence>, spec: CheckSpec, alpha: number, sides: Sides = CANARY_SIDES): string {
  const { effect, hodgesLehmann } = r.evidence;
  const { subject, baseline } = sides;
  const values =
    spec.kind === "histogram"
      ? `p${Math.round((spec.quantile ?? 0.99) * 100)} ${subject} ${ms(r.quantiles.canary)} vs ${baseline} ${ms(r.quantiles.stable)}, `
      : `${subject} median ${num(r.quantiles.canary)} vs ${baseline} ${num(r.quantiles.stable)}, `;
  return (
    values +
    `Hodges–Lehmann ${r.positive ? `${subject} ÷ ${baseline}` : `${subject} − ${baseline}`} ${num(hodgesLehmann ?? null)}; ` +
    `U = ${r.u.toFixed(0)} over ${r.n.canary.toFixed(0)} × ${r.n.stable.toFixed(0)}, P(worse than ${marginAdjustedStable(spec, sides)}) = ${r.probability.toFixed(3)} ` +
    `(${level(alpha)} always-valid interval of P − ½: [${num(effect.lower)}, ${num(effect.upper)}])`
  );
}

export function explainDrift(d: ReturnType<typeof driftEvidence>, spec: CheckSpec, plannedLooks: number): string {
  const looks = plannedLooks > 1 ? ` before Bonferroni over ${plannedLooks} looks` : "";
  return `PSI ${d.psi.toFixed(3)} over ${d.df + 1} buckets (threshold ${spec.margin}; χ² = ${d.chi2.toFixed(1)}, df ${d.df}, p = ${num(d.p)}${looks})`;
}

export function tooLittle(spec: CheckSpec, n: { canary: number; stable: number }, sides: Sides = CANARY_SIDES): string {
  return `Too little traffic in this ${sides.period} (${sides.subject} ${n.canary.toFixed(0)}, ${sides.baseline} ${n.stable.toFixed(0)}; needs ${spec.minSamples} each): inconclusive, not a pass.`;
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
  o: { drift: boolean; explain: string; pWorse: number; pBetter: number | null; alpha: number; tooLittle: string; sides?: Sides },
): string {
  const { explain, alpha } = o;
  const { subject, baseline } = o.sides ?? CANARY_SIDES;
  const ps = `evidence ${subject} is worse: ${evidence(o.pWorse, alpha)}; evidence it is within the margin: ${evidence(o.pBetter, alpha)}`;
  if (o.drift) {
    if (rung === "worse") return `Drifted beyond the threshold (${subject} against ${baseline}): ${explain}.`;
    if (rung === "too-little") return `${o.tooLittle} ${explain}.`;
    if (rung === "within") return `No drift beyond the threshold: ${explain}.`;
    return `PSI above the threshold but not yet significant: ${explain}.`;
  }
  if (rung === "worse")
    return `${capital(subject)} worse beyond the margin: ${explain}; evidence ${subject} is worse: ${evidence(o.pWorse, alpha)}, p ≤ α = ${num(alpha)}.`;
  if (rung === "too-little") return `${o.tooLittle} So far: ${explain}.`;
  if (rung === "within") return `${capital(subject)} within the margin: ${explain}; ${ps}.`;
  return `Not decided yet: ${explain}; ${ps} (strong needs p ≤ α = ${num(alpha)}).`;
}
