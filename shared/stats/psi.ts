import { normalCdf } from "./normal.js";

export interface PsiResult {
  psi: number;
  /** PSI scaled to a χ² statistic under "same distribution": PSI / (1/n₁ + 1/n₂). */
  chi2: number;
  df: number;
  /** Chance of a PSI at least this large from sampling noise alone. */
  p: number;
}

/**
 * Population stability index between two histograms over the same buckets (non-cumulative
 * counts), Σ (c − s) ln(c / s) over the bucket shares with 0.5 added to every count. Under "no
 * drift" PSI is a symmetrised KL divergence and PSI / (1/n₁ + 1/n₂) is approximately χ² with
 * (buckets in use − 1) degrees of freedom, which gives the p-value: a large PSI from a few
 * dozen scores is noise, the same PSI from thousands is drift.
 */
export function populationStability(canary: readonly number[], stable: readonly number[]): PsiResult {
  const used: number[] = [];
  for (let i = 0; i < Math.max(canary.length, stable.length); i++) if ((canary[i] ?? 0) > 0 || (stable[i] ?? 0) > 0) used.push(i);
  const n1 = used.reduce((s, i) => s + Math.max(0, canary[i] ?? 0), 0);
  const n2 = used.reduce((s, i) => s + Math.max(0, stable[i] ?? 0), 0);
  if (!(n1 > 0) || !(n2 > 0) || used.length < 2) return { psi: 0, chi2: 0, df: Math.max(0, used.length - 1), p: 1 };
  const k = used.length;
  let psi = 0;
  for (const i of used) {
    const c = (Math.max(0, canary[i] ?? 0) + 0.5) / (n1 + 0.5 * k);
    const s = (Math.max(0, stable[i] ?? 0) + 0.5) / (n2 + 0.5 * k);
    psi += (c - s) * Math.log(c / s);
  }
  const chi2 = psi / (1 / n1 + 1 / n2);
  const df = k - 1;
  return { psi, chi2, df, p: chiSquareSurvival(chi2, df) };
}

/** P(χ²_k ≥ x), Wilson–Hilferty's cube-root normal approximation (good to a few 1e-3 from k = 3). */
export function chiSquareSurvival(x: number, k: number): number {
  if (!(x > 0)) return 1;
  if (k <= 0) return 0;
  const h = 2 / (9 * k);
  const z = (Math.cbrt(x / k) - (1 - h)) / Math.sqrt(h);
  return 1 - normalCdf(z);
}
