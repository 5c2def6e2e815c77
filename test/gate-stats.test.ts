import { describe, expect, it } from "vitest";
import { meanStatistic, pairedBootstrap, quantile, regressionPValue, relativeChange } from "../shared/stats/bootstrap.js";
import { holm } from "../shared/stats/holm.js";
import { mannWhitneyGreater, slowerThanMargin } from "../shared/stats/mann-whitney.js";
import { normalCdf } from "../shared/stats/normal.js";
import { Rng } from "../shared/util/random.js";

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe("normal CDF", () => {
  it("matches tabulated values", () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.326348)).toBeCloseTo(0.01, 6);
    expect(normalCdf(8)).toBeCloseTo(1, 9);
  });
});

describe("Holm correction", () => {
  it("steps down and stops at the first test it cannot reject", () => {
    // sorted: 0.005 ≤ 0.05/4, 0.01 ≤ 0.05/3, 0.03 > 0.05/2: stop
    const d = holm([0.01, 0.04, 0.03, 0.005], 0.05);
    expect(d.map((x) => x.rejected)).toEqual([true, false, false, true]);
    expect(d.map((x) => x.threshold)).toEqual([0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4]);
    expect(d[3].adjusted).toBeCloseTo(0.02);
    expect(d[0].adjusted).toBeCloseTo(0.03);
    expect(d[2].adjusted).toBeCloseTo(0.06);
    expect(d[1].adjusted).toBeCloseTo(0.06);
  });

  it("rejects nothing when nothing is small, and a single test is tested at alpha", () => {
    expect(holm([0.2, 0.5, 0.9], 0.05).some((x) => x.rejected)).toBe(false);
    expect(holm([0.049], 0.05)[0].rejected).toBe(true);
    expect(holm([], 0.05)).toEqual([]);
  });
});

describe("Mann-Whitney", () => {
  it("counts pairs for U and is not significant on identical samples", () => {
    const r = mannWhitneyGreater([1, 2, 3], [4, 5, 6]);
    expect(r.u).toBe(0);
    expect(r.p).toBeGreaterThan(0.9);
    const same = mannWhitneyGreater([5, 5, 5, 5, 5, 5, 5, 5], [5, 5, 5, 5, 5, 5, 5, 5]);
    expect(same.u).toBe(32);
    expect(same.p).toBe(1);
  });

  it("matches the normal approximation of a textbook case", () => {
    // x all above y: U = n1*n2 = 100, z = (100 - 50 - 0.5) / sqrt(100*21/12)
    const x = Array.from({ length: 10 }, (_, i) => 20 + i);
    const y = Array.from({ length: 10 }, (_, i) => i);
    const r = mannWhitneyGreater(x, y);
    expect(r.u).toBe(100);
    expect(r.z).toBeCloseTo(49.5 / Math.sqrt((100 * 21) / 12), 9);
    expect(r.p).toBeLessThan(0.001);
  });

  it("lets noise within the margin pass and a real slow-down fail", () => {
    const rng = new Rng(3);
    const noisy = (base: number) => Array.from({ length: 30 }, () => base * (1 + 0.1 * (rng.next() - 0.5)));
    const baseline = noisy(10);
    expect(slowerThanMargin(noisy(11), baseline, 0.25).p).toBeGreaterThan(0.5); // 10% slower, 25% allowed
    expect(slowerThanMargin(noisy(20), baseline, 0.25).p).toBeLessThan(1e-6); // twice as slow
    expect(slowerThanMargin(baseline, baseline, 0).p).toBeGreaterThan(0.4); // identical runs never fail
  });
});

describe("paired bootstrap", () => {
  it("gives a zero-width interval and p = 1 when both models agree on every user", () => {
    const rng = new Rng(1);
    const v = Float64Array.from({ length: 500 }, () => (rng.next() < 0.1 ? 1 / Math.log2(2 + rng.int(10)) : 0));
    const [d] = pairedBootstrap(all(500), [meanStatistic("ndcg", v, v)], { resamples: 1000, seed: 1 });
    expect(d.relDelta).toBe(0);
    expect(quantile(d.rel, 0.001)).toBe(0);
    expect(quantile(d.rel, 0.999)).toBe(0);
    expect(regressionPValue(d.rel, "higher", 0)).toBe(1);
  });

  it("puts a clear drop's whole interval below zero, and is reproducible with its seed", () => {
    const rng = new Rng(2);
    const n = 3000;
    const base = Float64Array.from({ length: n }, () => (rng.next() < 0.3 ? 1 : 0));
    // the candidate loses a third of the hits
    const cand = Float64Array.from(base, (x) => (x === 1 && rng.next() < 0.33 ? 0 : x));
    const run = () => pairedBootstrap(all(n), [meanStatistic("hr", cand, base)], { resamples: 1000, seed: 7 })[0];
    const d = run();
    expect(d.relDelta).toBeCloseTo(cand.reduce((a, b) => a + b) / base.reduce((a, b) => a + b) - 1, 12);
    expect(quantile(d.rel, 0.975)).toBeLessThan(-0.25);
    expect(quantile(d.rel, 0.025)).toBeGreaterThan(-0.4);
    expect(regressionPValue(d.rel, "higher", 0.05)).toBeLessThan(0.002);
    expect(Array.from(run().rel)).toEqual(Array.from(d.rel));
  });

  it("a sparse vector's replicates equal a dense computation of the same draw", () => {
    const stat = meanStatistic("x", Float64Array.from([0, 2, 0, 4]), Float64Array.from([1, 0, 0, 4]));
    const users = all(4);
    expect(stat.compute(users, Int32Array.from([1, 2, 1, 0]))).toEqual([(2 * 2) / 4, 1 / 4]);
    expect(stat.compute(users, null)).toEqual([6 / 4, 5 / 4]);
  });

  it("defines the relative change when the baseline is zero", () => {
    expect(relativeChange(0, 0)).toBe(0);
    expect(relativeChange(1, 0)).toBe(Infinity);
    expect(relativeChange(0.9, 1)).toBeCloseTo(-0.1);
  });
});
