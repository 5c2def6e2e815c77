import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadChecks } from "../shared/canary/checks-file.js";
import { defaultSettings, parseSteps } from "../shared/canary/settings.js";
import { renderTemplate } from "../shared/canary/template.js";
import { isRecshipError } from "../shared/errors.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-monitor-checks-");

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isRecshipError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected a RecshipError");
}

describe("checks", () => {
  it("has the built-in checks by default: error rate, latency, click-through, add-to-cart, score drift", () => {
    const checks = loadChecks(undefined);
    expect(checks.map((c) => c.name)).toEqual(["error-rate", "latency-p99", "click-through", "add-to-cart", "score-drift"]);
    expect(checks.filter((c) => c.critical).map((c) => c.name)).toEqual(["error-rate", "latency-p99", "click-through"]);
    const latency = checks.find((c) => c.name === "latency-p99")!;
    expect(latency.queries).toMatchObject({ kind: "histogram", quantile: expect.stringContaining("histogram_quantile(0.99") });
  });

  it("switches built-ins off, changes their margins, and adds PromQL checks from a file", () => {
    const file = join(dir, "checks.yml");
    writeFileSync(
      file,
      [
        "builtins:",
        "  add-to-cart: false",
        "  error-rate: { margin: { absolute: 0.02 }, minSamples: 100 }",
        "  latency-p99: { margin: 20%, critical: false }",
        "checks:",
        "  - name: purchase-rate",
        "    kind: proportion",
        '    numerator: sum(increase(recship_feedback_total{event="purchase",variant="$variant"}[$interval]))',
        '    denominator: sum(increase(recship_recommendations_served_total{variant="$variant"}[$interval]))',
        "    direction: higher",
        "    margin: 5%",
      ].join("\n"),
    );
    const checks = loadChecks(file);
    expect(checks.map((c) => c.name)).toEqual(["error-rate", "latency-p99", "click-through", "score-drift", "purchase-rate"]);
    expect(checks[0]).toMatchObject({ margin: 0.02, marginKind: "absolute", minSamples: 100 });
    expect(checks[1]).toMatchObject({ margin: 0.2, critical: false });
    expect(checks[4]).toMatchObject({
      kind: "proportion",
      direction: "higher",
      margin: 0.05,
      marginKind: "relative",
      critical: true,
      builtin: false,
    });
  });

  it("names the key of a mistake", () => {
    expect(error(() => loadChecks("checks:\n  - name: x\n    kind: proportion\n    numerator: a\n    treshold: 1"))).toMatch(
      /unknown key "treshold"/,
    );
    expect(error(() => loadChecks("builtins:\n  latency: false"))).toMatch(/unknown key "latency" under builtins/);
    expect(error(() => loadChecks("checks:\n  - name: x\n    kind: series\n    query: up\n    direction: lower"))).toMatch(
      /does not use \$variant/,
    );
    expect(error(() => loadChecks('checks:\n  - name: x\n    kind: series\n    query: up{variant="$variant"}'))).toMatch(
      /needs "direction"/,
    );
    expect(
      error(() => loadChecks('checks:\n  - name: error-rate\n    kind: series\n    query: up{variant="$variant"}\n    direction: lower')),
    ).toMatch(/already a check named "error-rate"/);
    expect(error(() => loadChecks("missing-file.yml"))).toMatch(/does not exist/);
  });

  it("fills the template variables, quoting what goes inside label values", () => {
    const q = renderTemplate('rate(x{variant="$variant",version="${version}",namespace=~"$namespace"}[$interval])', {
      variant: "canary",
      version: 'v"1\\',
      namespace: ".*",
      interval: "30s",
    });
    expect(q).toBe('rate(x{variant="canary",version="v\\"1\\\\",namespace=~".*"}[30s])');
  });
});

describe("settings", () => {
  it("defaults to 10, 25, 50, 100 % at 98 % confidence, and checks what it is given", () => {
    const s = defaultSettings();
    expect(s).toMatchObject({ steps: [10, 25, 50, 100], confidence: 0.98, failureLimit: 0, maxIntervals: 7, mode: "auto" });
    expect(parseSteps("5, 20 50%,100")).toEqual([5, 20, 50, 100]);
    expect(error(() => defaultSettings({ steps: [50, 25] }))).toMatch(/must rise/);
    expect(error(() => defaultSettings({ steps: [100] }))).toMatch(/no traffic to compare/);
    expect(error(() => defaultSettings({ confidence: 1 }))).toMatch(/confidence/);
  });
});
