import { describe, expect, it } from "vitest";
import { finalVerdict, intervalDecision } from "../shared/canary/analysis.js";
import type { CheckResult } from "../shared/canary/judge.js";

// The decision ladder of one interval and the verdict at the end, apart from the measuring and
// the statistics (those are tested against real servers and Prometheus in monitor-*.test.ts).
const check = (name: string, decision: CheckResult["decision"], extra: Partial<CheckResult> = {}) =>
  ({ name, decision, critical: true, noData: false, message: `${name} is ${decision}`, ...extra }) as CheckResult;

const at = { failures: 0, failureLimit: 0, weight: 25, looks: 1, maxIntervals: 6 };

describe("the canary's decision ladder", () => {
  it("rolls back past the failure limit, tolerates a failure within it, and moves on while undecided", () => {
    expect(intervalDecision([check("errors", "fail")], { ...at, failures: 1, nextWeight: 50 })).toEqual({
      action: "rollback",
      message: "critical check(s) failed: errors",
    });
    expect(intervalDecision([check("errors", "fail")], { ...at, failures: 1, failureLimit: 1, nextWeight: 50 })).toMatchObject({
      action: "next-step",
      message: "failure 1 tolerated (failure limit 1); every critical check passes; on to 50%",
    });
    expect(intervalDecision([check("latency", "inconclusive"), check("ctr", "pass")], { ...at, nextWeight: 50 }).message).toBe(
      "undecided so far: latency; on to 50%",
    );
  });

  it("at the last step: promotes when all pass, extends while undecided, holds at the last look; warn-only checks never decide", () => {
    expect(intervalDecision([check("a", "pass"), check("b", "fail", { critical: false })], at).action).toBe("promote");
    expect(intervalDecision([check("a", "inconclusive")], at)).toEqual({
      action: "extend",
      message: "undecided: a; one more interval at 25%",
    });
    expect(intervalDecision([check("a", "inconclusive")], { ...at, looks: 6 }).action).toBe("hold");
  });

  it("the end: a failed or data-less critical check rolls back, all passing promotes, otherwise the canary is held", () => {
    expect(finalVerdict([check("a", "fail")], false, 3, 50)[0]).toBe("rolled_back");
    expect(finalVerdict([check("a", "inconclusive", { noData: true })], false, 3, 50)[1]).toMatch(/had no data by the end/);
    expect(finalVerdict([check("a", "pass"), check("b", "skipped")], false, 3, 50)).toEqual([
      "promoted",
      "every critical check passed: a, b",
    ]);
    expect(finalVerdict([check("a", "pass")], true, 6, 50)[0]).toBe("inconclusive");
    expect(finalVerdict([check("a", "inconclusive")], false, 6, 50)[1]).toMatch(/held at 50% for a human/);
  });
});
