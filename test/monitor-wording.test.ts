import { describe, expect, it } from "vitest";
import { builtinChecks } from "../shared/canary/builtin-checks.js";
import { Judge } from "../shared/canary/judge.js";
import { evidence } from "../shared/canary/judge-wording.js";
import type { MeasuredVariant } from "../shared/canary/types.js";
import type { MonitorReport } from "../shared/canary/report.js";
import { defaultSettings } from "../shared/canary/settings.js";
import { monitorMarkdown } from "../shared/report/monitor-summary.js";

// The canary report read by someone who is not a statistician: a check that passes must not say
// anything that reads as "certainly worse" (the old p(worse) column showed 1.0000 there).

const counts = (successes: number, trials: number): MeasuredVariant => ({
  queries: [],
  measurement: { kind: "counts", successes, trials },
});

function errorRateAfter(canary: MeasuredVariant, stable: MeasuredVariant) {
  const checks = builtinChecks().filter((c) => c.name === "error-rate");
  const judge = new Judge(checks, { confidence: 0.98, plannedLooks: 4 });
  return judge.look(new Map([["error-rate", { canary, stable }]]), { start: 0, end: 60_000 }, { weight: 50 })[0];
}

describe("how the canary's statistics are worded", () => {
  it("reads a one-sided p-value as evidence: strong at p ≤ α, weak below 0.5, none above", () => {
    expect(evidence(0.001, 0.02)).toBe("strong (p = 0.0010)");
    expect(evidence(0.02, 0.02)).toBe("strong (p = 0.0200)");
    expect(evidence(0.3, 0.02)).toBe("weak (p = 0.3000)");
    expect(evidence(1, 0.02)).toBe("none (p = 1.0000)");
    expect(evidence(null, 0.02)).toBe("–");
  });

  it("a passing check says there is no evidence the canary is worse and strong evidence it is within the margin", () => {
    const r = errorRateAfter(counts(2, 5000), counts(3, 5000));
    expect(r.decision).toBe("pass");
    expect(r.pValue).toBe(1);
    expect(r.message).toContain("evidence canary is worse: none (p = 1.0000)");
    expect(r.message).toMatch(/evidence it is within the margin: strong \(p = /);
    expect(r.message).not.toMatch(/p\(worse\)/);
  });

  it("a failing check says the evidence that the canary is worse is strong", () => {
    const r = errorRateAfter(counts(300, 5000), counts(3, 5000));
    expect(r.decision).toBe("fail");
    expect(r.message).toMatch(/^Canary worse beyond the margin: .*; evidence canary is worse: strong \(p = [0-9.e-]+\), p ≤ α = 0\.02\.$/);
  });

  it("the report's table of checks has evidence columns and a legend, no p(worse)", () => {
    const r = errorRateAfter(counts(2, 5000), counts(3, 5000));
    const report = {
      verdict: "promoted",
      mode: "auto",
      reason: "all checks passed",
      canary: { version: "v2" },
      stable: { version: "v1" },
      source: { kind: "scrape", description: "scrape" },
      settings: defaultSettings(),
      finalWeight: 100,
      warnings: [],
      checks: [r],
      steps: [],
    } as unknown as MonitorReport;
    const md = monitorMarkdown(report);
    expect(md).not.toContain("p(worse)");
    expect(md).toMatch(/\| evidence canary is worse \| evidence within margin \|/);
    expect(md).toContain("| none (p = 1.0000) | strong (p = ");
    expect(md).toMatch(/means no sign of harm, not certain harm/);
  });
});
