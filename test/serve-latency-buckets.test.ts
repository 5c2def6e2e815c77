import { describe, expect, it } from "vitest";
import { REQUEST_LATENCY_BUCKETS } from "../shared/serve/metrics.js";

/** Index of the histogram bucket (upper bound `le`) a latency in seconds is counted in. */
const bucketOf = (seconds: number) => REQUEST_LATENCY_BUCKETS.findIndex((le) => seconds <= le);

describe("request latency buckets (monitor-canary's latency resolution)", () => {
  it("are sorted, distinct and reach 5 s", () => {
    const sorted = [...REQUEST_LATENCY_BUCKETS].sort((a, b) => a - b);
    expect(REQUEST_LATENCY_BUCKETS).toEqual(sorted);
    expect(new Set(REQUEST_LATENCY_BUCKETS).size).toBe(REQUEST_LATENCY_BUCKETS.length);
    expect(REQUEST_LATENCY_BUCKETS.at(-1)).toBe(5);
  });

  it("put a request and the same request 1.5x slower in different buckets from 0.3 ms to 30 ms", () => {
    const missed: number[] = [];
    for (let ms = 0.3; ms <= 30; ms *= 1.01) {
      if (bucketOf(ms / 1000) === bucketOf((1.5 * ms) / 1000)) missed.push(ms);
    }
    expect(missed).toEqual([]);
  });

  it("are no wider than 25 % in that range, so a p99 read from them is within 25 %", () => {
    const inRange = REQUEST_LATENCY_BUCKETS.filter((le) => le >= 0.0003 && le <= 0.04);
    for (let i = 1; i < inRange.length; i++) expect(inRange[i] / inRange[i - 1]).toBeLessThanOrEqual(1.26);
  });
});
