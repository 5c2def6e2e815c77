import { describe, expect, it } from "vitest";
import { ndcg, perUser, rankAmong, summarize } from "../shared/eval/metrics.js";
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
