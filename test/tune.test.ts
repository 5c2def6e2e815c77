import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { ashaState, nextAshaJob, startAshaJob } from "../shared/tune/asha.js";
import { localSlots, rungPace, tuneLocal } from "../shared/tune/local.js";
import { fitRungs, laterRungsMinutes, makePlan, rungSchedule, type TunePlan } from "../shared/tune/plan.js";
import { scrambledRadicalInverse, unitPoints, valuesAt } from "../shared/tune/sampler.js";
import { promote, selectRung } from "../shared/tune/select.js";
import { DEFAULT_SPACE_YAML, loadSearchSpace, trialConfig, trialOverrides } from "../shared/tune/space.js";
import { DEFAULT_CONFIG } from "../shared/model/config.js";
import { entryNames, getJson, LocalTuneStore, putJson } from "../shared/tune/store.js";
import { rungMembers, type TrialResult } from "../shared/tune/trial.js";
import { tuneMarkdown, tuneHtml } from "../shared/report/tune-summary.js";
import { readFileSync } from "node:fs";
import { tempDir } from "./helpers/tmp.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { trainModel } from "../shared/train/train-model.js";

const root = new URL("..", import.meta.url).pathname;

/** A stored ok result of one of `plan`'s trials on a rung: `metric` on validation, half of it on test. */
function okResult(plan: TunePlan): (trial: string, rung: number, metric: number) => TrialResult {
  return (trial, rung, metric) => ({
    trial,
    rung,
    epochs: plan.rungs[rung].epochs,
    status: "ok",
    metric,
    valid: { ndcg10: metric, hr10: 0, maskedNdcg10: metric, maskedHr10: 0 },
    test: { ndcg10: metric / 2, hr10: 0, maskedNdcg10: metric / 2, maskedHr10: 0 },
    seconds: 1,
  });
}

describe("tune-model: search space, sampler, rungs", () => {
  it("Halton's radical inverse mirrors the digits (base 2: 1/2, 1/4, 3/4, 1/8); scrambling permutes each position's digits", () => {
    const identity = (base: number) => Array.from({ length: 8 }, () => Int32Array.from({ length: base }, (_, d) => d));
    expect([1, 2, 3, 4].map((i) => scrambledRadicalInverse(i, 2, identity(2)))).toEqual([0.5, 0.25, 0.75, 0.125]);
    expect([1, 2, 3].map((i) => scrambledRadicalInverse(i, 3, identity(3)))).toEqual([1 / 3, 2 / 3, 1 / 9]);
    // base 3, first digit 0→2, 1→0, 2→1 and the second 0→1, 1→2, 2→0: index 1 = digits (1, 0) → (0, 1) = 1/9
    const perms = [Int32Array.from([2, 0, 1]), Int32Array.from([1, 2, 0])];
    expect(scrambledRadicalInverse(1, 3, perms)).toBeCloseTo(0 / 3 + 1 / 9, 12);
    expect(scrambledRadicalInverse(5, 3, perms)).toBeCloseTo(1 / 3 + 2 / 9, 12); // 5 = digits (2, 1) → (1, 2)
  });

  it("scrambled Halton: settings with high prime bases no longer move in step (the plain sequence's flaw at a few trials)", () => {
    const pearson = (a: number[], b: number[]) => {
      const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
      const [ma, mb] = [mean(a), mean(b)];
      const cov = a.reduce((sum, x, i) => sum + (x - ma) * (b[i] - mb), 0);
      return cov / Math.sqrt(a.reduce((s2, x) => s2 + (x - ma) ** 2, 0) * b.reduce((s2, y) => s2 + (y - mb) ** 2, 0));
    };
    // dimensions 6 and 7 (bases 13 and 17) over 8 points: plainly i/13 and i/17, correlation 1
    const plain = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(
      pearson(
        plain.map((i) => i / 13),
        plain.map((i) => i / 17),
      ),
    ).toBeCloseTo(1, 12);
    const r = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((seed) => {
      const points = unitPoints("halton", 8, 7, seed);
      return Math.abs(
        pearson(
          points.map((p) => p[5]),
          points.map((p) => p[6]),
        ),
      );
    });
    expect(r.reduce((a, b) => a + b, 0) / r.length).toBeLessThan(0.5);
  });

  it("Halton points cover each dimension evenly (one point in each 1/n stretch of the first), whatever the seed", () => {
    for (const seed of [1, 2, 3]) {
      const points = unitPoints("halton", 8, 3, seed);
      const cells = new Set(points.map((p) => Math.floor(p[0] * 8)));
      expect(cells.size).toBe(8);
    }
    expect(unitPoints("halton", 4, 2, 1)).not.toEqual(unitPoints("halton", 4, 2, 2));
    expect(unitPoints("random", 4, 2, 7)).toEqual(unitPoints("random", 4, 2, 7));
  });

  it("maps the unit cube onto choices, int and log float ranges within their bounds", () => {
    const space = loadSearchSpace(
      "space:\n  model.hidden: { choices: [16, 32] }\n  model.blocks: { int: [1, 3] }\n  train.learningRate: { float: [0.0001, 0.01], log: true }",
    );
    expect(valuesAt(space.params, [0, 0, 0])).toEqual({ "model.hidden": 16, "model.blocks": 1, "train.learningRate": 0.0001 });
    expect(valuesAt(space.params, [0.999, 0.999, 0.5])).toEqual({ "model.hidden": 32, "model.blocks": 3, "train.learningRate": 0.001 });
  });

  it("the default space is the example file, loads, and every trial it plans is a valid train-model config", () => {
    expect(readFileSync(join(root, "actions", "tune-model", "space.example.yml"), "utf8")).toBe(DEFAULT_SPACE_YAML);
    const plan = makePlan({ name: "t", space: loadSearchSpace(undefined), trials: 27, eta: 3, maxEpochs: 27, sampler: "halton", seed: 1 });
    expect(plan.trials).toHaveLength(27);
    expect(plan.trials[0]).toMatchObject({ id: "t00", isDefault: true, values: {} });
    expect(new Set(plan.trials.map((t) => t.values["model.hidden"]))).toEqual(new Set([undefined, 64, 128]));
    expect(plan.objective).toBe("masked");
  });

  it("searches the frequency filter's alpha and cutoff one by one, the other field kept from config: or the default filter", () => {
    const space = loadSearchSpace(
      "space:\n  model.frequencyFilter.alpha: { float: [0.1, 0.9] }\n  model.frequencyFilter.cutoff: { int: [1, 9] }",
    );
    const both = makePlan({ name: "f", space, trials: 4, eta: 2, maxEpochs: 2, sampler: "halton", seed: 1 }).trials[1];
    expect(trialConfig(trialOverrides(space, both.values), "t").model.frequencyFilter).toEqual({
      alpha: both.values["model.frequencyFilter.alpha"],
      cutoff: both.values["model.frequencyFilter.cutoff"],
    });
    const alphaOnly = loadSearchSpace("space:\n  model.frequencyFilter.alpha: { choices: [0.3] }");
    expect(trialConfig(trialOverrides(alphaOnly, { "model.frequencyFilter.alpha": 0.3 }), "t").model.frequencyFilter).toEqual({
      cutoff: DEFAULT_CONFIG.model.frequencyFilter!.cutoff,
      alpha: 0.3,
    });
    const shared = loadSearchSpace(
      "space:\n  model.frequencyFilter.alpha: { choices: [0.3] }\nconfig:\n  model:\n    frequencyFilter: { cutoff: 2, alpha: 0.9 }",
    );
    expect(trialConfig(trialOverrides(shared, { "model.frequencyFilter.alpha": 0.3 }), "t").model.frequencyFilter).toEqual({
      cutoff: 2,
      alpha: 0.3,
    });
    expect(() =>
      loadSearchSpace("space:\n  model.frequencyFilter.alpha: { choices: [0.3] }\nconfig:\n  model:\n    frequencyFilter: null"),
    ).toThrow(/model\.frequencyFilter\.alpha is searched, but config: turns the filter off/);
    expect(() => loadSearchSpace("space:\n  model.frequencyFilter: { choices: [1] }")).toThrow(/not a searchable setting/);
  });

  it("a cosine trial anneals over the search's max-epochs (the winner's config keeps it); a length the space gives stays", () => {
    const space = loadSearchSpace("space:\n  train.lrSchedule: { choices: [plateau, cosine] }");
    const plan = makePlan({ name: "c", space, trials: 5, eta: 2, maxEpochs: 8, sampler: "halton", seed: 1 });
    const cosine = plan.trials.filter((t) => t.values["train.lrSchedule"] === "cosine");
    const plateau = plan.trials.filter((t) => t.values["train.lrSchedule"] === "plateau");
    expect(cosine.length).toBeGreaterThan(0);
    expect(plateau.length).toBeGreaterThan(0);
    for (const t of cosine) expect(t.config.train?.lrEpochs).toBe(8);
    for (const t of [plan.trials[0], ...plateau]) expect(t.config.train?.lrEpochs).toBeUndefined();
    const given = loadSearchSpace(
      "space:\n  train.learningRate: { choices: [0.01] }\nconfig:\n  train:\n    lrSchedule: cosine\n    lrEpochs: 5",
    );
    const pinned = makePlan({ name: "c", space: given, trials: 3, eta: 2, maxEpochs: 8, sampler: "halton", seed: 1 });
    expect(pinned.trials.map((t) => t.config.train?.lrEpochs)).toEqual([5, 5, 5]);
    const shared = loadSearchSpace("space:\n  train.learningRate: { choices: [0.01] }\nconfig:\n  train:\n    lrSchedule: cosine");
    expect(
      makePlan({ name: "c", space: shared, trials: 2, eta: 2, maxEpochs: 8, sampler: "halton", seed: 1 }).trials[0].config.train?.lrEpochs,
    ).toBe(8);
  });

  it("refuses an unknown setting, two kinds at once, a bad range and a bad shared setting, naming them", () => {
    expect(() => loadSearchSpace("space:\n  model.hiden: { choices: [1] }")).toThrow(/model\.hiden: not a searchable setting/);
    expect(() => loadSearchSpace("space:\n  model.hidden: { choices: [1], int: [1, 2] }")).toThrow(/exactly one of choices, int or float/);
    expect(() => loadSearchSpace("space:\n  model.dropout: { float: [0.5, 0.1] }")).toThrow(/low end \(0\.5\) is above its high end/);
    expect(() => loadSearchSpace("space:\n  model.dropout: { float: [0.1, 0.5] }\nconfig:\n  model:\n    hiden: 3")).toThrow(
      /unknown key "hiden"/,
    );
    const space = loadSearchSpace("space:\n  model.dropout: { float: [0.1, 2] }");
    expect(() => makePlan({ name: "t", space, trials: 4, eta: 2, maxEpochs: 4, sampler: "random", seed: 1 })).toThrow(
      /invalid config.*dropout/,
    );
  });

  it("rungs: each keeps 1/eta of the trials and trains eta times longer, to max-epochs on the last", () => {
    expect(rungSchedule(9, 3, 27)).toEqual([
      { rung: 0, epochs: 3, promote: 3 },
      { rung: 1, epochs: 9, promote: 1 },
      { rung: 2, epochs: 27, promote: 0 },
    ]);
    expect(rungSchedule(5, 2, 12, 2)).toEqual([
      { rung: 0, epochs: 6, promote: 2 },
      { rung: 1, epochs: 12, promote: 0 },
    ]);
    expect(rungSchedule(27, 3, 4).map((r) => r.epochs)).toEqual([1, 2, 3, 4]);
  });

  it("the later rungs' minutes at the first rung's pace: each rung's promoted trials and the default, slots at a time", () => {
    const plan = makePlan({ name: "b", space: loadSearchSpace(undefined), trials: 9, eta: 3, maxEpochs: 27, sampler: "halton", seed: 1 });
    // rung 1: 3 promoted + the default, 2 at a time, epochs 3 → 9; rung 2: 1 + the default together, 9 → 27
    expect(laterRungsMinutes(plan.rungs, { secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 0 }, 2)).toBe(
      (2 * 6 * 60 + 1 * 18 * 60) / 60,
    );
    expect(laterRungsMinutes(plan.rungs, { secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 0 }, 1)).toBe(
      (4 * 6 * 60 + 2 * 18 * 60) / 60,
    );
    // a rung takes at least its slowest job: rung 2's two trials side by side, one at 120 s an epoch (18 of them)
    expect(laterRungsMinutes(plan.rungs, { secondsPerEpoch: 60, slowestSecondsPerEpoch: 120, secondsPerJob: 0 }, 2)).toBe(
      (2 * 6 * 60 + 18 * 120) / 60,
    );
    // each job's start (data, test, store) counts once a job: 2 rounds on rung 1, 1 on rung 2
    expect(laterRungsMinutes(plan.rungs, { secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 30 }, 2)).toBe(
      (2 * (6 * 60 + 30) + (18 * 60 + 30)) / 60,
    );
    // after rung 1: rung 2 alone
    expect(laterRungsMinutes(plan.rungs, { secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 0 }, 2, 1)).toBe(18);
  });

  it("fitting the later rungs to the budget lowers the last rung to the most that fits, the rungs between respaced", () => {
    const rungs = rungSchedule(9, 3, 27); // epochs 3, 9, 27; at 60 s an epoch, 2 at a time: 2·6 + 1·18 = 30 min
    const pace = { secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 0 };
    expect(fitRungs(rungs, pace, 2, 30)).toEqual({ rungs, fits: true });
    const fitted = fitRungs(rungs, pace, 2, 20);
    expect(fitted.fits).toBe(true);
    // top 18: 3 · 6^(1/2) ≈ 7.3 → 7; 2·4 + 1·11 = 19 min ≤ 20, while top 19 (epoch 8 between) needs 2·5 + 11 = 21
    expect(fitted.rungs.map((r) => r.epochs)).toEqual([3, 7, 18]);
    expect(fitted.rungs.map((r) => r.promote)).toEqual([3, 1, 0]);
    expect(laterRungsMinutes(fitted.rungs, pace, 2)).toBeLessThanOrEqual(20);
    expect(
      laterRungsMinutes(
        rungs.map((r, i) => ({ ...r, epochs: [3, 8, 19][i] })),
        pace,
        2,
      ),
    ).toBeGreaterThan(20);
    // nothing fits: the shortest schedule, one epoch more a rung, said not to fit
    expect(fitRungs(rungs, { secondsPerEpoch: 600, slowestSecondsPerEpoch: 600, secondsPerJob: 0 }, 2, 10)).toEqual({
      rungs: rungs.map((r, i) => ({ ...r, epochs: 3 + i })),
      fits: false,
    });
    expect(fitRungs([{ rung: 0, epochs: 5, promote: 0 }], pace, 1, 1).fits).toBe(true);
  });

  it("refitting after a later rung keeps the rungs trained, lowers the rest or gives back what an earlier fit took", () => {
    const asked = rungSchedule(27, 3, 27); // epochs 1, 3, 9, 27
    const lowered = asked.map((r, i) => ({ ...r, epochs: [1, 2, 6, 14][i] }));
    const pace = { secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 0 };
    // after rung 1 (at epoch 2): rung 2 (3 + the default, 2 at a time) and rung 3 (1 + the default) at 60 s an epoch
    const need = (epochs: number[]) =>
      laterRungsMinutes(
        asked.map((r, i) => ({ ...r, epochs: epochs[i] })),
        pace,
        2,
        1,
      );
    expect(need([1, 2, 6, 14])).toBe(2 * 4 + 8);
    // they fit and nothing more was asked: kept as they are (the same object: no rewrite)
    expect(fitRungs(lowered, pace, 2, 16, { done: 1, asked: 14 }).rungs).toBe(lowered);
    // with 27 asked, respaced from rung 1's epoch 2 a later last rung fits the same 16 minutes: 2 · 7.5^(1/2) ≈ 5, 15
    expect(fitRungs(lowered, pace, 2, 16, { done: 1, asked: 27 }).rungs.map((r) => r.epochs)).toEqual([1, 2, 5, 15]);
    expect(need([1, 2, 5, 15])).toBe(16);
    // more time: the last rung back up to 27 asked at most, the rungs after rung 1 respaced from its epoch 2
    const raised = fitRungs(lowered, pace, 2, 60, { done: 1, asked: 27 });
    expect(raised.rungs.map((r) => r.epochs)).toEqual([1, 2, 7, 27]); // 2 · (27/2)^(1/2) ≈ 7.3
    expect(raised.rungs.map((r) => r.promote)).toEqual(lowered.map((r) => r.promote));
    expect(need([1, 2, 7, 27])).toBeLessThanOrEqual(60);
    // less time: lowered again, the trained rungs untouched
    const less = fitRungs(lowered, pace, 2, 10, { done: 1, asked: 27 });
    expect(less.fits).toBe(true);
    expect(less.rungs.slice(0, 2)).toEqual(lowered.slice(0, 2));
    expect(need(less.rungs.map((r) => r.epochs))).toBeLessThanOrEqual(10);
    expect(need([1, 2, less.rungs[2].epochs, less.rungs[3].epochs + 1])).toBeGreaterThan(10);
    // after the last rung but one, only the last rung moves; after the last, nothing
    expect(fitRungs(lowered, pace, 2, 5, { done: 2, asked: 27 }).rungs.map((r) => r.epochs)).toEqual([1, 2, 6, 11]);
    expect(fitRungs(lowered, pace, 2, 0, { done: 3, asked: 27 })).toEqual({ rungs: lowered, fits: true });
  });

  it("a rung's pace: the trainer's epoch seconds, and the rest of each job's time once a job", () => {
    const result = (seconds: number, epochSeconds?: number): TrialResult => ({
      trial: "t01",
      rung: 0,
      epochs: 3,
      status: "ok",
      seconds,
      epochSeconds,
    });
    // 3 epochs of 50 s in a 180 s job: 30 s besides; 3 epochs of 70 s in 240 s: 30 s besides
    expect(rungPace([result(180, 50), result(240, 70), undefined, { ...result(999, 1), status: "failed" }], 0)).toEqual({
      secondsPerEpoch: 60,
      slowestSecondsPerEpoch: 70,
      secondsPerJob: 30,
    });
    expect(rungPace([result(180)], 0)).toEqual({ secondsPerEpoch: 60, slowestSecondsPerEpoch: 60, secondsPerJob: 0 });
    expect(rungPace([undefined], 0)).toBeUndefined();
    // a later rung's job trains from the rung before's epochs: epochs 1 → 3 of 50 s in a 130 s job
    expect(rungPace([result(130, 50)], 1)).toEqual({ secondsPerEpoch: 50, slowestSecondsPerEpoch: 50, secondsPerJob: 30 });
    // stopped early (patience) after 2 of 3 epochs: its missing epoch is not job time
    expect(rungPace([{ ...result(130, 50), epochsTrained: 2 }], 0)).toEqual({
      secondsPerEpoch: 50,
      slowestSecondsPerEpoch: 50,
      secondsPerJob: 30,
    });
  });

  it("the local search refits the later rungs to the budget after each rung at the pace of the trials going on, and says so", async () => {
    const dir = tempDir();
    const store = new LocalTuneStore(join(dir, "store"));
    const work = join(dir, "work");
    mkdirSync(work, { recursive: true });
    const space = loadSearchSpace("space:\n  train.learningRate: { choices: [0.001, 0.01] }");
    const ok = okResult(makePlan({ name: "p", space, trials: 4, eta: 2, maxEpochs: 4, sampler: "halton", seed: 3 }));
    // a trial's seconds an epoch on a rung; the clock moves by each job's time over the two slots
    const run = async (name: string, budgetMinutes: number, pace: (trial: string, rung: number) => number) => {
      const log = memoryLogger();
      let clock = 0;
      const report = await tuneLocal({
        ...{ name, store, work, log, space, trials: 4, eta: 2, maxEpochs: 4, sampler: "halton", seed: 3 },
        ...{ parallel: 2, cores: 2, budgetMinutes, now: () => clock },
        launch: async (job) => {
          const stored = (await getJson<TunePlan>(store, entryNames.plan(name), job.work))!; // the trial's own folder, as a trial job reads it
          const epochs = stored.rungs[job.rung].epochs;
          const from = job.rung > 0 ? stored.rungs[job.rung - 1].epochs : 0;
          const epochSeconds = pace(job.trial, job.rung);
          clock += (epochSeconds * (epochs - from) * 1000) / 2;
          const result = { ...ok(job.trial, job.rung, 0.01 + Number(job.trial.slice(1)) / 100), epochs, epochSeconds };
          await putJson(store, entryNames.result(name, job.trial, job.rung), { ...result, seconds: epochSeconds * (epochs - from) }, work);
        },
      });
      const warned = log.warnings.filter((w) => /the later rungs need about/.test(w));
      return { warned, epochs: report.rungs.map((r) => r.epochs), best: report.best?.epochs, reportWarnings: report.warnings };
    };
    const budgetSaid = (warnings: string[]) => warnings.filter((w) => /the budget set the rungs/.test(w));
    // rungs to epochs 1, 2, 4; at 10 min an epoch rung 0 (4 trials, 2 at a time) takes 20 of the 54 minutes; rung 1
    // (2 promoted + the default, 1 → 2) needs 20, rung 2 (1 + the default together, 2 → 4) 20: 40 > 34; to epoch 3,
    // 30, within 90 % of the 34 left (the fit's margin for a machine's drifting speed)
    const slow = await run("slow", 54, () => 600);
    expect(slow.warned).toEqual([
      expect.stringMatching(
        /^at rung 0's pace of the trials going on \(600 s an epoch a trial, 0 s a job besides\) the later rungs need about 40 min and the budget leaves 34: they now train to epochs 2, 3 \(not 2, 4\)/,
      ),
    ]);
    // (after rung 1, 19 minutes left: epoch 3 still the most that fits, no change)
    expect(slow.epochs).toEqual([1, 2, 3]);
    expect(slow.best).toBe(3);
    expect(budgetSaid(slow.reportWarnings)).toEqual([
      expect.stringMatching(/set the rungs to epochs 1, 2, 3 \(1, 2, 4 asked\) at the pace of the trials going on after rung 0, 600 s/),
    ]);
    // 31 minutes left: epochs 1, 2, 3 need 30, over 90 % of them
    const tight = await run("tight", 51, () => 600);
    expect(tight.warned).toEqual([expect.stringMatching(/need about 40 min and the budget leaves 31: even epochs 2, 3 do not fit/)]);
    // at 20 min an epoch even 1, 2, 3 needs 60 min: the shortest schedule, and the warning that the last rung stops early
    const slower = await run("slower", 54, () => 1200);
    expect(slower.warned).toEqual([expect.stringMatching(/even epochs 2, 3 do not fit/)]);
    expect(slower.epochs).toEqual([1, 2, 3]);
    // rung 1 overran the budget, so rung 2 never started: the winner is rung 1's best, said so (not a failed search)
    expect(slower.best).toBe(2);
    expect(slower.reportWarnings).toContainEqual(expect.stringMatching(/no trial finished rung 2 .*the winner is rung 1's best/));
    // the pace of the trials going on (t02, t03 and the default t00, at 60 s an epoch): a slow trial left behind
    // (t01, 3000 s an epoch) does not shrink the rungs
    const uneven = await run("uneven", 54, (trial) => (trial === "t01" ? 3000 : 60));
    expect(uneven.epochs).toEqual([1, 2, 4]);
    expect(uneven.warned).toEqual([]);
    const fast = await run("fast", 54, () => 60);
    expect(fast.warned).toEqual([]);
    expect(fast.epochs).toEqual([1, 2, 4]);
    expect(budgetSaid(fast.reportWarnings)).toEqual([]);
    // fast on rung 0 (2 min), slow from rung 1 (15 min): after rung 1, 13 minutes left, rung 2 to epoch 4 needs 20
    const slowing = await run("slowing", 30, (_, rung) => (rung === 0 ? 60 : 600));
    expect(slowing.warned).toEqual([
      expect.stringMatching(/^at rung 1's pace .* need about 20 min and the budget leaves 13: they now train to epochs 3 \(not 4\)/),
    ]);
    expect(slowing.epochs).toEqual([1, 2, 3]);
    expect(budgetSaid(slowing.reportWarnings)).toEqual([expect.stringMatching(/after rung 1, 600 s an epoch/)]);
    // slow on rung 0 (lowered to 1, 2, 3 as above), fast from rung 1: the last rung gets its epoch 4 back
    const quickening = await run("quickening", 54, (_, rung) => (rung === 0 ? 600 : 60));
    expect(quickening.warned).toEqual([
      expect.stringMatching(/^at rung 0's pace .*now train to epochs 2, 3 \(not 2, 4\)/),
      expect.stringMatching(/^at rung 1's pace .*now train to epochs 4 \(not 3\)/),
    ]);
    expect(quickening.epochs).toEqual([1, 2, 4]);
    expect(quickening.best).toBe(4);
    expect(budgetSaid(quickening.reportWarnings)).toEqual([]); // the rungs as asked: nothing to report
  });

  it("local slots: --parallel within the cores, a trial with W workers counting W", () => {
    expect(localSlots(2, undefined, 2)).toEqual({ slots: 2, workers: 0 });
    expect(localSlots(2, undefined, 8)).toEqual({ slots: 2, workers: 4 });
    expect(localSlots(4, 2, 4)).toEqual({ slots: 2, workers: 2 });
  });
});

describe("tune-model: select", () => {
  const dir = tempDir();
  const space = loadSearchSpace("space:\n  train.learningRate: { choices: [0.001, 0.01] }");
  const plan = makePlan({ name: "s", space, trials: 6, eta: 2, maxEpochs: 4, rungs: 2, sampler: "halton", seed: 3 });
  const ok = okResult(plan);

  it("promotes the best by the objective, skips failed ones, carries the default as the reference", () => {
    const results = new Map<string, TrialResult | undefined>([
      ["t00", ok("t00", 0, 0.01)],
      ["t01", ok("t01", 0, 0.05)],
      ["t02", { ...ok("t02", 0, 0.9), status: "failed", metric: undefined }],
      ["t03", undefined],
      ["t04", ok("t04", 0, 0.03)],
      ["t05", ok("t05", 0, 0.02)],
    ]);
    expect(promote(plan, results, 2)).toEqual({ trials: ["t00", "t01", "t04"], promoted: ["t01", "t04"], reference: "t00" });
    results.set("t00", ok("t00", 0, 0.06));
    expect(promote(plan, results, 2)).toEqual({ trials: ["t00", "t01"], promoted: ["t00", "t01"], reference: undefined });
  });

  it("gathers two rungs from the store: the winner by validation (not test), a crash recorded, the reports", async () => {
    const store = new LocalTuneStore(join(dir, "store"));
    const work = join(dir, "work");
    mkdirSync(work, { recursive: true });
    const c = { name: "s", store, work, log: silentLogger };
    await putJson(store, entryNames.plan("s"), plan, work);
    const metrics = [0.02, 0.05, 0.04, 0.01, 0.03];
    for (const [i, m] of metrics.entries()) await putJson(store, entryNames.result("s", `t0${i}`, 0), ok(`t0${i}`, 0, m), work);
    const first = await selectRung({ ...c, rung: 0 });
    expect(first.done).toBe(false);
    expect(first.matrix).toEqual({ include: ["t00", "t01", "t02", "t04"].map((trial) => ({ trial, rung: 1 })) });
    expect(first.warnings).toEqual(["trial t05 stored no result on rung 0: it crashed or did not run"]);
    expect(first.trials.find((t) => t.id === "t05")!.rungs[0].status).toBe("missing");
    // on rung 1, t02 has the best validation and t01 the best test figure: t02 wins
    await putJson(store, entryNames.result("s", "t00", 1), ok("t00", 1, 0.03), work);
    await putJson(
      store,
      entryNames.result("s", "t01", 1),
      { ...ok("t01", 1, 0.06), test: { ndcg10: 0.9, hr10: 0, maskedNdcg10: 0.9, maskedHr10: 0 } },
      work,
    );
    await putJson(store, entryNames.result("s", "t02", 1), ok("t02", 1, 0.07), work);
    await putJson(
      store,
      entryNames.result("s", "t04", 1),
      { ...ok("t04", 1, 0), status: "failed", metric: undefined, error: "diverged" },
      work,
    );
    const last = await selectRung({ ...c, rung: 1 });
    expect(last.done).toBe(true);
    expect(last.best).toMatchObject({ trial: "t02", metric: 0.07, epochs: 4 });
    expect(last.default).toMatchObject({ trial: "t00", metric: 0.03, epochs: 4 });
    expect(last.gainOverDefault).toBeCloseTo(0.07 / 0.03 - 1, 10);
    expect(last.best!.config).toMatch(/learningRate: 0\.0\d+/);
    expect(last.warnings).toEqual(["trial t04 failed on rung 1: diverged"]);
    const md = tuneMarkdown(last);
    expect(md).toMatch(/Winner: \*\*t02\*\*/);
    expect(md).toMatch(/\| t04 \| learningRate=[\d.]+ \| 0\.0300 ▲ \| failed \|/);
    expect(md).toMatch(/\| t00 \(default\) \| default \| 0\.0200 ◆ \| 0\.0300 \|/);
    const html = tuneHtml(last);
    expect(html).toMatch(/<svg[^>]*role="img"/);
    expect((html.match(/r="6" fill="none"/g) ?? []).length).toBe(4);

    // the budget stopped the winner after 3 of its rung's 4 epochs: said in the report and the table
    await putJson(store, entryNames.result("s", "t02", 1), { ...ok("t02", 1, 0.07), epochsTrained: 3 }, work);
    const cut = await selectRung({ ...c, rung: 1 });
    expect(cut.best).toMatchObject({ trial: "t02", epochs: 4, epochsTrained: 3 });
    expect(cut.default!.epochsTrained).toBeUndefined();
    expect(cut.warnings[0]).toMatch(/^t02 trained 3 of rung 1's 4 epochs .*not judged at the same budget/);
    expect(tuneMarkdown(cut)).toMatch(/\| winner: t02 \| 3 of 4 \|/);
  });
});

describe("tune-model: asynchronous successive halving (ASHA)", () => {
  const space = loadSearchSpace("space:\n  train.learningRate: { choices: [0.001, 0.01] }");
  const plan = makePlan({ name: "a", space, trials: 6, eta: 2, maxEpochs: 4, rungs: 2, sampler: "halton", seed: 3 });
  const ok = okResult(plan);

  it("sends a trial on as soon as it is in the top 1/eta of its rung so far, the default as the reference, else starts a new one", () => {
    const state = ashaState(plan);
    const take = () => {
      const job = nextAshaJob(plan, state);
      if (job) startAshaJob(state, job);
      return job;
    };
    expect(take()).toEqual({ trial: "t00", rung: 0, as: "new" });
    expect(take()).toEqual({ trial: "t01", rung: 0, as: "new" });
    state.results[0].set("t01", 0.05);
    // one result: the top half of one is nobody, so a new trial
    expect(take()).toEqual({ trial: "t02", rung: 0, as: "new" });
    state.results[0].set("t02", undefined); // failed: not a result to rank
    expect(take()).toEqual({ trial: "t03", rung: 0, as: "new" });
    state.results[0].set("t00", 0.01);
    expect(take()).toEqual({ trial: "t01", rung: 1, as: "promoted" });
    expect(take()).toEqual({ trial: "t00", rung: 1, as: "reference" });
    state.results[0].set("t03", 0.09);
    state.results[0].set("t04", 0.02);
    // four results, top two: t03 and t01 (t01 already went on)
    expect(take()).toEqual({ trial: "t03", rung: 1, as: "promoted" });
    expect(take()).toEqual({ trial: "t04", rung: 0, as: "new" });
    expect(take()).toEqual({ trial: "t05", rung: 0, as: "new" });
    expect(take()).toBeUndefined();
  });

  it("runs locally without waiting for a rung to end: a slow trial still running while others go on; the winner, a crash, the report", async () => {
    const dir = tempDir();
    const store = new LocalTuneStore(join(dir, "store"));
    const work = join(dir, "work");
    mkdirSync(work, { recursive: true });
    const c = { name: "a", store, work, log: silentLogger };
    const first: Record<string, number> = { t00: 0.02, t01: 0.05, t02: 0.04, t03: 0.06, t04: 0.03 };
    const started: string[] = [];
    let release!: () => void;
    const slowMayEnd = new Promise<void>((done) => (release = done));
    let forced = false;
    const launch = async (job: { trial: string; rung: number }) => {
      // a trial job checks it was sent on to its rung: the members must be stored before it starts
      expect((await rungMembers(c, plan, job.rung)).trials).toContain(job.trial);
      started.push(`${job.trial}/${job.rung}`);
      if (job.rung === 1) release();
      if (job.trial === "t03" && job.rung === 0) {
        // the slow trial ends only once another trial has gone on to rung 1 (never, were the rungs synchronous)
        const timeout = setTimeout(() => ((forced = true), release()), 5000);
        await slowMayEnd;
        clearTimeout(timeout);
      }
      if (job.trial === "t05") return; // crashed: no result stored
      const metric = job.rung === 0 ? first[job.trial] : job.trial === "t02" ? 0.2 : first[job.trial] + 0.01;
      await putJson(store, entryNames.result("a", job.trial, job.rung), ok(job.trial, job.rung, metric), work);
    };
    const report = await tuneLocal({
      ...c,
      space,
      trials: 6,
      eta: 2,
      maxEpochs: 4,
      rungs: 2,
      sampler: "halton",
      seed: 3,
      parallel: 2,
      cores: 2,
      schedule: "asha",
      launch: (job) => launch(job),
    });
    expect(forced).toBe(false);
    expect(started.indexOf("t01/1")).toBeLessThan(started.indexOf("t04/0"));
    expect(new Set(started).size).toBe(started.length);
    expect(report.done).toBe(true);
    expect(report.matrix).toBeUndefined();
    // rung 1 holds the default and every trial that was in the top half of rung 0 when it went on
    const reached = report.trials.filter((t) => t.rung === 1).map((t) => t.id);
    expect(reached).toContain("t00");
    expect(reached).toContain("t01");
    expect(reached).toContain("t03");
    const best = Math.max(...report.trials.filter((t) => t.rung === 1).map((t) => t.metric ?? -1));
    expect(report.best!.metric).toBe(best);
    expect(report.default).toMatchObject({ trial: "t00", rung: 1 });
    expect(report.trials.find((t) => t.id === "t05")!.rungs[0].status).toBe("missing");
    expect(report.warnings).toContain("trial t05 stored no result on rung 0: it crashed or did not run");
  });
});

describe("train-model's checkpoint folder: a later call trains on to a later epoch (tune-model's rungs)", () => {
  const dir = tempDir();

  it("keeps the checkpoint after the bundle is written, resumes from it to epoch 3, and the history continues the first run's", async () => {
    const csv = await syntheticCsv(dir, 300, 4);
    const config = "model:\n  hidden: 16\n  maxlen: 10\ntrain:\n  batchTokens: 512\n  negatives: 64";
    const checkpoint = join(dir, "checkpoint");
    const common = { ...csv, config, validate: false, workers: 0, checkpoint, overwrite: true, log: silentLogger };
    const first = await trainModel({ ...common, out: join(dir, "b1"), overrides: { train: { epochs: 1 } } });
    expect(first.epochs).toBe(1);
    expect(JSON.parse(readFileSync(join(checkpoint, "state.json"), "utf8")).epoch).toBe(0);
    const second = await trainModel({ ...common, out: join(dir, "b2"), overrides: { train: { epochs: 3 } }, resume: true });
    expect(second.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(second.history[0]).toEqual(first.history[0]);
    expect(JSON.parse(readFileSync(join(checkpoint, "state.json"), "utf8")).epoch).toBe(2);
  }, 60_000);
});
