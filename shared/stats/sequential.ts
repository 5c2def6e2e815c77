import { normalCdf } from "./normal.js";

/**
 * Always-valid sequential testing with a normal-mixture martingale (mSPRT, Robbins 1970;
 * Johari et al. 2017), applied to an asymptotically normal estimate θ̂ with variance V
 * (asymptotic confidence sequences, Waudby-Smith et al. 2021).
 *
 * One-sided: against H0 θ ≤ θ0 the likelihood ratio is mixed over θ − θ0 > 0 with a
 * half-normal density of scale τ. With z = (θ̂ − θ0)/√V and r = τ²/V:
 *
 *   Λ = 2 (1 + r)^(−1/2) · exp(z² r / (2 (1 + r))) · Φ(z √(r / (1 + r)))
 *
 * Λ is a (super)martingale under every θ ≤ θ0, so by Ville's inequality the chance that it
 * EVER reaches 1/α, at any of any number of looks, is at most α. Looking after every
 * interval therefore costs no extra false alarms, and p = min over looks of 1/Λ is an
 * always-valid p-value.
 */
function logMixtureRatio(z: number, r: number): number {
  if (!(r > 0)) return -Infinity;
  const s = Math.sqrt(r / (1 + r));
  const phi = normalCdf(z * s);
  if (phi <= 0) return -Infinity;
  return Math.LN2 - 0.5 * Math.log1p(r) + (z * z * r) / (2 * (1 + r)) + Math.log(phi);
}

/** The z at which Λ reaches 1/α (the one-sided boundary), for this r. */
export function boundaryZ(r: number, alpha: number): number {
  if (!(r > 0)) return Infinity;
  const target = Math.log(1 / alpha);
  let lo = 0;
  let hi = 1;
  while (logMixtureRatio(hi, r) < target) {
    hi *= 2;
    if (hi > 1e6) return Infinity;
  }
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (logMixtureRatio(mid, r) < target) lo = mid;
    else hi = mid;
  }
  return hi;
}

export interface SequentialInput {
  /** θ̂: how much worse the canary is, in the check's own scale (positive: worse). */
  estimate: number;
  /** Its variance. */
  variance: number;
  /** θ0: the margin; worse than this fails, better than this passes. */
  threshold: number;
  /** Mixing scale τ in θ's unit: the size of effect the test is tuned to find quickly. */
  tau: number;
}

export interface SequentialLook {
  /** (θ̂ − θ0)/√V */
  z: number;
  /** 1/Λ of "canary worse than the margin" at this look (capped at 1). */
  pWorse: number;
  /** 1/Λ of "canary better than the margin" at this look. */
  pBetter: number;
  /** The always-valid confidence sequence for θ at this look: θ̂ ± halfWidth. */
  lower: number;
  upper: number;
  halfWidth: number;
}

/** One look of both one-sided tests (worse than θ0; better than θ0) and the matching confidence sequence. */
export function sequentialLook(input: SequentialInput, alpha: number): SequentialLook {
  const { estimate, variance, threshold, tau } = input;
  if (!(variance > 0) || !Number.isFinite(estimate)) {
    return { z: 0, pWorse: 1, pBetter: 1, lower: -Infinity, upper: Infinity, halfWidth: Infinity };
  }
  const sd = Math.sqrt(variance);
  const r = (tau * tau) / variance;
  const z = (estimate - threshold) / sd;
  const p = (zz: number) => Math.min(1, Math.exp(-logMixtureRatio(zz, r)));
  const halfWidth = boundaryZ(r, alpha) * sd;
  return { z, pWorse: p(z), pBetter: p(-z), lower: estimate - halfWidth, upper: estimate + halfWidth, halfWidth };
}
