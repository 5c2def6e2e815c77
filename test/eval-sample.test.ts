import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { LocalBaselineStore } from "../shared/cache/local-baseline-store.js";
import type { LoadedBundle } from "../shared/bundle/bundle-io.js";
import { compressBundle } from "../shared/compress/compress-bundle.js";
import { loadEvalData as loadCompressEvalData, type CompressEvalData } from "../shared/compress/eval-data.js";
import { COMPRESS_OPTIONS, compressOptionsFrom } from "../shared/compress/options.js";
import { convertBundle } from "../shared/convert/convert-bundle.js";
import { paritySample } from "../shared/convert/parity-sample.js";
import { realHistories } from "../shared/convert/real-histories.js";
import { duckDb } from "../shared/data/duckdb-runtime.js";
import { sampleUsers, spacedUsers } from "../shared/data/user-sample.js";
import { RecshipError } from "../shared/errors.js";
import { loadEvalData, type EvalData } from "../shared/gate/eval-data.js";
import { runGate, type GateOptions } from "../shared/gate/gate.js";
import { GATE_OPTIONS, gateOptionsFrom } from "../shared/gate/options.js";
import { gateWithBaseline } from "../shared/gate/pipeline.js";
import { DEFAULT_RULES, type GateRules } from "../shared/gate/rules.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { compressSummaryMarkdown } from "../shared/report/compress-summary.js";
import { gateMarkdown } from "../shared/report/gate-markdown.js";
import { trainSummaryMarkdown } from "../shared/report/train-summary.js";
import { TRAIN_OPTIONS, trainOptionsFrom } from "../shared/train/options.js";
import { trainModel, type TrainReport } from "../shared/train/train-model.js";
import { TUNE_OPTIONS, tuneOptionsFrom } from "../shared/tune/options.js";
import { OptionReader, type OptionSource, type OptionSpec } from "../shared/util/option-spec.js";
import { Rng } from "../shared/util/random.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const range = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

describe("sampleUsers", () => {
  const population = Int32Array.from({ length: 5000 }, (_, i) => 3 * i + 7);

  it("draws `size` distinct members of the population, sorted ascending, the same for the same seed", () => {
    const sample = sampleUsers(population, 300, 42);
    expect(sample).toHaveLength(300);
    expect(new Set(sample).size).toBe(300);
    const members = new Set(population);
    expect(Array.from(sample).every((u) => members.has(u))).toBe(true);
    for (let i = 1; i < sample.length; i++) expect(sample[i]).toBeGreaterThan(sample[i - 1]);
    expect(sampleUsers(population, 300, 42)).toEqual(sample);
    expect(sampleUsers(population, 300, "42")).toEqual(sample);
    // spread over the whole population, not its beginning
    expect(sample[sample.length - 1]).toBeGreaterThan(population[4000]);
    // the population is left as it was
    expect(population[0]).toBe(7);
    expect(population[4999]).toBe(3 * 4999 + 7);
  });

  it("differs between seeds", () => {
    const a = sampleUsers(population, 300, 1);
    const b = sampleUsers(population, 300, 2);
    expect(b).not.toEqual(a);
    const shared = new Set(a);
    // two independent 6% samples share about 6% of their users
    expect(Array.from(b).filter((u) => shared.has(u)).length).toBeLessThan(60);
  });

  it("gives every user the same chance", () => {
    const counts = new Float64Array(50);
    const seeds = 4000;
    for (let s = 0; s < seeds; s++) for (const u of sampleUsers(range(50), 5, `uniform:${s}`)) counts[u]++;
    // each user is drawn with probability 5/50: 400 times in expectation, sd ≈ 19
    for (const c of counts) expect(Math.abs(c - 400)).toBeLessThan(100);
  });

  it("is every user when the size is 0, negative or at least the population", () => {
    for (const size of [0, -5, 5000, 9999]) expect(sampleUsers(population, size, 3)).toEqual(population);
    expect(sampleUsers(population, 4999, 3)).toHaveLength(4999);
  });

  it("spacedUsers: every n-th user, or all", () => {
    expect(Array.from(spacedUsers(range(10), 4))).toEqual([0, 2, 5, 7]);
    expect(spacedUsers(range(10), 0)).toEqual(range(10));
    expect(spacedUsers(range(10), 10)).toEqual(range(10));
  });
});

/** Options as a front end hands them over ("--eval-users"). */
function reader(specs: readonly OptionSpec[], given: Record<string, string>): OptionReader {
  const source: OptionSource = { get: (name) => given[name], where: (name) => `--${name}`, frontEnd: "cli" };
  return new OptionReader(specs, source);
}

describe("the eval-users option", () => {
  it("is read by benchmark-gate, compress-model and train-model (0 by default: every user)", () => {
    expect(gateOptionsFrom(reader(GATE_OPTIONS, { data: "x", "eval-users": "10000" })).evalUsers).toBe(10000);
    expect(gateOptionsFrom(reader(GATE_OPTIONS, { data: "x" })).evalUsers).toBe(0);
    expect(compressOptionsFrom(reader(COMPRESS_OPTIONS, { "eval-users": "250" })).evalUsers).toBe(250);
    expect(trainOptionsFrom(reader(TRAIN_OPTIONS, { data: "x", "eval-users": "7" })).evalUsers).toBe(7);
    // tune-model hands it to every trial's train-model
    expect(tuneOptionsFrom(reader(TUNE_OPTIONS, { name: "t", "eval-users": "500" })).evalUsers).toBe(500);
    expect(tuneOptionsFrom(reader(TUNE_OPTIONS, { name: "t" })).evalUsers).toBe(0);
  });

  it("refuses a negative or fractional value, naming the option and the fix", () => {
    const bad = (value: string) => () => gateOptionsFrom(reader(GATE_OPTIONS, { data: "x", "eval-users": value }));
    expect(bad("-3")).toThrow(RecshipError);
    expect(bad("-3")).toThrow(/--eval-users must be a whole number ≥ 0, got -3\. Fix: .*0 to evaluate every test user/);
    expect(bad("1.5")).toThrow(/--eval-users must be a whole number, got "1\.5"\. Fix: give the number of users to evaluate/);
    expect(() => trainOptionsFrom(reader(TRAIN_OPTIONS, { data: "x", "eval-users": "ten" }))).toThrow(/--eval-users .*Fix:/);
  });

  it("is checked by the library too, before any work", async () => {
    await expect(compressBundle({ bundle: "no-such-bundle", evalUsers: -1, log: silentLogger })).rejects.toThrow(
      /eval-users must be a whole number ≥ 0, got -1/,
    );
    await expect(trainModel({ data: "no-such-log.csv", out: "never", evalUsers: 2.5, log: silentLogger })).rejects.toThrow(
      /eval-users must be a whole number ≥ 0, got 2\.5/,
    );
  });
});

const dir = tempDir("recship-eval-sample-");
let csv: Awaited<ReturnType<typeof syntheticCsv>>;
let bundle: string;
let trained: TrainReport;
const TRAIN_SAMPLE = 150;

beforeAll(async () => {
  csv = await syntheticCsv(dir, 600, 5);
  bundle = join(dir, "bundle");
  trained = await trainModel({
    ...csv,
    out: bundle,
    config: "model:\n  hidden: 32\n  maxlen: 20\ntrain:\n  batchTokens: 512\n  learningRate: 0.01\n  seed: 9",
    overrides: { train: { epochs: 2 } },
    evalUsers: TRAIN_SAMPLE,
    log: silentLogger,
  });
  await convertBundle({ bundle, randomSequences: 10, maxRealSequences: 30, log: silentLogger });
});

describe("train-model on a user sample", () => {
  it("evaluates the kept model on the sample and says so; the epochs validated on every user", () => {
    expect(trained.evaluation).toEqual({ users: TRAIN_SAMPLE, eligibleUsers: trained.data.evaluationUsers, seed: 9 });
    expect(trained.data.evaluationUsers).toBeGreaterThan(400);
    expect(trained.validation.users).toBe(TRAIN_SAMPLE);
    expect(trained.test.users).toBe(TRAIN_SAMPLE);
    expect(trained.popularity.users).toBe(TRAIN_SAMPLE);
    // the epochs validated on every user (train.validationUsers 0): the kept epoch's number is not the sample's
    const best = trained.history.find((h) => h.epoch === trained.bestEpoch)!;
    expect(best.valid.ndcg10).not.toBe(trained.validation.full.ndcg10);
    const manifest = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"));
    expect(manifest.training.test.users).toBe(TRAIN_SAMPLE);
    expect(trainSummaryMarkdown(trained)).toContain(
      `Over ${TRAIN_SAMPLE} of ${trained.data.evaluationUsers} users (seeded sample, seed 9).`,
    );
  });
});

const RULES: GateRules = { ...structuredClone(DEFAULT_RULES), resamples: 1000, latency: { ...DEFAULT_RULES.latency, enabled: false } };
const gateOptions = (extra: Partial<GateOptions> = {}): GateOptions => ({
  candidate: bundle,
  data: csv.data,
  read: {},
  rules: RULES,
  log: silentLogger,
  ...extra,
});
const candidateValues = (r: Awaited<ReturnType<typeof runGate>>) => r.report.metrics.map((m) => [m.name, m.candidate]);

describe("benchmark-gate on a user sample", () => {
  it("evaluates the sample's users exactly as a full run does, reports sample and population, the same seed the same metrics", async () => {
    const full = await runGate(gateOptions());
    const sampled = await runGate(gateOptions({ evalUsers: 120 }));
    const eligible = full.report.data.testUsers;
    expect(eligible).toBe(trained.data.evaluationUsers);
    expect(sampled.report.data.testUsers).toBe(120);
    expect(sampled.report.data.eligibleUsers).toBe(eligible);
    expect(full.report.data.eligibleUsers).toBe(eligible);
    expect(sampled.data.cases).toHaveLength(120);
    expect(sampled.report.slices.find((s) => s.slice === "all")!.users).toBe(120);
    // the sampled users' ranks are the full run's for the same users
    const fullIndex = new Map(full.data.cases.map((c, i) => [c.user, i]));
    const ranks = sampled.data.cases.map((c) => full.candidateEvaluation.ranksFull[fullIndex.get(c.user)!]);
    expect(Array.from(sampled.candidateEvaluation.ranksFull)).toEqual(ranks);
    // item popularity comes from every user, not the sample
    expect(Array.from(sampled.data.popularity)).toEqual(Array.from(full.data.popularity));

    const again = await runGate(gateOptions({ evalUsers: 120 }));
    expect(again.data.cases.map((c) => c.user)).toEqual(sampled.data.cases.map((c) => c.user));
    expect(candidateValues(again)).toEqual(candidateValues(sampled));
    expect(again.report.data.fingerprint).toBe(sampled.report.data.fingerprint);

    const otherSeed = await runGate(gateOptions({ evalUsers: 120, rules: { ...RULES, seed: RULES.seed + 1 } }));
    expect(otherSeed.data.cases.map((c) => c.user)).not.toEqual(sampled.data.cases.map((c) => c.user));
    // the evaluation's key: a full evaluation and samples of other sizes or seeds are told apart
    const fingerprints = new Set([full, sampled, otherSeed].map((r) => r.report.data.fingerprint));
    const bigger = await runGate(gateOptions({ evalUsers: 121 }));
    fingerprints.add(bigger.report.data.fingerprint);
    expect(fingerprints.size).toBe(4);
    // a "sample" as large as the population is every user: the full run's key
    const all = await runGate(gateOptions({ evalUsers: eligible }));
    expect(all.report.data.testUsers).toBe(eligible);
    expect(all.report.data.fingerprint).toBe(full.report.data.fingerprint);

    expect(gateMarkdown(sampled.report)).toContain(`120 of ${eligible} test users (seeded sample, seed ${RULES.seed})`);
    expect(gateMarkdown(full.report)).toContain(`Data: \`${csv.data}\`, ${eligible} test users,`);
  });

  it("reuses a stored baseline evaluation only for the same sample: never a full one for a sample or a sample for a full run", async () => {
    const store = new LocalBaselineStore(join(dir, "store"));
    const common = { ...gateOptions(), modelName: "shop", store, workDir: join(dir, "work"), compareBranches: ["main"] };
    const stored = await gateWithBaseline({ ...common, save: { branch: "main" } });
    expect(stored.saved).toMatchObject({ saved: true });

    const sampled = await gateWithBaseline({ ...common, evalUsers: 100 });
    expect(sampled.report.baseline?.evaluation.reused).toBe(false);
    expect(sampled.report.data.testUsers).toBe(100);
    const ndcg = sampled.report.metrics.find((m) => m.name === "ndcg@10")!;
    expect(ndcg.users).toBe(100);
    // the same model on both sides: no change, and the interval (over the 100 sampled users) is around 0
    expect(ndcg.absDelta).toBe(0);
    expect(ndcg.ciLow).toBeLessThanOrEqual(0);
    expect(ndcg.ciHigh).toBeGreaterThanOrEqual(0);

    const storedSample = await gateWithBaseline({ ...common, evalUsers: 100, save: { branch: "main" } });
    expect(storedSample.saved).toMatchObject({ saved: true });
    const reused = await gateWithBaseline({ ...common, evalUsers: 100 });
    expect(reused.report.baseline?.evaluation.reused).toBe(true);
    const fullAgain = await gateWithBaseline(common);
    expect(fullAgain.report.baseline?.evaluation.reused).toBe(false);
    expect(fullAgain.report.data.testUsers).toBe(trained.data.evaluationUsers);
  });
});

describe("compress-model on a user sample", () => {
  it("measures every model on one seeded sample and reports sample and population", async () => {
    const copy = join(dir, "compress-bundle");
    cpSync(bundle, copy, { recursive: true });
    const report = await compressBundle({
      bundle: copy,
      methods: ["fp16"],
      maxNdcgDrop: 0.5,
      evalUsers: 80,
      latencyRepetitions: 2,
      latencyWarmup: 1,
      calibration: 16,
      log: silentLogger,
    });
    expect(report.data).toMatchObject({ validationUsers: 80, testUsers: 80, eligibleUsers: trained.data.evaluationUsers });
    expect(report.settings.seed).toBe(9);
    expect(compressSummaryMarkdown(report)).toContain(
      `80 of ${trained.data.evaluationUsers} validation users (seeded sample, seed 9; the same users for every model)`,
    );
  });
});

describe("evaluation data on a user sample of a log DuckDB reads", () => {
  const dir = tempDir("recship-eval-sql-");

  /** A CSV log with many ties in time (a day's resolution), users of 1 to 12 events, views and buys. */
  function tiedCsv(path: string): string {
    const rng = new Rng(5);
    const lines = ["user_id,item_id,ts,event"];
    for (let u = 0; u < 400; u++) {
      const n = 1 + rng.int(12);
      for (let j = 0; j < n; j++)
        lines.push(`u${rng.int(400)},i${1 + Math.floor(60 * rng.next() ** 2)},${86400 * rng.int(5)},${rng.next() < 0.3 ? "view" : "buy"}`);
    }
    writeFileSync(path, `${lines.join("\n")}\n`);
    return path;
  }

  async function asParquet(csv: string, path: string): Promise<string> {
    const { DuckDBInstance } = duckDb();
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    await con.run(
      `COPY (SELECT user_id, item_id, CAST(ts AS BIGINT) AS ts, event FROM read_csv('${csv}', header = true, all_varchar = true)) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 256)`,
    );
    con.closeSync();
    instance.closeSync();
    return path;
  }

  const comparable = (d: EvalData) => ({
    itemIds: d.itemIds,
    users: d.users,
    interactions: d.interactions,
    eligibleUsers: d.eligibleUsers,
    cases: d.cases.map((c) => ({ user: c.user, history: Array.from(c.history), target: c.target, interacted: Array.from(c.interacted) })),
    popularity: Array.from(d.popularity),
    slices: d.slices,
    negativesPerUser: d.negativesPerUser,
  });

  it.each([
    ["timed, ties in file order", { timeColumn: "ts" }],
    ["untimed: file order", {}],
    ["an event filter", { timeColumn: "ts", eventColumn: "event", eventFilter: ["buy"] }],
  ])("gives the cases, counts and popularity of the JavaScript path (%s), moving only the sample's rows", async (_, read) => {
    const csv = tiedCsv(join(dir, "log.csv"));
    const parquet = await asParquet(csv, join(dir, "log.parquet"));
    const base = {
      userColumn: "user_id",
      itemColumn: "item_id",
      ...read,
      excludeSeen: false,
      sampledNegatives: 5,
      seed: 9,
      slices: DEFAULT_RULES.slices,
      log: silentLogger,
    };
    const viaJs = await loadEvalData({ ...base, path: csv, evalUsers: 60 });
    const viaSql = await loadEvalData({ ...base, path: parquet, evalUsers: 60 });
    expect(viaSql.cases).toHaveLength(60);
    expect(viaSql.eligibleUsers).toBeGreaterThan(60);
    expect(comparable(viaSql)).toEqual(comparable(viaJs));
    // the population's popularity, not the sample's: counted over more rows than the sample holds
    const sampleRows = viaSql.cases.reduce((n, c) => n + c.interacted.length, 0);
    expect(viaSql.popularity.reduce((a, b) => a + b, 0)).toBeGreaterThan(sampleRows);
  });

  it("gives compress-model's sample the cases of a full read, moving only the sample's rows (not for distillation, nor with unknown items)", async () => {
    const csv = tiedCsv(join(dir, "compress.csv"));
    const parquet = await asParquet(csv, join(dir, "compress.parquet"));
    const read = { userColumn: "user_id", itemColumn: "item_id", timeColumn: "ts" };
    const items = Array.from({ length: 60 }, (_, i) => `i${60 - i}`);
    const bundleOf = (itemIds: string[]) =>
      ({
        dir,
        itemIds: ["", ...itemIds],
        manifest: { data: { source: csv, format: "csv", sha256: "", kCore: 0 } },
      }) as unknown as LoadedBundle;
    const comparable = (d: CompressEvalData) => ({
      eligibleUsers: d.eligibleUsers,
      unknownItems: d.unknownItems,
      cases: [...d.validation, ...d.test].map((c) => [c.user, Array.from(c.history), c.target, Array.from(c.interacted)]),
    });
    const sample = { size: 50, seed: 3 };
    const log = memoryLogger();
    const full = await loadCompressEvalData(bundleOf(items), { path: csv, ...read }, sample, silentLogger);
    const viaSql = await loadCompressEvalData(bundleOf(items), { path: parquet, ...read }, sample, log);
    expect(full.validation).toHaveLength(50);
    expect(comparable(viaSql)).toEqual(comparable(full));
    expect(log.lines.join("\n")).toContain("read through DuckDB");
    expect(viaSql.trainSequences).toEqual([]);
    // distillation needs every user's training part: the whole log is read
    const distill = await loadCompressEvalData(
      bundleOf(items),
      { path: parquet, ...read },
      { ...sample, trainSequences: true },
      silentLogger,
    );
    expect(distill.trainSequences.length).toBeGreaterThan(300);
    expect(comparable(distill)).toEqual(comparable(full));
    // items outside the vocabulary: the full read's sample, not one of users with 3+ rows
    const smaller = bundleOf(items.slice(5));
    const fullSmaller = await loadCompressEvalData(smaller, { path: csv, ...read }, sample, silentLogger);
    const sqlSmaller = await loadCompressEvalData(smaller, { path: parquet, ...read }, sample, silentLogger);
    expect(fullSmaller.unknownItems).toBeGreaterThan(0);
    expect(comparable(sqlSmaller)).toEqual(comparable(fullSmaller));
  });

  it("gives convert's parity check the real histories a full read would, reading only the spread of users it keeps", async () => {
    const csv = tiedCsv(join(dir, "parity.csv"));
    const parquet = await asParquet(csv, join(dir, "parity.parquet"));
    const read = { userColumn: "user_id", itemColumn: "item_id", timeColumn: "ts" };
    // the bundle's vocabulary in another order than the file's
    const items = Array.from({ length: 60 }, (_, i) => `i${60 - i}`);
    const bundle = { itemIds: ["", ...items], dataSha256: "" };
    const kept = (histories: Int32Array[]) =>
      paritySample({ numItems: 60, maxlen: 50, histories, maxReal: 40, random: 0 })
        .histories.slice(0, 40)
        .map((h) => Array.from(h));
    const full = await realHistories(csv, read, bundle, silentLogger);
    const spread = await realHistories(parquet, read, bundle, silentLogger, 40);
    expect(full.histories.length).toBeGreaterThan(100);
    expect(spread.histories).toHaveLength(40); // only the users paritySample keeps left DuckDB
    expect(kept(spread.histories)).toEqual(kept(full.histories));
    // items outside the vocabulary are skipped, as in the full read
    const smaller = { itemIds: ["", ...items.slice(5)], dataSha256: "" };
    const partial = await realHistories(parquet, read, smaller, silentLogger, 40);
    expect(partial.unknownItems).toBeGreaterThan(0);
    for (const h of partial.histories) for (const d of h) expect(d).toBeLessThanOrEqual(55);
  });
});
