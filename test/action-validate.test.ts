import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runSourceAction } from "./helpers/run-action.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * validate-data's run.ts from source (tsx), in the runner's environment: inputs, outputs, the job
 * summary, annotations on the offending lines, and the exit status. The dist bundle is the
 * bundling tests' business; this needs no rebuild.
 */
const dir = tempDir("recship-action-validate-");
let csv: Awaited<ReturnType<typeof syntheticCsv>>;
let lines: string[];
const columns = () => ({ "user-column": "user_id", "item-column": "item_id", "time-column": "timestamp", "event-column": "event" });

beforeAll(async () => {
  csv = await syntheticCsv(dir, 600, 3);
  lines = readFileSync(csv.data, "utf8").trimEnd().split("\n");
});

describe("validate-data action (from source)", () => {
  it("passes a clean log: outputs, the JSON report, the profile and the job summary", async () => {
    const run = await runSourceAction("validate-data", { data: csv.data, ...columns(), "profile-out": "profile.json" }, dir);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ passed: "true", errors: "0", report: "validate-data-report.json", profile: "profile.json" });
    const report = JSON.parse(readFileSync(join(dir, run.outputs.report), "utf8"));
    expect(report).toMatchObject({ step: "validate", passed: true, rows: lines.length - 1 });
    expect(JSON.parse(readFileSync(join(dir, "profile.json"), "utf8"))).toMatchObject({ schemaVersion: 1, rows: lines.length - 1 });
    expect(run.summary).toMatch(/^## (✅|⚠️) recship validate-data: the data passes/);
    expect(run.stdout).toMatch(/::group::validating /);
  });

  it("fails on a check at severity error with an annotation at the offending line, or only reports with fail-on-error off", async () => {
    // line 5 (header = 1) loses its item id
    const broken = [...lines];
    broken[4] = broken[4].replace(/^([^,]*),[^,]*,/, "$1,,");
    const data = join(dir, "broken.csv");
    writeFileSync(data, `${broken.join("\n")}\n`);
    const run = await runSourceAction("validate-data", { data, ...columns(), report: "broken.json" }, dir);
    expect(run.code).not.toBe(0);
    expect(run.outputs).toMatchObject({ passed: "false", errors: "1", report: "broken.json" });
    expect(run.stdout).toMatch(new RegExp(`::warning file=${data.replace(/[.]/g, "\\.")},line=5::error: empty-ids: `));
    expect(run.stdout).toMatch(
      /::error title=recship::.*broken\.csv:5: the data fails 1 check: empty-ids\. Fix: drop rows without a user or item id/,
    );
    expect(run.stdout).not.toMatch(/at .*\.ts:\d+/);
    expect(run.summary).toMatch(/^## ❌ recship validate-data: the data fails 1 check: empty-ids/);
    expect(existsSync(join(dir, "broken.json"))).toBe(true);

    const reportOnly = await runSourceAction("validate-data", { data, ...columns(), "fail-on-error": "false" }, dir);
    expect(reportOnly.code).toBe(0);
    expect(reportOnly.outputs.passed).toBe("false");
    expect(reportOnly.stdout).toMatch(/fail-on-error is off: the errors are reported, the job passes/);
  });

  it("warns on drift from a baseline profile and turns a bad policy into an annotation", async () => {
    // the previous data: only a third of the shoppers
    const before = join(dir, "before.csv");
    writeFileSync(before, `${lines.slice(0, Math.floor(lines.length / 3)).join("\n")}\n`);
    const first = await runSourceAction("validate-data", { data: before, ...columns(), "profile-out": "before.json" }, dir);
    expect(first.code).toBe(0);
    const run = await runSourceAction("validate-data", { data: csv.data, ...columns(), "baseline-profile": join(dir, "before.json") }, dir);
    expect(run.code).toBe(0);
    expect(run.outputs.passed).toBe("true");
    expect(Number(run.outputs.warnings)).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/::warning::warning: row-count: rows changed by /);
    expect(run.summary).toMatch(/Compared with `.*before\.json`/);

    const bad = await runSourceAction("validate-data", { data: csv.data, ...columns(), policy: "checks:\n  no-such-check: {}" }, dir);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/::error title=recship::.*validation policy/);
  });
});
