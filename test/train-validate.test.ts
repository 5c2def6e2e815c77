import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DataInvalid } from "../shared/data/quality/outcome.js";
import { validateLog } from "../shared/data/quality/validate-log.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { trainModel } from "../shared/train/train-model.js";
import { syntheticCsv, TINY_CONFIG } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-train-validate-");

describe("train-model validates its data first", () => {
  it("stops before training on a check at severity error, naming the check and the line; --no-validate trains anyway", async () => {
    const csv = await syntheticCsv(dir, 300, 4);
    const lines = readFileSync(csv.data, "utf8").trimEnd().split("\n");
    lines.splice(20, 0, `u000001,sku-00-001,${Math.round(Date.now() / 1000) + 30 * 86400},purchase`);
    const bad = join(dir, "future.csv");
    writeFileSync(bad, `${lines.join("\n")}\n`);
    const run = (validate: boolean) =>
      trainModel({
        ...csv,
        data: bad,
        out: join(dir, `b-${validate}`),
        config: TINY_CONFIG,
        overrides: { train: { epochs: 1 } },
        validate,
        log: silentLogger,
      });
    const error = await run(true).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataInvalid);
    expect((error as Error).message).toMatch(/future\.csv:21: the data fails 1 check: future-timestamps/);
    expect(existsSync(join(dir, "b-true.partial"))).toBe(false);
    const report = await run(false);
    expect(report.dataChecks).toBeUndefined();
    expect(existsSync(join(report.bundle, "data-profile.json"))).toBe(false);
  });

  it("writes data-profile.json into the bundle and compares the next run with it when overwriting", async () => {
    const csv = await syntheticCsv(dir, 300, 4);
    const out = join(dir, "bundle");
    const first = await trainModel({ ...csv, out, config: TINY_CONFIG, overrides: { train: { epochs: 1 } }, log: silentLogger });
    expect(first.dataChecks).toMatchObject({ passed: true, errors: 0 });
    const profile = JSON.parse(readFileSync(join(out, "data-profile.json"), "utf8"));
    expect(profile).toMatchObject({ schemaVersion: 1, rows: first.data.interactions });
    // the next run: most events moved onto one item; the drift is a warning, the training goes on
    const top = profile.topItems[0][0];
    const lines = readFileSync(csv.data, "utf8").trimEnd().split("\n");
    const shifted = [lines[0], ...lines.slice(1).map((l, k) => (k % 4 === 0 ? l.replace(/,sku-[^,]+,/, `,${top},`) : l))];
    const next = join(dir, "next.csv");
    writeFileSync(next, `${shifted.join("\n")}\n`);
    const log = memoryLogger();
    const policy = "checks:\n  top-item-share: { severity: warn }";
    const second = await trainModel({
      ...csv,
      data: next,
      out,
      overwrite: true,
      policy,
      config: TINY_CONFIG,
      overrides: { train: { epochs: 1 } },
      log,
    });
    expect(second.dataChecks!.flagged).toEqual(expect.arrayContaining(["popularity-js", "popularity-linf"]));
    expect(log.warnings.some((w) => /warning: popularity-linf: item "sku-/.test(w))).toBe(true);
  });

  it("takes a report from a validation that already ran (the demo's validate-data step): its verdict stops the step, its profile goes into the bundle", async () => {
    const csv = await syntheticCsv(dir, 300, 4);
    const report = await validateLog({ ...csv, format: "csv" });
    const failed = { ...report, passed: false, errors: 1, checks: [{ ...report.checks[0], status: "error" as const }] };
    const out = join(dir, "prevalidated");
    const options = { ...csv, out, config: TINY_CONFIG, overrides: { train: { epochs: 1 } }, log: silentLogger };
    await expect(trainModel({ ...options, validated: failed })).rejects.toBeInstanceOf(DataInvalid);
    expect(existsSync(join(out, "bundle.json"))).toBe(false);
    const trained = await trainModel({ ...options, validated: report });
    expect(trained.dataChecks).toMatchObject({ passed: true, headline: report.headline, seconds: report.seconds });
    expect(JSON.parse(readFileSync(join(out, "data-profile.json"), "utf8"))).toEqual(report.profile);
  });
});
