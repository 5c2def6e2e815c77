import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { LocalBaselineStore } from "../shared/cache/local-baseline-store.js";
import { main } from "../shared/cli/main.js";
import { convertBundle } from "../shared/convert/convert-bundle.js";
import { BASELINE_RECORD_FILE } from "../shared/gate/baseline-package.js";
import { mapVocabulary } from "../shared/gate/engine.js";
import { runGate, type GateOptions } from "../shared/gate/gate.js";
import { writePerturbedBundle } from "../shared/gate/perturb.js";
import { OnnxScorer } from "../shared/gate/onnx-scorer.js";
import { gateWithBaseline } from "../shared/gate/pipeline.js";
import { OnnxRecommender } from "../shared/onnx/ort-recommender.js";
import { DEFAULT_RULES, type GateRules } from "../shared/gate/rules.js";
import { loadPolicy } from "../shared/data/quality/policy.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { gateMarkdown } from "../shared/report/gate-markdown.js";
import { trainModel } from "../shared/train/train-model.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-gate-run-");
let bundle: string;
let degraded: string;
let shifted: string;
let csv: Awaited<ReturnType<typeof syntheticCsv>>;

/** Default rules with a short, warn-only latency run: tests check the plumbing, not the runner (six timings on a shared machine are noise). */
const RULES: GateRules = {
  ...structuredClone(DEFAULT_RULES),
  resamples: 1000,
  latency: { ...DEFAULT_RULES.latency, batchSizes: [1, 8], warmup: 1, repetitions: 6, critical: false },
};

const options = (extra: Partial<GateOptions>): GateOptions => ({
  candidate: bundle,
  data: csv.data,
  read: {},
  rules: RULES,
  log: silentLogger,
  ...extra,
});

beforeAll(async () => {
  csv = await syntheticCsv(dir, 800, 21);
  bundle = join(dir, "bundle");
  await trainModel({
    ...csv,
    out: bundle,
    // small, but trained enough (NDCG@10 ≈ 0.04 over ~1,300 items) that a damaged copy is measurably worse
    config: "model:\n  hidden: 32\n  maxlen: 20\ntrain:\n  batchTokens: 512\n  learningRate: 0.01",
    overrides: { train: { epochs: 6 } },
    log: silentLogger,
  });
  await convertBundle({ bundle, randomSequences: 20, maxRealSequences: 50, log: silentLogger });
  degraded = join(dir, "degraded");
  await writePerturbedBundle(bundle, degraded, { noise: 4, seed: 1 });
  // the same shop with a campaign: 400 shoppers each bought one rare item last
  const campaign = { ...csv, data: join(dir, "shop-campaign.csv") };
  writeFileSync(campaign.data, readFileSync(csv.data));
  const last = Math.max(
    ...readFileSync(csv.data, "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => Number(l.split(",")[2])),
  );
  const users = [
    ...new Set(
      readFileSync(csv.data, "utf8")
        .trim()
        .split("\n")
        .slice(1, 2000)
        .map((l) => l.split(",")[0]),
    ),
  ];
  appendFileSync(
    campaign.data,
    users
      .slice(0, 400)
      .map((u, i) => `${u},sku-23-059,${last + 1 + i},purchase\n`)
      .join(""),
  );
  shifted = join(dir, "shifted");
  await trainModel({
    ...campaign,
    out: shifted,
    config: "model:\n  hidden: 32\n  maxlen: 20\ntrain:\n  batchTokens: 512",
    overrides: { train: { epochs: 1 } },
    log: silentLogger,
  });
  await convertBundle({ bundle: shifted, randomSequences: 20, maxRealSequences: 50, log: silentLogger });
});

describe("benchmark-gate on real ONNX models", () => {
  it("scores in a reused output buffer exactly what OnnxRecommender returns, batch after batch", async () => {
    const manifest = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"));
    const numItems = manifest.vocabulary.items;
    const scorer = await OnnxScorer.open(join(bundle, "model.onnx"), { numItems, maxlen: 20, batchSize: 8 });
    const reference = await OnnxRecommender.load(join(bundle, "model.onnx"), 20);
    try {
      const batches = [
        [Int32Array.from([1, 2, 3]), Int32Array.from([5])],
        Array.from({ length: 8 }, (_, i) => Int32Array.from({ length: 3 + i }, (_, j) => 1 + ((i * 7 + j * 3) % numItems))),
        [Int32Array.from([9, 8, 7, 6]), Int32Array.from([]), Int32Array.from([4, 4, 4])],
        // more than one run's worth: split and stitched
        Array.from({ length: 19 }, (_, i) => Int32Array.from([1 + (i % numItems), 2 + (i % (numItems - 1))])),
      ];
      for (const histories of batches) {
        const got = Float32Array.from(await scorer.score(histories));
        const want = (await reference.run(histories)).scores;
        expect(got.length).toBe(histories.length * numItems);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    } finally {
      await scorer.release();
      await reference.release();
    }
  });

  it("passes a first run, says so, and reports the candidate's metrics, latency and size", async () => {
    const { report } = await runGate(options({}));
    expect(report.passed).toBe(true);
    expect(report.verdict).toBe("no-baseline");
    expect(report.headline).toMatch(/first run/);
    const ndcg = report.metrics.find((m) => m.name === "ndcg@10")!;
    expect(ndcg.candidate).toBeGreaterThan(0);
    expect(Number.isNaN(ndcg.baseline)).toBe(true);
    // read options came from the bundle: the CSV's columns were not passed
    expect(report.data.testUsers).toBeGreaterThan(300);
    expect(report.latency.candidate.map((l) => l.batch)).toEqual([1, 8]);
    expect(report.latency.candidate[0].timesMs).toHaveLength(6);
    expect(report.latency.candidate[1].p99).toBeGreaterThanOrEqual(report.latency.candidate[1].p50);
    expect(report.size.candidateBytes).toBe(readFileSync(join(bundle, "model.onnx")).byteLength);
    expect(report.evalSeconds).toBeGreaterThan(0);
    expect(report.memory.candidatePeakRssBytes).toBeGreaterThan(1e6);
    expect(report.slices.map((s) => s.slice)).toEqual(["all", "cold", "warm", "heavy", "head", "tail"]);
    expect(
      report.slices.filter((s) => s.slice !== "all" && ["cold", "warm", "heavy"].includes(s.slice)).reduce((n, s) => n + s.users, 0),
    ).toBe(report.data.testUsers);
  });

  it("passes the model against itself: zero deltas, identical rankings", async () => {
    const { report } = await runGate(options({ baseline: bundle }));
    expect(report.passed).toBe(true);
    expect(report.verdict).toBe("pass");
    const ndcg = report.metrics.find((m) => m.name === "ndcg@10")!;
    expect(ndcg).toMatchObject({ relDelta: 0, ciLow: 0, ciHigh: 0, gated: true, critical: true, status: "pass" });
    expect(report.rankingDiff).toMatchObject({ meanOverlap: 1, identical: 1 });
    expect(report.rankingDiff!.meanRbo).toBeCloseTo(1, 12);
    // no user's list changed: nothing to explain
    expect(report.rankingShifts).toBeUndefined();
    expect(report.latency.tests.map((t) => t.batch)).toEqual([1, 8]);
    expect(report.keyDeltas["ndcg@10"]).toBe(0);
    expect(report.size.relDelta).toBe(0);
    // the same training data: compared, nothing drifted, no data section in the comment
    expect(report.dataDrift).toMatchObject({ drifted: [], figures: { rowChange: 0, popularityJs: 0 } });
    expect(gateMarkdown(report)).not.toMatch(/Training data/);
  });

  it("notes in the comment that the candidate's training data drifted from the baseline's, and never fails on it", async () => {
    const { report } = await runGate(options({ candidate: shifted, baseline: bundle }));
    const drift = report.dataDrift!;
    expect(drift.drifted).toContain("popularity-linf");
    expect(drift.checks.find((c) => c.name === "popularity-linf")!.message).toMatch(/item "sku-23-059" went from .* to /);
    expect(drift.checks.find((c) => c.name === "new-items")!.status).toBe("skipped");
    expect(drift.now.data).toMatch(/shop-campaign\.csv$/);
    expect(drift.before.data).toBe(csv.data);
    expect([...report.failures, ...report.warnings].join("\n")).not.toMatch(/popularity|drift/);
    const md = gateMarkdown(report);
    expect(md).toMatch(/^### ⚠️ Training data: drifted from the baseline's \(.*popularity-linf.*\)$/m);
    expect(md).toMatch(/shop-campaign\.csv/);
    expect(md).toMatch(/\| ⚠️ popularity-linf \|/);
    // squeezed: folded to one line before it is dropped
    let limit = md.length;
    let squeezed = md;
    while (/^### ⚠️ Training data/m.test(squeezed)) squeezed = gateMarkdown(report, { maxChars: (limit -= 200) });
    expect(squeezed).toMatch(/^\*\*Training data drifted from the baseline's:\*\* popularity-linf \(item "sku-23-059" went from/m);
    // a team's own thresholds (validate-data's policy) decide what counts as drift here too
    const relaxed = loadPolicy("checks:\n  popularity-linf: { max: 0.5 }\n");
    const lenient = await runGate(options({ candidate: shifted, baseline: bundle, dataPolicy: relaxed }));
    expect(lenient.report.dataDrift!.drifted).not.toContain("popularity-linf");
  });

  it("fails a clearly degraded candidate on NDCG@10", async () => {
    const { report } = await runGate(options({ candidate: degraded, baseline: bundle }));
    expect(report.passed).toBe(false);
    expect(report.verdict).toBe("fail");
    const ndcg = report.metrics.find((m) => m.name === "ndcg@10")!;
    expect(ndcg.status).toBe("fail");
    expect(ndcg.ciHigh).toBeLessThan(-ndcg.margin!.value);
    expect(report.failures.join("\n")).toMatch(/^ndcg@10: /m);
    expect(report.headline).toMatch(/^failed: /);
    expect(report.rankingDiff!.meanOverlap).toBeLessThan(0.9);
    // the perturbed copy has no data profile: nothing to compare
    expect(report.dataDrift).toBeUndefined();
  });

  it("explains, for the users whose top 10 changed most, the history items behind the change, as separate runs find them", async () => {
    const { report, data, candidate } = await runGate(options({ candidate: degraded, baseline: bundle }));
    const shifts = report.rankingShifts!;
    expect(shifts).toHaveLength(3);
    const rbos = shifts.map((s) => s.rbo);
    expect(rbos).toEqual([...rbos].sort((a, b) => a - b));
    for (const s of shifts) expect(s.rbo).toBeLessThan(1);
    // the first entered item's contributors, from one candidate run per history without one item
    const s = shifts.find((x) => x.entered && x.entered.because.length > 0)!;
    const vocab = mapVocabulary(data.itemIds, candidate.itemIds);
    const history = Array.from(data.cases[s.testUser].history, (d) => vocab.dataToModel[d]).filter((m) => m > 0);
    const target = candidate.itemIds.indexOf(s.entered!.item);
    const model = await OnnxRecommender.load(candidate.modelPath, candidate.maxlen);
    const score = async (h: number[]) => (await model.run([Int32Array.from(h.slice(-candidate.maxlen))])).scores[target - 1];
    const full = await score(history);
    const first = Math.max(0, history.length - candidate.maxlen);
    const reference: { item: string; contribution: number }[] = [];
    for (let j = first; j < history.length; j++)
      reference.push({
        item: candidate.itemIds[history[j]],
        contribution: full - (await score([...history.slice(0, j), ...history.slice(j + 1)])),
      });
    await model.release();
    reference.sort((a, b) => b.contribution - a.contribution);
    s.entered!.because.forEach((c, i) => expect(c.contribution).toBeCloseTo(reference[i].contribution, 4));
    expect(s.entered!.because.length).toBe(Math.min(3, reference.length));
    const md = gateMarkdown(report);
    expect(md).toContain("<summary>Why the top 10 changed most for 3 users</summary>");
    expect(md).toContain(`\`${s.entered!.item}\` (#${s.entered!.rank}) ← \`${s.entered!.because[0].item}\``);
  });

  it("reports both full-ranking protocols, and gates on the history-masked one when the rules name it", async () => {
    const rules: GateRules = {
      ...RULES,
      metrics: [
        {
          metric: "ndcg@10",
          protocol: "masked",
          slices: ["all"],
          direction: "higher",
          margin: { kind: "relative", value: 0.01 },
          critical: true,
        },
      ],
    };
    const { report } = await runGate(options({ candidate: degraded, baseline: bundle, rules }));
    const masked = report.metrics.find((m) => m.name === "masked ndcg@10")!;
    const all = report.metrics.find((m) => m.name === "ndcg@10")!;
    expect(masked.gated && masked.critical).toBe(true);
    expect(masked.status).toBe("fail");
    expect(all.gated).toBe(false);
    // masking the history can only lift the target
    expect(masked.baseline).toBeGreaterThanOrEqual(all.baseline);
    expect(report.failures.join("\n")).toMatch(/^masked ndcg@10: /m);
  });

  it("stores a passing baseline on main, reuses its evaluation on the same data and re-evaluates on other data", async () => {
    const store = new LocalBaselineStore(join(dir, "store"));
    const common = { ...options({}), modelName: "shop", store, workDir: join(dir, "work") };
    const first = await gateWithBaseline({ ...common, compareBranches: ["main"], save: { branch: "main" } });
    expect(first.report.verdict).toBe("no-baseline");
    expect(first.saved).toMatchObject({ saved: true });
    const restored = await store.restore({ model: "shop", branch: "main" });
    expect(existsSync(join(restored!.dir, BASELINE_RECORD_FILE))).toBe(true);
    expect(existsSync(join(restored!.dir, "weights.bin"))).toBe(false);
    expect(readFileSync(join(restored!.dir, "data-profile.json"), "utf8")).toBe(readFileSync(join(bundle, "data-profile.json"), "utf8"));
    expect(await store.restore({ model: "shop", branch: "main-old" })).toBeUndefined();

    // a pull request: compares with main's baseline, stores nothing
    const log = memoryLogger();
    const pr = await gateWithBaseline({ ...common, candidate: degraded, compareBranches: ["main"], log });
    expect(pr.report.verdict).toBe("fail");
    expect(pr.report.baseline?.evaluation.reused).toBe(true);
    expect(pr.report.baseline?.origin).toMatch(/local folder/);
    expect(pr.report.notes.join("\n")).toMatch(/stored per-user evaluation was reused/);
    expect(pr.saved).toBeUndefined();

    // a failing run on main never replaces the baseline
    const bad = await gateWithBaseline({ ...common, candidate: degraded, compareBranches: ["main"], save: { branch: "main" } });
    expect(bad.saved).toMatchObject({ saved: false, reason: expect.stringMatching(/gate failed/) });
    expect((await store.restore({ model: "shop", branch: "main" }))!.dir).toBe(restored!.dir);

    // other data (the same shop, more users): the baseline is re-evaluated, never compared on stored numbers
    const other = await syntheticCsv(dir, 900, 22);
    const moved = await gateWithBaseline({ ...common, data: other.data, compareBranches: ["main"] });
    expect(moved.report.baseline?.evaluation.reused).toBe(false);
    expect(moved.report.notes.join("\n")).toMatch(/evaluated on other data .* re-evaluated on this run's data/);
    expect(moved.report.data.testUsers).toBeGreaterThan(first.report.data.testUsers);
    // the stored baseline's training data is compared with the candidate's (the same here)
    expect(moved.report.dataDrift?.before.file).toBe(join(restored!.dir, "data-profile.json"));
    expect(moved.report.dataDrift?.drifted).toEqual([]);

    // a baseline stored before profiles existed: no comparison, no warning
    rmSync(join(restored!.dir, "data-profile.json"));
    const old = await runGate(options({ baseline: restored!.dir }));
    expect(old.report.dataDrift).toBeUndefined();
    expect(old.report.warnings.join("\n")).not.toMatch(/training data/i);
  });

  it("runs as `recship gate`, exits 1 on a regression and writes the JSON report", async () => {
    const reportPath = join(dir, "cli-report.json");
    const markdown = join(dir, "cli-report.md");
    const rulesPath = join(dir, "rules.yml");
    writeFileSync(rulesPath, "latency:\n  batchSizes: [1]\n  warmup: 1\n  repetitions: 5\n");
    const args = [
      "gate",
      "--candidate",
      degraded,
      "--baseline",
      bundle,
      "--data",
      csv.data,
      "--rules",
      rulesPath,
      "--report",
      reportPath,
      "--markdown",
      markdown,
    ];
    const code = await main(args);
    expect(code).toBe(1);
    const report = JSON.parse(readFileSync(reportPath, "utf8"));
    expect(report.passed).toBe(false);
    for (const m of report.metrics)
      expect(Object.keys(m)).toEqual(expect.arrayContaining(["name", "baseline", "candidate", "relDelta", "ciLow", "ciHigh", "pass"]));
    expect(report.latency.tests).toHaveLength(1);
    expect(report.evalSeconds).toBeGreaterThan(0);
    expect(readFileSync(markdown, "utf8")).toMatch(/^## ❌ recship benchmark-gate: failed/);
    expect(
      await main(["gate", "--candidate", bundle, "--baseline", bundle, "--data", csv.data, "--rules", rulesPath, "--markdown", markdown]),
    ).toBe(0);
  });
});
