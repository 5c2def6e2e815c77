import type { Direction, MarginKind } from "./types.js";
import type { SequentialInput } from "./sequential.js";

export interface Counts {
  successes: number;
  trials: number;
}

export interface ProportionEffect extends SequentialInput {
  canaryRate: number;
  stableRate: number;
  /** What θ is, for the report. */
  scale: "difference" | "log-ratio";
}

/**
 * Canary against stable as two binomial proportions, as θ = how much worse the canary is:
 * - absolute margin: the difference of rates with Agresti–Caffo's adjustment (one success and
 *   one failure added to each side), which keeps the variance honest at 0 events and small n:
 *   3 errors in 40 requests is a wide interval, not 0.075;
 * - relative margin: the log of the rate ratio (0.5 added to the events, the delta method's
 *   variance), so "10 % fewer clicks" is the same test at any base rate.
 * θ0 is the margin in that scale. τ, the mixing scale (the effect the test finds fastest), is
 * three margins for a difference (a 1 pp margin: tuned to +3 pp) and one margin for a ratio.
 */
export function proportionEffect(
  canary: Counts,
  stable: Counts,
  options: { direction: Direction; margin: number; marginKind: MarginKind },
): ProportionEffect {
  const sign = options.direction === "lower" ? 1 : -1;
  const canaryRate = canary.trials > 0 ? canary.successes / canary.trials : NaN;
  const stableRate = stable.trials > 0 ? stable.successes / stable.trials : NaN;
  if (options.marginKind === "absolute") {
    const pc = (canary.successes + 1) / (canary.trials + 2);
    const ps = (stable.successes + 1) / (stable.trials + 2);
    const variance = (pc * (1 - pc)) / (canary.trials + 2) + (ps * (1 - ps)) / (stable.trials + 2);
    return {
      estimate: sign * (pc - ps),
      variance,
      threshold: options.margin,
      tau: Math.max(3 * options.margin, 0.01),
      canaryRate,
      stableRate,
      scale: "difference",
    };
  }
  const pc = (canary.successes + 0.5) / (canary.trials + 1);
  const ps = (stable.successes + 0.5) / (stable.trials + 1);
  const variance = (1 - pc) / ((canary.trials + 1) * pc) + (1 - ps) / ((stable.trials + 1) * ps);
  // lower is better: canary ≤ (1 + m) stable; higher is better: canary ≥ (1 − m) stable
  const threshold = options.direction === "lower" ? Math.log1p(options.margin) : -Math.log1p(-Math.min(options.margin, 0.99));
  return {
    estimate: sign * Math.log(pc / ps),
    variance,
    threshold,
    tau: threshold > 0 ? threshold : 0.01,
    canaryRate,
    stableRate,
    scale: "log-ratio",
  };
}
