import { describe, expect, it } from "vitest";
import { maskedRank, ndcg, perUser, rankAmong, rankCounts, rankOf, summarize } from "../shared/eval/metrics.js";
import { evaluate, sampledNegatives } from "../shared/eval/evaluator.js";
import { PopularityScorer } from "../shared/eval/popularity.js";

describe("ranking metrics", () => {
  it("computes HR, NDCG and MRR from 0-based ranks", () => {
    const m = summarize([0, 1, 9, 10, 50], [10]);
    expect(m.hr10).toBeCloseTo(3 / 5);
    expect(m.ndcg10).toBeCloseTo((1 + 1 / Math.log2(3) + 1 / Math.log2(11)) / 5);
    expect(m.mrr).toBeCloseTo((1 + 1 / 2 + 1 / 10 + 1 / 11 + 1 / 51) / 5);
    expect(ndcg(10, 10)).toBe(0);
    expect(Array.from(perUser([0, 20], "hr", 10))).toEqual([1, 0]);
  });

  it("counts half of the ties, so constant scores rank in the middle", () => {
    expect(rankAmong([1, 1, 1, 1, 1], 1, 5)).toBe(2);
    expect(rankAmong([3, 2, 1], 2, 3)).toBe(1);
  });

  it("samples negatives the user never saw, the same ones for the same seed", () => {
    const a = sampledNegatives(7, Int32Array.from([1, 2, 3]), 200, 100, 5);
    expect(new Set(a).size).toBe(100);
    expect([1, 2, 3].some((i) => a.includes(i))).toBe(false);
    expect(Array.from(sampledNegatives(7, Int32Array.from([1, 2, 3]), 200, 100, 5))).toEqual(Array.from(a));
  });

  it("evaluates a scorer: popularity ranks the most popular target first", async () => {
    const train = [Int32Array.from([1, 1, 1, 2]), Int32Array.from([1, 3])];
    const pop = new PopularityScorer(train, 5);
    const r = await evaluate(pop, [{ user: 0, history: train[0], target: 1, interacted: Int32Array.from([1, 2]) }], {
      sampledNegatives: 2,
    });
    expect(r.ranks.full[0]).toBe(0);
    expect(r.full.ndcg10).toBe(1);
    expect(r.sampled?.hr10).toBe(1);
  });
});

describe("the two full-ranking protocols", () => {
  it("masks the user's history (repeats once, never the target) in a hand-computed case, and equals a brute-force re-rank", async () => {
    // items 1..6 score 0.9, 0.8, 0.7, 0.6, 0.5, 0.4; the target is item 4 (0.6)
    const scores = Float32Array.of(0.9, 0.8, 0.7, 0.6, 0.5, 0.4);
    const counts = rankCounts(scores, scores[3], 6);
    expect(rankOf(counts.greater, counts.ties)).toBe(3); // items 1, 2, 3 above it
    // history 1, 3, 1 (a repeat), 4 (the target again, e.g. bought twice), 6 (below it): 2 items above are masked
    expect(maskedRank(scores, 0, 4, counts, Int32Array.of(1, 3, 1, 4, 6))).toBe(1);

    const cases = [
      { user: 0, history: Int32Array.of(1, 3, 1, 4, 6), target: 4, interacted: Int32Array.of(1, 3, 4, 6) },
      { user: 1, history: Int32Array.of(2), target: 1, interacted: Int32Array.of(1, 2) },
    ];
    const scorer = { numItems: 6, score: (h: Int32Array[]) => Float32Array.from({ length: h.length * 6 }, (_, i) => scores[i % 6]) };
    const result = await evaluate(scorer, cases, { sampledNegatives: 0 });
    expect(Array.from(result.ranks.full)).toEqual([3, 0]);
    expect(Array.from(result.ranks.fullMasked)).toEqual([1, 0]);
    // HR@1: only user 1 in both; NDCG@10 masked: (1/log2(3) + 1) / 2
    expect(result.fullMasked.ndcg10).toBeCloseTo((1 / Math.log2(3) + 1) / 2, 12);
    expect(result.full.ndcg10).toBeCloseTo((1 / Math.log2(5) + 1) / 2, 12);
  });
});
