import { describe, expect, it } from "vitest";
import { RecentRecommendations } from "../shared/serve/feedback.js";

describe("RecentRecommendations (what feedback is matched against)", () => {
  it("keeps the last `capacity` responses and forgets the oldest first", () => {
    const recent = new RecentRecommendations(3);
    for (let i = 0; i < 5; i++) recent.remember(`r${i}`, [`a${i}`, `b${i}`]);
    expect(recent.size).toBe(3);
    expect(recent.outcome("r0", "a0")).toBe("unknown_request");
    expect(recent.outcome("r1", "a1")).toBe("unknown_request");
    expect(recent.outcome("r2", "b2")).toBe("recommended");
    expect(recent.outcome("r4", "a3")).toBe("not_recommended");
  });

  it("stays at capacity over many wraps of its ring, and a repeated id does not take a second slot", () => {
    const recent = new RecentRecommendations(100);
    for (let i = 0; i < 10_000; i++) recent.remember(`r${i}`, [`x${i}`]);
    expect(recent.size).toBe(100);
    expect(recent.outcome("r9899", "x9899")).toBe("unknown_request");
    expect(recent.outcome("r9900", "x9900")).toBe("recommended");
    recent.remember("r9999", ["y"]);
    expect(recent.size).toBe(100);
    expect(recent.outcome("r9999", "y")).toBe("recommended");
    // r9900 is still the oldest: one new id forgets it, not a newer one
    recent.remember("fresh", ["z"]);
    expect(recent.outcome("r9900", "x9900")).toBe("unknown_request");
    expect(recent.outcome("r9901", "x9901")).toBe("recommended");
  });
});
