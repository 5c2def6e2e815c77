import { mannWhitneyGreater } from "./mann-whitney.js";
import type { Direction, MarginKind } from "./types.js";
import type { SequentialInput } from "./sequential.js";

export interface RankShiftEffect extends SequentialInput {
  /** Mann–Whitney U of "canary worse than stable beyond the margin". */
  u: number;
  /** Its z (normal approximation, tie- and continuity-corrected) and fixed-sample one-sided p. */
  z: number;
  pFixed: number;
  /** U / (n₁ n₂): the chance a canary sample is worse than a margin-adjusted stable one (0.5: even). */
  probability: number;
  n: { canary: number; stable: number };
}

/**
 * Mann–Whitney U (shared/gate) of the canary against stable moved by the margin: for "lower is
 * better", canary > (1 + m) × stable (relative) or stable + m (absolute); for "higher is
 * better", the mirror image. θ = U/(n₁n₂) − ½ estimates how much more often a canary sample is
 * worse than an adjusted stable one than by chance; its variance is U's under no difference,
 * (n₁ + n₂ + 1)/(12 n₁ n₂), and τ is 0.1 in that scale (a 60:40 tilt). So noise within the
 * margin cannot fail the check, and an identical canary passes once θ's interval lies below 0.
 * `nCanary`/`nStable` are the true sample sizes when the samples stand in for more (histograms).
 */
export function rankShiftEffect(
  canary: ArrayLike<number>,
  stable: ArrayLike<number>,
  options: { direction: Direction; margin: number; marginKind: MarginKind; nCanary?: number; nStable?: number },
): RankShiftEffect {
  const m = options.margin;
  const moved = Array.from(stable, (v) =>
    options.direction === "lower"
      ? options.marginKind === "relative"
        ? v * (1 + m)
        : v + m
      : options.marginKind === "relative"
        ? v * (1 - m)
        : v - m,
  );
  const r = options.direction === "lower" ? mannWhitneyGreater(canary, moved) : mannWhitneyGreater(moved, canary);
  const n1 = canary.length;
  const n2 = stable.length;
  const probability = n1 && n2 ? r.u / (n1 * n2) : 0.5;
  const nc = options.nCanary ?? n1;
  const ns = options.nStable ?? n2;
  const variance = nc > 0 && ns > 0 ? (nc + ns + 1) / (12 * nc * ns) : Infinity;
  return {
    estimate: probability - 0.5,
    variance,
    threshold: 0,
    tau: 0.1,
    u: r.u,
    z: r.z,
    pFixed: r.p,
    probability,
    n: { canary: nc, stable: ns },
  };
}

/**
 * Hodges–Lehmann estimate of the shift from stable to canary: the weighted median of every
 * pairwise canary/stable ratio ("ratio", positive values) or difference.
 */
export function hodgesLehmann(
  canary: readonly { value: number; weight: number }[],
  stable: readonly { value: number; weight: number }[],
  scale: "ratio" | "difference",
): number {
  if (!canary.length || !stable.length) return NaN;
  const pairs: { d: number; w: number }[] = [];
  for (const c of canary) {
    for (const s of stable) {
      const d = scale === "ratio" ? Math.log(c.value / s.value) : c.value - s.value;
      if (Number.isFinite(d)) pairs.push({ d, w: c.weight * s.weight });
    }
  }
  if (!pairs.length) return NaN;
  pairs.sort((a, b) => a.d - b.d);
  const half = pairs.reduce((s, p) => s + p.w, 0) / 2;
  let acc = 0;
  for (const p of pairs) {
    acc += p.w;
    if (acc >= half) return scale === "ratio" ? Math.exp(p.d) : p.d;
  }
  return NaN;
}

/** Plain samples as HL points; more than `max` are thinned evenly (pairs grow as n²). */
export function samplePoints(values: ArrayLike<number>, max = 400): { value: number; weight: number }[] {
  const sorted = Array.from(values).sort((a, b) => a - b);
  if (sorted.length <= max) return sorted.map((value) => ({ value, weight: 1 }));
  const step = sorted.length / max;
  return Array.from({ length: max }, (_, i) => ({ value: sorted[Math.floor((i + 0.5) * step)], weight: step }));
}
