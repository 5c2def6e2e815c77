import { describe, expect, it } from "vitest";
import { filterMatrix, filterWeightTable, lowPassKernel } from "../shared/model/frequency-filter.js";

/**
 * The reference: the real part of IDFT · diag(kept) · DFT applied to a unit impulse, by the
 * textbook O(n²) sums (bin f is kept when it or its mirror n − f is among the `cutoff` lowest).
 */
function projectedImpulse(n: number, cutoff: number): number[] {
  const kept = (f: number) => Math.min(f, n - f) < cutoff;
  const out: number[] = [];
  for (let j = 0; j < n; j++) {
    let re = 0;
    for (let f = 0; f < n; f++) if (kept(f)) re += Math.cos((2 * Math.PI * f * j) / n); // DFT of δ is 1 in every bin
    out.push(re / n);
  }
  return out;
}

describe("causal frequency filter", () => {
  for (const [n, cutoff] of [
    [8, 1],
    [8, 3],
    [8, 5],
    [9, 4],
    [50, 5],
    [7, 20],
  ]) {
    it(`its kernel is the ideal low-pass of a length-${n} sequence keeping ${cutoff} frequencies`, () => {
      const kernel = lowPassKernel(n, cutoff);
      const reference = projectedImpulse(n, cutoff);
      for (let j = 0; j < n; j++) expect(kernel[j]).toBeCloseTo(reference[j], 12);
    });
  }

  it("keeping every frequency is the identity: all weight on the current item, for every prefix length", () => {
    const table = filterWeightTable(6, 4);
    for (let n = 1; n <= 6; n++) {
      for (let j = 0; j < 6; j++) expect(table[(n - 1) * 6 + j]).toBeCloseTo(j === 0 ? 1 : 0, 6);
    }
  });

  it("every row's weights sum to 1 over the items that exist; cutoff 1 is the running mean", () => {
    for (const cutoff of [1, 2, 5, 13]) {
      const table = filterWeightTable(50, cutoff);
      for (let n = 1; n <= 50; n++) {
        let sum = 0;
        for (let j = 0; j < 50; j++) sum += table[(n - 1) * 50 + j];
        expect(sum).toBeCloseTo(1, 5);
        if (cutoff === 1) for (let j = 0; j < n; j++) expect(table[(n - 1) * 50 + j]).toBeCloseTo(1 / n, 6);
        for (let j = n; j < 50; j++) expect(table[(n - 1) * 50 + j]).toBe(0);
      }
    }
  });

  it("the batch operator mixes only real items at or before each position, whatever the padding", () => {
    const maxlen = 6;
    const table = filterWeightTable(maxlen, 2);
    // row 0: two pads then 3 items; row 1: five items, no padding
    const m = filterMatrix(Int32Array.from([0, 0, 7, 8, 9, 7, 8, 9, 4, 5]), 2, 5, maxlen, table);
    const at = (b: number, t: number, s: number) => m[(b * 5 + t) * 5 + s];
    for (let t = 0; t < 2; t++) for (let s = 0; s < 5; s++) expect(at(0, t, s)).toBe(0); // padding rows
    for (let t = 2; t < 5; t++) {
      for (let s = 0; s < 5; s++) {
        const expected = s >= 2 && s <= t ? table[(t - 2) * maxlen + (t - s)] : 0;
        expect(at(0, t, s)).toBe(expected);
      }
    }
    // row 1 starts with an item, so its row t has t + 1 items; the kernel of 2 frequencies is negative 3 steps back
    expect(at(1, 3, 0)).toBe(table[3 * maxlen + 3]);
    expect(at(1, 3, 0)).toBeCloseTo(-0.25, 6);
    expect(at(1, 0, 0)).toBe(1);
  });

  it("rejects a cutoff below 1", () => {
    expect(() => filterWeightTable(10, 0)).toThrow(/cutoff must be a whole number ≥ 1/);
  });
});
