import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { TunePlan } from "../shared/tune/plan.js";
import type { TuneReport } from "../shared/tune/select.js";
import type { TrialResult } from "../shared/tune/trial.js";
import { runDistAction, type ActionRun } from "./helpers/run-action.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

// The search as a workflow runs it: each job a process of its own with INPUT_* variables, in a
// folder of its own (its own runner), the entries moving through the store folder. Every job runs
// the dist bundle, as the runner does (a bundling fault, e.g. a path ncc rewrites, fails here).
const SPACE = `
space:
  train.learningRate: { choices: [0.00001, 0.01] }
config:
  model:
    hidden: 16
    maxlen: 10
  train:
    batchTokens: 512
    negatives: 128
    learningRate: 0.0003
`;

interface Entry {
  trial: string;
  rung: number;
}

describe("tune-model fanned out as GitHub runs it: plan, a matrix of trial jobs, select, the next rung", () => {
  const dir = tempDir();
  const store = join(dir, "store");
  let jobs = 0;
  const job = (inputs: Record<string, string>): Promise<ActionRun> => {
    const work = join(dir, "jobs", String(++jobs));
    mkdirSync(work, { recursive: true });
    return runDistAction("tune-model", { name: "s", ...inputs }, work);
  };
  const readEntry = <T>(storeDir: string, name: string): T => JSON.parse(readFileSync(join(storeDir, name, "entry.json"), "utf8")) as T;
  const planInputs = { mode: "plan", space: SPACE, trials: "5", eta: "2", "max-epochs": "12", rungs: "2", seed: "7" };

  /** The matrix's entries as trial jobs, two at a time; `data` per trial (a missing file makes a training fail). */
  async function runMatrix(entries: Entry[], data: (e: Entry) => string): Promise<ActionRun[]> {
    const runs: ActionRun[] = [];
    for (let i = 0; i < entries.length; i += 2) {
      const pair = entries.slice(i, i + 2);
      runs.push(
        ...(await Promise.all(
          pair.map((e) =>
            job({
              mode: "trial",
              trial: e.trial,
              rung: String(e.rung),
              data: data(e),
              store,
              "user-column": "user_id",
              "item-column": "item_id",
              "time-column": "timestamp",
              workers: "0",
            }),
          ),
        )),
      );
    }
    return runs;
  }

  it("picks the right winner on synthetic data, survives a failing and a crashed trial; the same seed gives the same plan", async () => {
    const csv = await syntheticCsv(dir, 600, 5);
    const plan = await job({ ...planInputs, store });
    expect(plan.stderr).toBe("");
    expect(plan.code).toBe(0);
    const matrix = JSON.parse(plan.outputs.matrix) as { include: Entry[] };
    expect(matrix.include.map((e) => e.trial)).toEqual(["t00", "t01", "t02", "t03", "t04"]);
    expect(plan.outputs.rungs).toBe("2");

    // the same seed and options: the same plan; another seed: other trials
    const again = await job({ ...planInputs, store: join(dir, "store-again") });
    expect(again.outputs.matrix).toBe(plan.outputs.matrix);
    const planned = readEntry<TunePlan>(store, "s-plan");
    expect(readEntry<TunePlan>(join(dir, "store-again"), "s-plan")).toEqual(planned);
    // (on a float range: two choices may fall alike under two seeds)
    const dropouts = async (seed: string) => {
      const other = join(dir, `store-seed-${seed}`);
      await job({ ...planInputs, space: "space:\n  model.dropout: { float: [0.1, 0.5] }", seed, store: other });
      return readEntry<TunePlan>(other, "s-plan").trials.map((t) => t.values["model.dropout"]);
    };
    expect(await dropouts("8")).not.toEqual(await dropouts("7"));

    const lr = (id: string) => planned.trials.find((t) => t.id === id)!.values["train.learningRate"];
    const fast = planned.trials.filter((t) => t.values["train.learningRate"] === 0.01).map((t) => t.id);
    const slow = planned.trials.filter((t) => t.values["train.learningRate"] === 0.00001).map((t) => t.id);
    expect(fast.length).toBeGreaterThanOrEqual(2);
    expect(slow.length).toBeGreaterThanOrEqual(1);
    const failing = fast[0];
    const crashed = slow[0];

    // rung 0: one job's training fails (its data is missing), one job never reports (a lost runner)
    const rung0 = matrix.include.filter((e) => e.trial !== crashed);
    const runs0 = await runMatrix(rung0, (e) => (e.trial === failing ? join(dir, "missing.csv") : csv.data));
    for (const run of runs0) expect(run.code).toBe(0);
    const failed = runs0[rung0.findIndex((e) => e.trial === failing)];
    expect(failed.outputs.status).toBe("failed");
    expect(failed.stdout).toMatch(/::warning title=recship tune-model::trial t\d+ failed: .*missing\.csv/);

    const select0 = await job({ mode: "select", rung: "0", store });
    expect(select0.code).toBe(0);
    expect(select0.outputs.done).toBe("false");
    expect(select0.stdout).toMatch(new RegExp(`trial ${crashed} stored no result on rung 0`));
    const next = JSON.parse(select0.outputs.matrix) as { include: Entry[] };
    expect(next.include.every((e) => e.rung === 1)).toBe(true);
    expect(next.include.map((e) => e.trial)).toContain("t00");
    expect(next.include.map((e) => e.trial)).not.toContain(failing);
    expect(select0.summary).toMatch(/## recship tune-model: s/);

    const runs1 = await runMatrix(next.include, () => csv.data);
    for (const run of runs1) expect(run.outputs.status).toBe("ok");
    const report = join(dir, "report.json");
    const select1 = await job({ mode: "select", rung: "1", store, report });
    expect(select1.code).toBe(0);
    expect(select1.outputs.done).toBe("true");

    // the winner: the best validation figure of the last rung's stored results, a fast-learning trial
    const results = readdirSync(store)
      .filter((n) => /^s-t\d+-r1-result$/.test(n))
      .map((n) => readEntry<TrialResult>(store, n));
    const best = results.reduce((a, b) => (b.metric! > a.metric! ? b : a));
    // each job's epoch timing (the local search's pace): within the job's whole time
    for (const result of results) expect(result.epochSeconds).toBeGreaterThan(0);
    for (const result of results) expect(result.epochSeconds! * (12 - 6)).toBeLessThan(result.seconds); // rung 1: epochs 7 to 12
    expect(select1.outputs["best-trial"]).toBe(best.trial);
    expect(lr(best.trial)).toBe(0.01);
    expect(Number(select1.outputs["best-metric"])).toBeCloseTo(best.metric!, 6);
    expect(parse(select1.outputs.config)).toEqual({
      model: { hidden: 16, maxlen: 10 },
      train: { batchTokens: 512, negatives: 128, learningRate: 0.01 },
    });

    const r = JSON.parse(readFileSync(report, "utf8")) as TuneReport;
    expect(r.default?.trial).toBe("t00");
    expect(r.default?.epochs).toBe(12);
    expect(Number(select1.outputs["default-metric"])).toBeLessThan(Number(select1.outputs["best-metric"]));
    expect(r.best?.test?.ndcg10).toBeGreaterThan(0);
    expect(r.trials.find((t) => t.id === failing)!.rungs[0]).toMatchObject({ status: "failed" });
    expect(r.trials.find((t) => t.id === crashed)!.rungs[0]).toMatchObject({ status: "missing" });
    expect(select1.summary).toMatch(new RegExp(`Winner: \\*\\*${best.trial}\\*\\*`));
  }, 240_000);

  it("a trial job outside the plan fails with what to do, not a stack trace", async () => {
    const run = await job({ mode: "trial", trial: "t99", rung: "0", data: "x.csv", store });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/::error title=recship::the search "s" has no trial "t99".*Fix: take trial and rung from the matrix/);
  });
});
