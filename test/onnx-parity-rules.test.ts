import { describe, expect, it } from "vitest";
import { inconsistentTopRows, ParityMeter, rankingsAgree, topColumns } from "../shared/convert/parity.js";
import { paritySample } from "../shared/convert/parity-sample.js";
import { RecshipError } from "../shared/errors.js";

describe("top-N selection", () => {
  it("returns the highest columns best first, lower column first among exact ties, NaN last", () => {
    expect(topColumns([0.1, 0.9, 0.5, 0.9, NaN, 0.7], 4)).toEqual([1, 3, 5, 2]);
    expect(topColumns([3, 2, 1], 5)).toEqual([0, 1, 2]);
    const row = Float32Array.from({ length: 1000 }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
    const sorted = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
    expect(topColumns(row, 10)).toEqual(sorted.slice(0, 10));
  });
});

describe("the tie rule", () => {
  const reference = [1.0, 0.99995, 0.5, 0.49996, 0.2];
  it("accepts a swap of items whose reference scores are within the tie tolerance", () => {
    expect(rankingsAgree(reference, [0, 1], [1, 0], 2e-4)).toBe(true);
    // at the boundary: item 3 instead of item 2, tied within tolerance
    expect(rankingsAgree(reference, [0, 1, 2], [0, 1, 3], 2e-4)).toBe(true);
  });
  it("rejects any other difference, duplicates and out-of-range items", () => {
    expect(rankingsAgree(reference, [0, 1], [1, 0], 1e-5)).toBe(false);
    expect(rankingsAgree(reference, [0, 1, 2], [0, 1, 4], 2e-4)).toBe(false);
    expect(rankingsAgree(reference, [0, 1], [0, 0], 1)).toBe(false);
    expect(rankingsAgree(reference, [0, 1], [0, 9], 1)).toBe(false);
    expect(rankingsAgree(reference, [0, 1], [0], 1)).toBe(false);
  });
});

describe("parity meter", () => {
  it("tracks max |Δ|, relative Δ (floored at 1e-3) and top agreement", () => {
    const meter = new ParityMeter(3, 2e-4, 2);
    meter.add({ scores: Float32Array.of(1, 0.5, 0.0001) }, { scores: Float32Array.of(1.00005, 0.5, 0.0002) });
    expect(meter.maxAbsDiff).toBeCloseTo(1e-4, 6);
    expect(meter.maxRelDiff).toBeCloseTo(0.1, 3); // 1e-4 / max(1e-4, 1e-3)
    expect(meter.topAgreement).toBe(1);
    meter.add({ scores: Float32Array.of(1, 0.5, 0.2) }, { scores: Float32Array.of(0.1, 0.5, 0.2) });
    expect(meter.topAgreement).toBe(0.5);
    expect(meter.disagreements).toEqual([{ sequence: 1, expected: [1, 2], actual: [2, 3] }]);
  });

  it("uses the candidate's own top list when it is long enough", () => {
    const meter = new ParityMeter(3, 0, 2);
    meter.add({ scores: Float32Array.of(3, 2, 1) }, { scores: Float32Array.of(3, 2, 1), topItems: Int32Array.of(1, 3), topK: 2 });
    expect(meter.topAgreement).toBe(0);
  });

  it("lets a NaN fail the comparison instead of vanishing in Math.max", () => {
    const meter = new ParityMeter(2, 1);
    meter.add({ scores: Float32Array.of(1, 2) }, { scores: Float32Array.of(NaN, 2) });
    expect(meter.maxAbsDiff).toBeNaN();
    expect(meter.maxAbsDiff <= 1).toBe(false);
  });

  it("finds top_items/top_scores rows that disagree with the scores", () => {
    const scores = Float32Array.of(0.1, 0.9, 0.5, 1, 2, 3);
    const good = { scores, topItems: Int32Array.of(2, 3, 3, 2), topScores: Float32Array.of(0.9, 0.5, 3, 2) };
    expect(inconsistentTopRows(good, 3, 2)).toBe(0);
    const wrongScore = { ...good, topScores: Float32Array.of(0.9, 0.5, 3, 2.5) };
    expect(inconsistentTopRows(wrongScore, 3, 2)).toBe(1);
    const wrongOrder = { ...good, topItems: Int32Array.of(3, 2, 3, 2), topScores: Float32Array.of(0.5, 0.9, 3, 2) };
    expect(inconsistentTopRows(wrongOrder, 3, 2)).toBe(1);
  });
});

describe("parity sample", () => {
  it("spreads real histories over their lengths and adds edge cases and random sequences in range", () => {
    const real = Array.from({ length: 50 }, (_, i) => Int32Array.from({ length: 1 + (i % 25) }, (_, j) => 1 + ((i + j) % 30)));
    const s = paritySample({ numItems: 30, maxlen: 8, histories: real, maxReal: 10, random: 20, seed: 3 });
    expect(s.real).toBe(10);
    expect(s.histories.length).toBe(10 + s.edge + 20);
    const realLengths = s.histories.slice(0, 10).map((h) => h.length);
    expect(Math.min(...realLengths)).toBe(1);
    expect(Math.max(...realLengths)).toBe(25);
    const edge = s.histories.slice(10, 10 + s.edge);
    expect(edge.some((h) => h.length === 0)).toBe(true);
    expect(edge.some((h) => h.length === 8)).toBe(true);
    expect(edge.some((h) => h.length > 8)).toBe(true);
    for (const h of s.histories) for (const item of h) expect(item >= 1 && item <= 30).toBe(true);
    expect(paritySample({ numItems: 30, maxlen: 8, seed: 3 }).histories).toEqual(
      paritySample({ numItems: 30, maxlen: 8, seed: 3 }).histories,
    );
  });

  it("rejects histories with ids outside the vocabulary", () => {
    expect(() => paritySample({ numItems: 5, maxlen: 4, histories: [Int32Array.of(1, 2), Int32Array.of(0, 3)] })).toThrow(RecshipError);
    expect(() => paritySample({ numItems: 5, maxlen: 4, histories: [Int32Array.of(6)] })).toThrow(/history 0 holds item 6/);
  });
});
