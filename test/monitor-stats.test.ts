import { describe, expect, it } from "vitest";
import { bucketQuantile, cellsOf, pseudoSamples } from "../shared/stats/histogram.js";
import { proportionEffect } from "../shared/stats/proportion.js";
import { chiSquareSurvival, populationStability } from "../shared/stats/psi.js";
import { hodgesLehmann, rankShiftEffect, samplePoints } from "../shared/stats/rank-shift.js";
import { boundaryZ, sequentialLook } from "../shared/stats/sequential.js";

/** mulberry32, so every simulated run is the same on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function binomial(n: number, p: number, rand: () => number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (rand() < p) k++;
  return k;
}

const errorRate = { direction: "lower" as const, margin: 0.01, marginKind: "absolute" as const };

describe("the always-valid sequential test", () => {
  it("keeps false alarms at α over many looks, where a fixed-sample test peeked at every look does not", () => {
    const rand = rng(7);
    const alpha = 0.02;
    const runs = 400;
    let sequential = 0;
    let naive = 0;
    for (let run = 0; run < runs; run++) {
      // an identical canary exactly at the margin (the hardest null): canary 3 %, stable 2 %, margin 1 pp
      const c = { successes: 0, trials: 0 };
      const s = { successes: 0, trials: 0 };
      let flagged = false;
      let naiveFlagged = false;
      for (let look = 0; look < 12; look++) {
        c.trials += 150;
        c.successes += binomial(150, 0.03, rand);
        s.trials += 600;
        s.successes += binomial(600, 0.02, rand);
        const e = proportionEffect(c, s, errorRate);
        if (sequentialLook(e, alpha).pWorse <= alpha) flagged = true;
        if ((e.estimate - e.threshold) / Math.sqrt(e.variance) > 2.054) naiveFlagged = true;
      }
      if (flagged) sequential++;
      if (naiveFlagged) naive++;
    }
    expect(sequential / runs).toBeLessThanOrEqual(alpha);
    expect(naive / runs).toBeGreaterThan(2 * alpha);
  });

  it("stops a clearly bad canary at the first look and passes a clearly good one early", () => {
    const bad = proportionEffect({ successes: 60, trials: 1000 }, { successes: 4, trials: 4000 }, errorRate);
    expect(sequentialLook(bad, 0.02).pWorse).toBeLessThan(0.02);
    const good = proportionEffect({ successes: 1, trials: 3000 }, { successes: 4, trials: 9000 }, errorRate);
    const look = sequentialLook(good, 0.02);
    expect(look.pBetter).toBeLessThan(0.02);
    expect(look.upper).toBeLessThan(0.01);
  });

  it("has a boundary above the fixed-sample one, lowest for a mixing scale near the data's precision", () => {
    const z = [0.5, 2, 10, 50, 1000].map((r) => boundaryZ(r, 0.02));
    for (const b of z) expect(b).toBeGreaterThan(2.054);
    expect(Math.min(...z)).toBe(z[2]);
  });
});

describe("proportions", () => {
  it("3 errors in 40 requests against stable's 1 % is neither a fail nor a pass", () => {
    const e = proportionEffect({ successes: 3, trials: 40 }, { successes: 10, trials: 1000 }, errorRate);
    const look = sequentialLook(e, 0.02);
    expect(e.canaryRate).toBeCloseTo(0.075);
    expect(look.pWorse).toBeGreaterThan(0.02);
    expect(look.pBetter).toBeGreaterThan(0.02);
    expect(look.lower).toBeLessThan(0.01);
    expect(look.upper).toBeGreaterThan(0.01);
  });

  it("0 errors in a few requests is not a pass either", () => {
    const look = sequentialLook(proportionEffect({ successes: 0, trials: 30 }, { successes: 0, trials: 300 }, errorRate), 0.02);
    expect(look.pBetter).toBeGreaterThan(0.02);
  });

  it("judges click-through as a ratio: 20 % fewer clicks fails a 10 % margin, an equal rate passes it", () => {
    const ctr = { direction: "higher" as const, margin: 0.1, marginKind: "relative" as const };
    const worse = sequentialLook(proportionEffect({ successes: 1600, trials: 8000 }, { successes: 5000, trials: 20000 }, ctr), 0.02);
    expect(worse.pWorse).toBeLessThan(0.02);
    const same = sequentialLook(proportionEffect({ successes: 2000, trials: 8000 }, { successes: 5000, trials: 20000 }, ctr), 0.02);
    expect(same.pBetter).toBeLessThan(0.02);
    expect(same.pWorse).toBe(1);
  });
});

/** n deterministic log-normal latencies (quantiles of a log-normal), median `median` seconds. */
function latencies(n: number, median: number, sigma = 0.5): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = (i + 0.5) / n;
    // inverse normal CDF by bisection on erf-free logistic approximation is enough here
    const z = Math.log(u / (1 - u)) / 1.702;
    out.push(median * Math.exp(sigma * z));
  }
  return out;
}

describe("latency: Mann–Whitney against the margin, Hodges–Lehmann", () => {
  const opts = { direction: "lower" as const, margin: 0.1, marginKind: "relative" as const };

  it("finds a 50 % slower canary and estimates the shift", () => {
    const stable = latencies(800, 0.002);
    const canary = latencies(400, 0.003);
    const e = rankShiftEffect(canary, stable, opts);
    expect(sequentialLook(e, 0.02).pWorse).toBeLessThan(0.02);
    expect(hodgesLehmann(samplePoints(canary), samplePoints(stable), "ratio")).toBeCloseTo(1.5, 1);
  });

  it("passes an identical canary once the margin is out of its interval", () => {
    const e = rankShiftEffect(latencies(800, 0.002), latencies(800, 0.002), opts);
    const look = sequentialLook(e, 0.02);
    expect(e.estimate).toBeLessThan(0);
    expect(look.upper).toBeLessThan(0);
    expect(look.pBetter).toBeLessThan(0.02);
  });
});

describe("histogram buckets", () => {
  const buckets = [
    { le: 1, count: 10 },
    { le: 2, count: 20 },
    { le: Infinity, count: 20 },
  ];

  it("computes quantiles the way histogram_quantile does", () => {
    expect(bucketQuantile(0.5, buckets)).toBeCloseTo(1);
    expect(bucketQuantile(0.75, buckets)).toBeCloseTo(1.5);
    expect(bucketQuantile(0.99, [...buckets.slice(0, 2), { le: Infinity, count: 25 }])).toBe(2);
    expect(bucketQuantile(0.5, [])).toBeNaN();
  });

  it("spreads each bucket's count over its range as stand-in samples", () => {
    const samples = pseudoSamples(cellsOf(buckets));
    expect(samples.length).toBe(20);
    expect(samples.filter((v) => v <= 1).length).toBe(10);
    expect(samples.filter((v) => v > 1 && v <= 2).length).toBe(10);
  });

  it("PSI: near 0 for the same distribution, large and significant for a shifted one", () => {
    const same = populationStability([100, 300, 400, 200], [210, 590, 810, 390]);
    expect(same.psi).toBeLessThan(0.01);
    expect(same.p).toBeGreaterThan(0.05);
    const shifted = populationStability([400, 400, 150, 50], [200, 600, 800, 400]);
    expect(shifted.psi).toBeGreaterThan(0.2);
    expect(shifted.p).toBeLessThan(1e-6);
    expect(chiSquareSurvival(7.815, 3)).toBeCloseTo(0.05, 2);
  });
});
