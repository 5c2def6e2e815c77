import { describe, expect, it } from "vitest";
import type { BatchSlice } from "../shared/serve/batcher.js";
import { recommendNeeds, selectRecommendations } from "../shared/serve/recommend.js";
import { topK } from "../shared/eval/topk.js";
import { Rng } from "../shared/util/random.js";

const NUM_ITEMS = 60;
const TOP_K = 20;

/** One row of model outputs: random scores, and the model's top-k (dense ids, best first) from them. */
function row(rng: Rng) {
  const scores = Float32Array.from({ length: NUM_ITEMS }, () => Math.round(rng.next() * 1000) / 1000);
  const order = Array.from({ length: NUM_ITEMS }, (_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b);
  const top = order.slice(0, TOP_K);
  return {
    scores,
    topItems: BigInt64Array.from(top, (j) => BigInt(j + 1)),
    topScores: Float32Array.from(top, (j) => scores[j]),
    order,
  };
}

/** The reference: every item by score (ties to the lower id), seen ones dropped, first k. */
function reference(order: number[], k: number, seen: Set<number>): number[] {
  return order
    .map((j) => j + 1)
    .filter((d) => !seen.has(d))
    .slice(0, k);
}

describe("recommendations from the model's top-k output", () => {
  it("needs the full score row only when the top-k may run short after dropping seen items", () => {
    expect(recommendNeeds(100, 10, 50)).toEqual(["top_items", "top_scores"]);
    expect(recommendNeeds(100, 10, 89)).toEqual(["top_items", "top_scores"]);
    expect(recommendNeeds(100, 10, 90)).toContain("scores");
    expect(recommendNeeds(100, 101, 0)).toContain("scores");
  });

  it("gives the reference answer with only what recommendNeeds fetched, whatever the seen items are", () => {
    const rng = new Rng("select");
    for (let trial = 0; trial < 300; trial++) {
      const r = row(rng);
      const k = 1 + Math.floor(rng.next() * 30);
      // seen items mostly from the top of the ranking: the hard case for the top-k output
      const seen = new Set<number>();
      const nSeen = Math.floor(rng.next() * 25);
      while (seen.size < nSeen)
        seen.add(1 + (rng.next() < 0.7 ? r.order[Math.floor(rng.next() * TOP_K)] : Math.floor(rng.next() * NUM_ITEMS)));
      const needs = recommendNeeds(TOP_K, k, seen.size);
      const outputs = {
        rows: 1,
        topItems: r.topItems,
        topScores: r.topScores,
        ...(needs.includes("scores") ? { scores: r.scores } : {}),
      };
      const slice: BatchSlice = { outputs, offset: 0, rows: 1 };
      const picked = selectRecommendations(slice, { numItems: NUM_ITEMS, topK: TOP_K }, k, seen);
      expect(Array.from(picked.dense)).toEqual(reference(r.order, k, seen));
      expect(Array.from(picked.scores)).toEqual(Array.from(picked.dense, (d) => r.scores[d - 1]));
    }
  });

  it("topK over a row skips excluded columns and breaks ties toward the lower column", () => {
    const scores = Float32Array.from([0.5, 0.9, 0.9, 0.1, 0.9, 0.7]);
    const best = topK(scores, 0, scores.length, 3, new Set([1]));
    expect(Array.from(best.columns)).toEqual([2, 4, 5]);
    expect(Array.from(topK(scores, 0, scores.length, 2).columns)).toEqual([1, 2]);
  });
});
